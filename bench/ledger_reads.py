"""How long planning's reads of a big ledger take: `Ledger.states()` and `Ledger.views()` on a
ledger of 100,000 occurrences (the test suite checks what they return, never how fast).

    python bench/ledger_reads.py [--rows 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bot.core.clock import SystemClock
from bot.core.states import State
from bot.storage.ledger import Ledger


def fill(path: Path, rows: int) -> None:
    states = list(State)
    with Ledger.open(path, SystemClock()):
        pass
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO occurrences (key, post_id, planned_at, state, created_at, updated_at) "
        "VALUES (?, ?, ?3, ?, ?3, ?3)",
        (
            (f"p{i % 50}@{i}", f"p{i % 50}", "2030-01-01T00:00:00.000000+00:00", states[i % 5])
            for i in range(rows)
        ),
    )
    conn.execute("COMMIT")
    conn.close()


def minmax(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.sqlite3"
        fill(path, args.rows)
        with Ledger.open(path, SystemClock()) as ledger:
            for name in ("states", "views"):
                read = getattr(ledger, name)
                times = []
                for _ in range(args.rounds):
                    began = time.perf_counter()
                    found = read()
                    times.append(time.perf_counter() - began)
                median, low, high = (t * 1000 for t in (statistics.median(times), *minmax(times)))
                print(
                    f"{name}() on {len(found):,} rows: median {median:.1f} ms "
                    f"(min {low:.1f}, max {high:.1f}, {args.rounds} rounds)"
                )


if __name__ == "__main__":
    main()
