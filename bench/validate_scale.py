"""`campaign-bot validate --offline` on generated campaigns of 1,000, 10,000 and 100,000 posts:
wall time and peak resident memory of the validating process.

Each run is a subprocess; its own peak RSS comes from os.wait4 (the rusage of that one child,
the per-child form of getrusage(RUSAGE_CHILDREN)).

    python bench/validate_scale.py [--sizes 1000 10000 100000] [--per-file 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = ("library", "petition", "council", "volunteers", "Saturday", "closures", "Millbrook")


def write_campaign(root: Path, size: int, per_file: int) -> None:
    rng = random.Random(size)
    posts = root / "posts"
    posts.mkdir()
    start = datetime.now(UTC) + timedelta(days=1)
    for first in range(0, size, per_file):
        lines = []
        for n in range(first, min(size, first + per_file)):
            body: dict[str, object] = {
                "id": f"p{n:06}",
                "at": (start + timedelta(minutes=n)).isoformat(),
                "text": f"Post {n}: " + " ".join(rng.choice(WORDS) for _ in range(25)),
                "hashtags": ["SaveOurLibraries"],
            }
            if n % 10 == 0:
                body["thread"] = [{"text": "More on this below"}, {"text": "Sign the petition"}]
            if n % 7 == 0:
                body["cw"] = "council politics"
            lines.append(json.dumps(body))
        (posts / f"batch-{first // per_file:05}.yaml").write_text(
            "posts:\n" + "".join(f"  - {line}\n" for line in lines)
        )
    (root / "bot.yaml").write_text('timezone: "Europe/London"\nposts_dir: "posts"\n')


def measure(root: Path) -> tuple[float, int, int, str]:
    began = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(root / "bot.yaml"), "validate", "--offline"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert child.stdout is not None
    output = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - began
    return wall, usage.ru_maxrss, child.returncode, output.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--per-file", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'posts':>8} {'wall s':>8} {'peak RSS MB':>12}  exit  last line")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_campaign(root, size, args.per_file)
            wall, max_rss_kib, code, last = measure(root)
        print(f"{size:>8} {wall:>8.2f} {max_rss_kib / 1024:>12.1f}  {code:>4}  {last[:70]}")


if __name__ == "__main__":
    main()
