"""`campaign-bot rehearse` on generated campaigns, against a bare Mastodon.py loop.

The rehearsal publishes every post to its own mastodon_mock sandbox on loopback, on a virtual
clock; this measures the whole command (start-up, validation, sandbox start included) and peak
resident memory. The bare loop posts the same toots (each post, then its reply) with
`status_post` to a fresh mastodon_mock server of the same kind. Target: 10,000 posts under 60 s,
within 1.5x of the bare loop.

Both sides run the sandbox server in their own process, so each also reports its CPU seconds
(user + system, server included): on a shared machine wall-clock time follows the load, CPU time
much less so, and the CPU ratio is the fairer comparison.

    python bench/rehearse_scale.py [--sizes 1000 5000 10000] [--threads-every 10]
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

from mastodon_mock.testing import MockServer


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


def bare_loop(posts: int, threads_every: int) -> tuple[float, float]:
    """Wall and CPU seconds of plain status_post calls publishing the same toots to a sandbox."""
    with MockServer() as server:
        api = server.client("alice")
        began = time.monotonic()
        cpu_began = time.process_time()
        for n in range(posts):
            status = api.status_post(
                f"Rehearsed post {n}: the council decides on library closures soon.\n\n"
                "#SaveOurLibraries",
                visibility="public",
            )
            if threads_every and n % threads_every == 0:
                api.status_post(f"Reply to post {n}", in_reply_to_id=status["id"])
        return time.monotonic() - began, time.process_time() - cpu_began


def rehearse(posts: int, threads_every: int) -> tuple[float, float, int, int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_campaign(root, posts, threads_every)
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
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss // 1024, code, " ".join(summary) or "no summary line"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--threads-every", type=int, default=10)
    args = parser.parse_args()
    for posts in args.sizes:
        wall, cpu, rss, code, summary = rehearse(posts, args.threads_every)
        bare_wall, bare_cpu = bare_loop(posts, args.threads_every)
        print(
            f"rehearse {posts} posts: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss} MB; "
            f"bare Mastodon.py loop {bare_wall:.1f} s wall, {bare_cpu:.1f} s CPU; "
            f"ratio {wall / bare_wall:.2f} wall, {cpu / bare_cpu:.2f} CPU"
        )
        print(f"  exit code {code}; {summary}; load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
