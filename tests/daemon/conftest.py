"""Fixtures for the daemon tests: a sandbox server on 127.0.0.1, a campaign folder pointing at it,
and `campaign-bot run` started as a real subprocess whose log lines are collected.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mastodon_mock.config import DatabaseConfig, MastodonMockConfig, SeedAccount, SeedConfig
from mastodon_mock.testing import MockServer

from bot.service.rehearsal import Sandbox

REPO = Path(__file__).resolve().parents[2]
WRONG_TOKEN = "wrong-token-1b2c3d4e5f60718293a4b5c6"
# Variables that would point a subprocess at a real instance, token or config.
_OUTSIDE = ("MASTODON_ACCESS_TOKEN", "MASTODON_BASE_URL", "CAMPAIGN_BOT_CONFIG")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` every 0.1 s until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def stamp(moment: datetime) -> str:
    """A time as a post file takes it: ISO 8601 to the second, with its offset."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def soon(seconds: float) -> datetime:
    """A whole second at least `seconds` from now."""
    return (datetime.now(UTC) + timedelta(seconds=seconds + 1)).replace(microsecond=0)


def post(
    post_id: str, when: datetime | None, text: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": post_id, "text": text or f"Post {post_id} of the daemon tests"}
    if when is not None:
        body["at"] = stamp(when)
    body.update(extra)
    return body


def posts_yaml(posts: list[dict[str, Any]]) -> str:
    # JSON is YAML, and quoting every value keeps times and ids strings.
    return "posts:\n" + "".join(f"  - {json.dumps(p, ensure_ascii=False)}\n" for p in posts)


@dataclass
class Campaign:
    """A campaign folder in tmp_path whose config points at the sandbox."""

    root: Path
    box: Sandbox

    @property
    def config(self) -> Path:
        return self.root / "config" / "bot.yaml"

    @property
    def posts_dir(self) -> Path:
        return self.root / "posts"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def token(self) -> str:
        return self.box.token

    def configure(self, **settings: Any) -> None:
        body = {
            "instance": self.box.base_url,
            "timezone": "Europe/London",
            "posts_dir": "../posts",
            "data_dir": "../data",
            "catch_up": "1h",
            "request_timeout": "30s",
            **settings,
        }
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "".join(f"{key}: {json.dumps(value)}\n" for key, value in body.items()),
            encoding="utf-8",
        )

    def write(self, name: str, posts: list[dict[str, Any]]) -> Path:
        path = self.posts_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(posts_yaml(posts), encoding="utf-8")
        return path

    def env(self, token: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
        env["PYTHONUNBUFFERED"] = "1"
        if token is not None:
            env["MASTODON_ACCESS_TOKEN"] = token
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "bot", "--config", str(self.config), *args]

    def cli(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run one short command (pause, resume, health, status) to completion."""
        return subprocess.run(
            self.command(*args),
            env=self.env(token),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def states(self) -> dict[str, str]:
        """Occurrence key -> ledger state, read the way `status` would (WAL allows it live)."""
        path = self.data_dir / "ledger.sqlite3"
        if not path.exists():
            return {}
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return dict(conn.execute("SELECT key, state FROM occurrences").fetchall())

    def attempts(self) -> dict[str, int]:
        """Occurrence key -> how many times the bot began sending it."""
        path = self.data_dir / "ledger.sqlite3"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return dict(conn.execute("SELECT key, attempts FROM occurrences").fetchall())

    def times(self, key: str) -> tuple[datetime, datetime]:
        """(planned time, first attempt to send) the ledger holds for an occurrence: what the bot
        meant and what its own clock said when it began."""
        path = self.data_dir / "ledger.sqlite3"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            planned, attempted = conn.execute(
                "SELECT planned_at, first_attempt_at FROM occurrences WHERE key = ?", (key,)
            ).fetchone()
        return datetime.fromisoformat(planned), datetime.fromisoformat(attempted)

    def parts(self, key: str) -> list[tuple[int, str | None, str | None]]:
        """(index, idempotency key, status id) of each recorded part of an occurrence."""
        path = self.data_dir / "ledger.sqlite3"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT idx, idempotency_key, status_id FROM parts WHERE occurrence_key = ? "
                "ORDER BY idx",
                (key,),
            ).fetchall()
        return [(int(i), k, s) for i, k, s in rows]


def _die_with_parent() -> None:
    """Runs in the child: the kernel kills it if the test process dies first (no orphans)."""
    pr_set_pdeathsig = 1  # from <linux/prctl.h>
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class BotProcess:
    """One `campaign-bot ... run` subprocess; stdout and stderr are read line by line."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.args = args
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0, *, start: int = 0) -> re.Match[str]:
        """The first line (from line `start` on) matching the regex, waiting up to `timeout` s
        (a deadline against hanging, not a measure of speed: see bench/daemon_reactions.py)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    found = regex.search(line)
                    if found:
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"no line matching {pattern!r} within {timeout} s; output:\n"
                        + "\n".join(self.lines)
                    )
                self._changed.wait(min(left, 0.2))

    def matching(self, pattern: str) -> list[re.Match[str]]:
        regex = re.compile(pattern)
        with self._changed:
            return [m for m in (regex.search(line) for line in self.lines) if m]

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0
    ) -> tuple[int, float]:
        """Send `sig` and wait for the exit: (exit code, seconds it took). The seconds are for
        reading, not for asserting: bench/daemon_reactions.py measures them."""
        begun = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code, time.monotonic() - begun

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    """A fresh mastodon_mock server with one account and a random token, on a file database."""
    token = secrets.token_urlsafe(24)
    config = MastodonMockConfig(
        database=DatabaseConfig(path=str(tmp_path / "server.sqlite3")),
        media_storage_path=str(tmp_path / "server-media"),
        seed=SeedConfig(accounts=[SeedAccount(username="campaign", access_token=token)]),
    )
    # A request held by a `timeout` fault keeps the server busy for 30 s after the test; it
    # need not wait for that to stop.
    server = MockServer(config=config, shutdown_timeout=1.0).start()
    try:
        yield Sandbox(server, token, tmp_path)
    finally:
        server.stop()


@pytest.fixture
def campaign(tmp_path: Path, box: Sandbox) -> Campaign:
    made = Campaign(tmp_path / "campaign", box)
    made.posts_dir.mkdir(parents=True)
    made.configure()
    return made


StartBot = Callable[..., BotProcess]


@pytest.fixture
def start_bot(campaign: Campaign) -> Iterator[StartBot]:
    """Start `campaign-bot [global args] run [run args]`; every process is gone after the test,
    and the access token never appeared in what any of them printed."""
    started: list[BotProcess] = []

    def start(
        *run_args: str, token: str | None = campaign.token, global_args: tuple[str, ...] = ()
    ) -> BotProcess:
        bot = BotProcess(
            campaign.command(*global_args, "run", *run_args), campaign.env(token), campaign.root
        )
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.kill()
    for bot in started:
        assert campaign.token not in bot.output
        assert WRONG_TOKEN not in bot.output


def statuses(box: Sandbox) -> list[dict[str, Any]]:
    """Every status of the sandbox account, read back through the API, oldest first."""
    client = box.server.client(token=box.token)
    me = client.me()
    page = client.account_statuses(me["id"], limit=40)
    found: list[dict[str, Any]] = []
    while page:
        found.extend(page)
        page = client.fetch_next(page)
    return sorted(found, key=lambda s: (s["created_at"], int(s["id"])))


def plain(status: dict[str, Any]) -> str:
    return re.sub(r"<[^>]+>", "", str(status["content"]))


def by_first_words(found: list[dict[str, Any]], words: str) -> list[dict[str, Any]]:
    return [s for s in found if plain(s).startswith(words)]
