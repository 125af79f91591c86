"""`campaign-bot rehearse` on a generated 1,000-post campaign (target: under 60 s).

The rehearsal publishes every post to its own mastodon_mock sandbox on loopback, on a virtual
clock; this measures the whole command, sandbox start included, and peak resident memory.

    python bench/rehearse_scale.py [--posts 1000] [--threads-every 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def write_campaign(root: Path, posts: int, threads_every: int) -> None:
    (root / "posts").mkdir()
    start = datetime.now(UTC) + timedelta(days=1)
    lines = []
    for n in range(posts):
        body: dict[str, object] = {
            "id": f"p{n:05}",
            "at": (start + timedelta(hours=n)).isoformat(),
            "text": f"Rehearsed post {n}: the council decides on library closures soon.",
            "hashtags": ["SaveOurLibraries"],
        }
        if threads_every and n % threads_every == 0:
            body["thread"] = [{"text": f"Reply to post {n}"}]
        lines.append(json.dumps(body))
    (root / "posts" / "campaign.yaml").write_text(
        "posts:\n" + "".join(f"  - {line}\n" for line in lines)
    )
    (root / "bot.yaml").write_text(
        'timezone: "Europe/London"\nposts_dir: "posts"\ndata_dir: "data"\n'
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--threads-every", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_campaign(root, args.posts, args.threads_every)
        out = root / "rehearsal.txt"
        began = time.monotonic()
        with out.open("w") as stream:
            child = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(root / "bot.yaml"), "rehearse"],
                stdout=stream,
                stderr=subprocess.STDOUT,
            )
            _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - began
        summary = [line for line in out.read_text().splitlines() if line.startswith("Rehearsal:")]
    print(
        f"rehearse {args.posts} posts: {wall:.1f} s wall, peak RSS {usage.ru_maxrss / 1024:.0f} MB"
    )
    print(
        f"  exit code {os.waitstatus_to_exitcode(status)}; {' '.join(summary) or 'no summary line'}"
    )


if __name__ == "__main__":
    main()
