"""How late posts go out: planned second → status created on a mastodon_mock server on loopback.

Starts `campaign-bot run` as a subprocess against a sandbox server, with N posts planned one per
SPACING seconds, and compares each status's `created_at` (the server's clock, the same machine's)
with the post's planned second. Target: p99 under 250 ms.

    python bench/daemon_latency.py [--posts 40] [--spacing 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.service.rehearsal import sandbox


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between posts")
    args = parser.parse_args()

    with sandbox("Latency benchmark") as box, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "posts").mkdir()
        (root / "bot.yaml").write_text(
            f'instance: "{box.base_url}"\nposts_dir: "posts"\ndata_dir: "data"\n'
        )
        first = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
        planned = {
            f"latency-{n:03}": first + timedelta(seconds=n * args.spacing)
            for n in range(args.posts)
        }
        lines = [
            json.dumps({"id": key, "at": when.isoformat(), "text": f"Post {key}"})
            for key, when in planned.items()
        ]
        (root / "posts" / "latency.yaml").write_text(
            "posts:\n" + "".join(f"  - {line}\n" for line in lines)
        )
        env = {**os.environ, "MASTODON_ACCESS_TOKEN": box.token}
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(root / "bot.yaml"), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            last = max(planned.values())
            while datetime.now(UTC) < last + timedelta(seconds=3):
                time.sleep(0.5)
        finally:
            bot.terminate()
            bot.wait(15)

        client = box.server.client(token=box.token)
        page = client.account_statuses(client.me()["id"], limit=40)
        found: list[dict[str, Any]] = []
        while page:
            found.extend(page)
            page = client.fetch_next(page)

    late_ms = []
    for status in found:
        key = re.sub(r"<[^>]+>", "", status["content"]).split()[1]
        late_ms.append((status["created_at"] - planned[key]).total_seconds() * 1000)
    print(f"daemon latency, planned second → status created ({len(late_ms)}/{args.posts} posts)")
    if not late_ms:
        print("no post was published")
        return
    print(f"  min {min(late_ms):7.1f} ms")
    for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        print(f"  {name} {percentile(late_ms, fraction):7.1f} ms")
    print(f"  max {max(late_ms):7.1f} ms   mean {statistics.fmean(late_ms):.1f} ms")


if __name__ == "__main__":
    main()
