"""Summarise the last mutmut run (bench/mutation.sh): a score per module, then the survivors.

Reads mutmut's own result files (mutants/**/*.py.meta). The score is the share of mutants the
tests detect (killed, or stopped by a timeout); a mutant that no test reaches counts as survived.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# mutmut's exit codes (mutmut/stats.py); anything else is "suspicious".
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "type check",
    -9: "segfault",
    -11: "segfault",
}
DETECTED = {"killed", "timeout", "type check", "segfault"}
UNDETECTED = {"survived", "no tests"}


def main() -> int:
    # A copy of the repository elsewhere may be given (its mutants/ folder is read).
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    metas = sorted((root / "mutants").rglob("*.py.meta"))
    if not metas:
        print("no results: run bench/mutation.sh first", file=sys.stderr)
        return 1
    totals: Counter[str] = Counter()
    survivors: list[str] = []
    heading = ("module", "mutants", "killed", "timeout", "survived", "score")
    print("{:<36} {:>7} {:>7} {:>7} {:>8} {:>7}".format(*heading))
    for meta in metas:
        module = str(meta.relative_to(root / "mutants")).removesuffix(".meta")
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        counts = Counter(
            "not run" if code is None else STATUS.get(code, "suspicious") for code in codes.values()
        )
        survivors += [name for name, code in codes.items() if STATUS.get(code) in UNDETECTED]
        totals += counts
        print(_row(module, counts))
    print(_row("all", totals))
    if totals["not run"] or totals["suspicious"]:
        print(f"not run: {totals['not run']}, suspicious: {totals['suspicious']}")
    print(f"\n{len(survivors)} surviving mutants:")
    for name in sorted(survivors):
        print(f"  {name}")
    return 0


def _row(module: str, counts: Counter[str]) -> str:
    detected = sum(counts[s] for s in DETECTED)
    judged = detected + sum(counts[s] for s in UNDETECTED)
    score = f"{100 * detected / judged:.1f}%" if judged else "-"
    survived = sum(counts[s] for s in UNDETECTED)
    return (
        f"{module:<36} {sum(counts.values()):>7} {counts['killed']:>7} {counts['timeout']:>7} "
        f"{survived:>8} {score:>7}"
    )


if __name__ == "__main__":
    sys.exit(main())
