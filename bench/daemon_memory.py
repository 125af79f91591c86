"""The daemon's resident memory with 10,000 planned occurrences (target: under 100 MB).

Generates a campaign in the next 35 days (one-off posts plus recurring ones), starts
`campaign-bot run` against a mastodon_mock sandbox on loopback, waits until everything is
scheduled, and reads VmRSS and VmHWM (peak) from /proc/PID/status.

    python bench/daemon_memory.py [--one-off 9000] [--files 90]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.service.rehearsal import sandbox

# 24 × 35 + 5 × 35 = 1,015 occurrences in the 35-day horizon the daemon schedules.
RECURRING = [
    {"id": "hourly", "cron": "10 * * * *", "text": "Every hour"},
    *(
        {"id": f"daily-{n}", "cron": f"{n * 7} {8 + n} * * *", "text": f"Daily {n}"}
        for n in range(5)
    ),
]


def write_campaign(root: Path, one_off: int, files: int) -> None:
    rng = random.Random(10_000)
    posts = root / "posts"
    posts.mkdir()
    start = datetime.now(UTC) + timedelta(hours=1)
    today = start.date().isoformat()
    per_file = -(-one_off // files)
    for f in range(files):
        lines = []
        for n in range(f * per_file, min(one_off, (f + 1) * per_file)):
            at = start + timedelta(seconds=rng.randrange(0, 34 * 86400))
            text = f"Post {n}: " + " ".join(
                rng.choice(("library", "petition", "council")) for _ in range(20)
            )
            lines.append(json.dumps({"id": f"p{n:06}", "at": at.isoformat(), "text": text}))
        (posts / f"batch-{f:03}.yaml").write_text("posts:\n" + "".join(f"  - {x}\n" for x in lines))
    recurring = [{**p, "from": today} for p in RECURRING]
    (posts / "recurring.yaml").write_text(
        "posts:\n" + "".join(f"  - {json.dumps(p)}\n" for p in recurring)
    )


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one-off", type=int, default=9000)
    parser.add_argument("--files", type=int, default=90)
    args = parser.parse_args()

    with sandbox("Memory benchmark") as box, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_campaign(root, args.one_off, args.files)
        (root / "bot.yaml").write_text(
            f'instance: "{box.base_url}"\ntimezone: "Europe/London"\n'
            'posts_dir: "posts"\ndata_dir: "data"\n'
        )
        env = {**os.environ, "MASTODON_ACCESS_TOKEN": box.token}
        began = time.monotonic()
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(root / "bot.yaml"), "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert bot.stdout is not None
        planned = ""
        for line in bot.stdout:
            found = re.search(r"start: (\d+) posts, (\d+) occurrences planned", line)
            if found:
                planned = found.group(0)
                break
        started = time.monotonic() - began
        threading.Thread(target=lambda: [None for _ in bot.stdout or ()], daemon=True).start()
        time.sleep(20)  # a heartbeat and a few folder watches
        status = proc_status(bot.pid)
        bot.terminate()
        code = bot.wait(15)

    print(f"daemon memory: {planned} (ready after {started:.1f} s)")
    print(f"  VmRSS {status['VmRSS']:>12}   (resident now)")
    print(f"  VmHWM {status['VmHWM']:>12}   (peak resident, includes loading and planning)")
    print(f"  exit code after SIGTERM: {code}")


if __name__ == "__main__":
    main()
