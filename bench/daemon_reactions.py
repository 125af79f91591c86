"""How fast the running bot reacts: to SIGTERM and SIGINT when idle and while a request hangs, to
an edited post file, to SIGHUP; and how long `campaign-bot health` takes.

The daemon tests check that each of these happens (and in what order), not how fast: a loaded
machine is slower, not wrong. The numbers are measured here, against a mastodon_mock sandbox on
loopback, with `campaign-bot run` as a subprocess whose log lines are timed as they arrive.

    python bench/daemon_reactions.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.service.rehearsal import Sandbox, sandbox

PHASE = random.Random(2612)  # when to edit in the watch cycle, seeded to repeat


def stamp(seconds: float) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.replace(microsecond=0).isoformat()


def write_posts(path: Path, posts: dict[str, str]) -> None:
    lines = [json.dumps({"id": key, "at": at, "text": f"Post {key}"}) for key, at in posts.items()]
    path.write_text("posts:\n" + "".join(f"  - {line}\n" for line in lines), encoding="utf-8")


class Bot:
    """`campaign-bot run` with each output line put on a queue with the time it arrived."""

    def __init__(self, root: Path, box: Sandbox) -> None:
        env = {**os.environ, "MASTODON_ACCESS_TOKEN": box.token, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(root / "bot.yaml"), "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line))

    def wait_for(self, pattern: str, timeout: float = 60.0) -> float:
        """The time the first line matching `pattern` arrived."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            at, line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if regex.search(line):
                return at

    def stop(self, sig: signal.Signals) -> float:
        """Seconds from sending `sig` to the process's exit."""
        begun = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(60)
        return time.monotonic() - begun

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def campaign(box: Sandbox, root: Path) -> Path:
    (root / "posts").mkdir(parents=True)
    (root / "bot.yaml").write_text(
        f'instance: "{box.base_url}"\nposts_dir: "posts"\ndata_dir: "data"\n'
        'request_timeout: "30s"\n'
    )
    path = root / "posts" / "a.yaml"
    write_posts(path, {"far": stamp(3600)})
    return path


def measure(rounds: int, what: Callable[[Sandbox, Path], float]) -> list[float]:
    found = []
    for _ in range(rounds):
        with sandbox("Reactions benchmark") as box, tempfile.TemporaryDirectory() as tmp:
            found.append(what(box, Path(tmp)))
    return found


def idle_stop(sig: signal.Signals) -> Callable[[Sandbox, Path], float]:
    def run(box: Sandbox, root: Path) -> float:
        campaign(box, root)
        bot = Bot(root, box)
        try:
            bot.wait_for(r"start: 1 post")
            return bot.stop(sig)
        finally:
            bot.kill()

    return run


def sending(ledger: Path) -> bool:
    """Whether the ledger records the intent of a part (its request is about to go out)."""
    if not ledger.exists():
        return False
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=1) as db:
            return bool(db.execute("SELECT count(*) FROM parts").fetchone()[0])
    except sqlite3.Error:  # created but not migrated yet
        return False


def hung_stop(box: Sandbox, root: Path) -> float:
    path = campaign(box, root)
    box.server.fault(
        path="/api/v1/statuses", methods=["POST"], type="timeout", delay_ms=30_000, count=1
    )
    bot = Bot(root, box)
    try:
        bot.wait_for(r"start: 1 post")
        write_posts(path, {"far": stamp(3600), "hung": stamp(3)})
        bot.wait_for(r"post files changed")
        deadline = time.monotonic() + 60
        while not sending(root / "data" / "ledger.sqlite3"):
            if time.monotonic() > deadline:
                raise SystemExit("the send never began")
            time.sleep(0.05)
        time.sleep(0.3)  # the request is now held by the server
        return bot.stop(signal.SIGTERM)
    finally:
        bot.kill()


def edit_to_reload(box: Sandbox, root: Path) -> float:
    path = campaign(box, root)
    bot = Bot(root, box)
    try:
        bot.wait_for(r"start: 1 post")
        # The watch looks every 2 s from the start on: edit at any moment of that cycle.
        time.sleep(PHASE.uniform(0.0, 2.0))
        edited = time.monotonic()
        write_posts(path, {"far": stamp(3600), "added": stamp(3000)})
        return bot.wait_for(r"post files changed: 2 posts") - edited
    finally:
        bot.kill()


def sighup_to_reload(box: Sandbox, root: Path) -> float:
    campaign(box, root)
    bot = Bot(root, box)
    try:
        bot.wait_for(r"start: 1 post")
        sent = time.monotonic()
        bot.proc.send_signal(signal.SIGHUP)
        return bot.wait_for(r"SIGHUP: 1 post") - sent
    finally:
        bot.kill()


def health(box: Sandbox, root: Path) -> float:
    campaign(box, root)
    bot = Bot(root, box)
    try:
        bot.wait_for(r"start: 1 post")
        begun = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(root / "bot.yaml"), "health"],
            capture_output=True,
            check=True,
        )
        return time.monotonic() - begun
    finally:
        bot.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases: list[tuple[str, Callable[[Sandbox, Path], float]]] = [
        ("SIGTERM → exit, idle", idle_stop(signal.SIGTERM)),
        ("SIGINT → exit, idle", idle_stop(signal.SIGINT)),
        ("SIGTERM → exit, a request hanging", hung_stop),
        ("post file edited → reloaded", edit_to_reload),
        ("SIGHUP → reloaded", sighup_to_reload),
        ("`health` beside a running bot", health),
    ]
    print(f"daemon reactions, {args.rounds} rounds each (seconds)")
    for name, what in cases:
        found = measure(args.rounds, what)
        rounds = ", ".join(f"{s:.3f}" for s in found)
        print(f"  {name:<36} median {statistics.median(found):7.3f}   ({rounds})")


if __name__ == "__main__":
    main()
