"""Shared fixtures: no test sees a real token, config or ledger, and campaigns are written from
strings into a temporary folder that is also the working directory."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Protocol

import pytest
from mastodon_mock.testing import MockServer

from bot.config.settings import BASE_URL_ENV, CONFIG_ENV, TOKEN_ENV, TOKEN_FILE_ENV
from bot.core.clock import FakeClock
from bot.service import logs
from bot.storage.ledger import Ledger

REPO = Path(__file__).resolve().parents[1]
# A Friday, a little before the example campaign starts, outside any daylight-saving change.
START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

DEFAULT_CONFIG = """\
timezone: Europe/London
posts_dir: ../posts
data_dir: ../data
slots: [mon-fri 12:30]
"""


# mastodon_mock issues authorization codes that name the account: this one logs in as alice.
ALICE_CODE = "mockcode_alice"


@pytest.fixture
def server() -> Iterator[MockServer]:
    """A mastodon_mock server on 127.0.0.1 with alice, bob and carol."""
    with MockServer() as started:
        yield started


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run every test in its own folder, blind to the operator's environment, with no secret
    registered by an earlier test, and the logging set-up of `main` undone afterwards."""
    for name in (CONFIG_ENV, BASE_URL_ENV, TOKEN_ENV, TOKEN_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(logs, "_SECRETS", set())
    monkeypatch.setattr(logs, "_HANDLER", logs._HANDLER)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clock() -> FakeClock:
    """A clock standing still at START until a test moves it."""
    return FakeClock(START)


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    """A real ledger file in the test's folder, on the test's clock (a module may give its own)."""
    with Ledger.open(tmp_path / "ledger.sqlite3", clock) as opened:
        yield opened


@dataclass(frozen=True)
class CampaignFiles:
    root: Path
    config: Path
    posts_dir: Path
    files: dict[str, Path]


class MakeCampaign(Protocol):
    def __call__(
        self,
        posts: Mapping[str, str | bytes] | None = None,
        *,
        config: str = DEFAULT_CONFIG,
        media: Mapping[str, bytes] | None = None,
    ) -> CampaignFiles: ...


@pytest.fixture
def make_campaign(tmp_path: Path) -> MakeCampaign:
    """Write `config/bot.yaml` and post files (dedented text, or raw bytes) under tmp_path.

    Post and media names are relative to `posts/`; the default config points there and keeps the
    data folder in tmp_path too.
    """

    def make(
        posts: Mapping[str, str | bytes] | None = None,
        *,
        config: str = DEFAULT_CONFIG,
        media: Mapping[str, bytes] | None = None,
    ) -> CampaignFiles:
        config_path = tmp_path / "config" / "bot.yaml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(textwrap.dedent(config), encoding="utf-8")
        posts_dir = tmp_path / "posts"
        posts_dir.mkdir(exist_ok=True)
        written: dict[str, Path] = {}
        for name, body in (posts or {}).items():
            path = posts_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(body, bytes):
                path.write_bytes(body)
            else:
                path.write_text(textwrap.dedent(body), encoding="utf-8")
            written[name] = path
        for name, data in (media or {}).items():
            path = posts_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return CampaignFiles(tmp_path, config_path, posts_dir, written)

    return make


@pytest.fixture
def png() -> bytes:
    """A real PNG image (the example campaign's), 6,989 bytes."""
    return (REPO / "posts" / "media" / "library-shelf.png").read_bytes()


@pytest.fixture
def machine_far_from_utc() -> Iterator[None]:
    """The machine's own time zone set to Pacific/Chatham (UTC+13:45 in its summer), so that
    code taking the machine's zone where it means UTC or the campaign's zone shows."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Chatham"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@dataclass
class AlertWebhook:
    """An alert webhook on 127.0.0.1: answers every POST with `status`, keeps headers and body."""

    url: str = ""
    status: int = 204
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.requests]


@pytest.fixture
def webhook() -> Iterator[AlertWebhook]:
    made = AlertWebhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            made.requests.append((dict(self.headers), json.loads(body)))
            self.send_response(made.status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    made.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield made
    server.shutdown()
    server.server_close()


def started_in_background(args: list[str], **options: Any) -> subprocess.Popen[str]:
    """Start a command as a script's background job (`… &`) starts it: with SIGINT ignored,
    which the child inherits. Ctrl-C and `kill -INT` must still stop a serving command."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.Popen(args, text=True, **options)
    finally:
        signal.signal(signal.SIGINT, previous)
