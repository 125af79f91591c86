"""The daemon's CPU use while idle (target: under 1% of one core).

Starts `campaign-bot run` against a mastodon_mock sandbox on loopback with posts planned far
ahead, lets it settle, then reads utime + stime from /proc/PID/stat over a window in which it only
watches the posts folder (every 2 s) and writes its heartbeat (every 15 s).

    python bench/daemon_idle_cpu.py [--seconds 60] [--posts 5] [--files 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.service.rehearsal import sandbox


def cpu_seconds(pid: int) -> float:
    # Fields 14 and 15 of /proc/PID/stat (after the parenthesised command name) are utime and
    # stime in clock ticks (proc(5)).
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--posts", type=int, default=5)
    parser.add_argument("--files", type=int, default=1)
    args = parser.parse_args()

    with sandbox("Idle CPU benchmark") as box, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "posts").mkdir()
        start = datetime.now(UTC) + timedelta(days=2)
        per_file = -(-args.posts // args.files)
        for f in range(args.files):
            lines = [
                json.dumps(
                    {
                        "id": f"p{n:06}",
                        "at": (start + timedelta(minutes=n)).isoformat(),
                        "text": f"Post {n}",
                    }
                )
                for n in range(f * per_file, min(args.posts, (f + 1) * per_file))
            ]
            (root / "posts" / f"f{f:03}.yaml").write_text(
                "posts:\n" + "".join(f"  - {x}\n" for x in lines)
            )
        (root / "bot.yaml").write_text(
            f'instance: "{box.base_url}"\nposts_dir: "posts"\ndata_dir: "data"\n'
        )
        env = {**os.environ, "MASTODON_ACCESS_TOKEN": box.token}
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(root / "bot.yaml"), "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert bot.stdout is not None
        for line in bot.stdout:
            if "occurrences planned" in line:
                break
        threading.Thread(target=lambda: [None for _ in bot.stdout or ()], daemon=True).start()
        time.sleep(5)
        used_before, wall_before = cpu_seconds(bot.pid), time.monotonic()
        time.sleep(args.seconds)
        used = cpu_seconds(bot.pid) - used_before
        wall = time.monotonic() - wall_before
        bot.terminate()
        bot.wait(15)

    print(f"daemon idle CPU over {wall:.0f} s with {args.posts} posts in {args.files} files")
    print(f"  {used:.2f} s of CPU = {100 * used / wall:.3f}% of one core")


if __name__ == "__main__":
    main()
