"""A real mastodon_mock server on 127.0.0.1 for each test, and a campaign that publishes to it.

The bot runs in this process (with a FakeClock, so backoffs and rate-limit waits take no real
time) or as a `python -m bot` subprocess (with the real clock). Results are always read back
from the server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from mastodon_mock.config import DatabaseConfig, MastodonMockConfig, StreamingConfig
from mastodon_mock.testing import MockServer
from mastodon_mock.testing.seed import DEFAULT_TEST_SEED

from bot.cli import publishing_commands
from bot.config.settings import BASE_URL_ENV, CONFIG_ENV, TOKEN_ENV, load_settings
from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, Part
from bot.mastodon.client import MastodonClient
from bot.service.app import App
from bot.storage.ledger import Ledger
from bot.storage.records import OccurrenceRecord

REPO = Path(__file__).resolve().parents[2]
PNG = REPO / "posts" / "media" / "library-shelf.png"
# The mock's seeded account `alice` and its token (a fixture of the mock, not a secret).
TOKEN = "alice_token"
STATUSES = "/api/v1/statuses"

BASE_CONFIG: dict[str, Any] = {
    "timezone": "UTC",
    "posts_dir": "../posts",
    "data_dir": "../data",
    "catch_up": "1d",
    # Short, so hung responses cost seconds, not minutes.
    "request_timeout": "2s",
    "defaults": {"language": "en", "visibility": "public"},
}


class Crash(BaseException):
    """The process dies at this point: nothing after it runs, no handler sees it."""


class Tap(requests.Session):
    """A session that lets a test act right after the instance answered the n-th status POST
    (counted from 1): lose the answer, inject a fault, or let the process die."""

    def __init__(self) -> None:
        super().__init__()
        self.status_posts = 0
        self.after: dict[int, Callable[[], object]] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        if request.method == "POST" and urlsplit(request.url).path == STATUSES:
            self.status_posts += 1
            action = self.after.pop(self.status_posts, None)
            if action is not None:
                action()
        return response


def lose_answer() -> None:
    """The request was carried out, but its answer never reaches the bot."""
    raise requests.ConnectionError("connection reset by peer (the answer was lost)")


@dataclass
class TappedApp(App):
    """The real App, with the test's HTTP session under the Mastodon client."""

    session: requests.Session | None = None

    def client(self, account: str | None = None) -> MastodonClient:
        if self.session is None:
            return super().client(account)
        instance = self.instance_of(account)
        assert instance
        return MastodonClient(
            instance,
            self.token(account),
            clock=self.clock,
            timeout=self.settings.request_timeout,
            session=self.session,
        )


@dataclass
class Site:
    """A campaign folder in tmp_path whose config points at the mock server."""

    root: Path
    server: MockServer
    clock: FakeClock
    session: requests.Session | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.root / "config" / "bot.yaml"

    @property
    def posts_dir(self) -> Path:
        return self.root / "posts"

    @property
    def ledger_path(self) -> Path:
        return self.root / "data" / "ledger.sqlite3"

    @property
    def env(self) -> dict[str, str]:
        # The example campaign's partner account posts as the mock's bob.
        return {TOKEN_ENV: TOKEN, f"{TOKEN_ENV}_READERS_UNION": "bob_token"}

    # --- writing the campaign ---------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Write config/bot.yaml: the base settings, these changes, and the mock as instance."""
        self.config = {**BASE_CONFIG, **self.config, **changes, "instance": self.server.base_url}
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, allow_unicode=True), "utf-8")

    def write_posts(self, name: str, posts: list[dict[str, Any]], **file: Any) -> None:
        """Write one post file; media paths are relative to posts/ (the shelf PNG is there)."""
        media = self.posts_dir / "media"
        media.mkdir(parents=True, exist_ok=True)
        if not (media / PNG.name).exists():
            shutil.copy(PNG, media / PNG.name)
        body = yaml.safe_dump({**file, "posts": posts}, allow_unicode=True, sort_keys=False)
        (self.posts_dir / name).write_text(body, "utf-8")

    def copy_example(self, **changes: Any) -> None:
        """The project's example campaign (posts/ and config/bot.yaml) pointed at the mock."""
        shutil.copytree(REPO / "posts", self.posts_dir)
        example = yaml.safe_load((REPO / "config" / "bot.yaml").read_text("utf-8"))
        self.config = example
        self.configure(**changes)

    def at(self, delta: timedelta = timedelta(0), clock: FakeClock | None = None) -> str:
        """A campaign time (UTC, as the config's zone) this far from the clock's now."""
        moment = (clock or self.clock).now() + delta
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")

    # --- running the bot --------------------------------------------------------------------

    def app(self) -> TappedApp:
        return TappedApp(
            load_settings(self.config_path, self.env),
            clock=self.clock,
            env=self.env,
            session=self.session,
        )

    def run_once(self) -> int:
        """`campaign-bot run --once` in this process, on the test's clock."""
        args = argparse.Namespace(app=self.app(), once=True, dry_run=False)
        return publishing_commands.run_run(args)

    def publish(self, post_id: str) -> int:
        """`campaign-bot publish ID` in this process, on the test's clock."""
        return publishing_commands.run_publish(argparse.Namespace(app=self.app(), post_id=post_id))

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {BASE_URL_ENV, CONFIG_ENV}}
        return {**env, **self.env, CONFIG_ENV: str(self.config_path)}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "bot", *args]

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`campaign-bot ARGS` as a subprocess, on the real clock."""
        return subprocess.run(
            self.command(*args),
            env=self.cli_env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # --- reading results --------------------------------------------------------------------

    def ledger(self) -> Ledger:
        return Ledger.open(self.ledger_path, self.clock)

    def records(self) -> dict[str, OccurrenceRecord]:
        with self.ledger() as ledger:
            return {r.key: r for r in ledger.all()}

    def statuses(self) -> list[Any]:
        """Every status of alice on the server, oldest first, read through the mock's API."""
        client = self.server.client("alice")
        me = client.account_verify_credentials()
        page = client.account_statuses(me["id"], limit=40)
        found = list(client.fetch_remaining(page)) if page else []
        return sorted(found, key=lambda s: int(s["id"]))

    def source_text(self, status_id: str) -> str:
        """The exact text the server stored for a status (GET /api/v1/statuses/:id/source)."""
        return str(self.server.client("alice").status_source(status_id)["text"])

    def forget_idempotency_keys(self) -> int:
        """Make the server forget every Idempotency-Key it has seen, as Mastodon does after an
        hour; returns how many it forgot."""
        path = self.server.config.database.path
        with sqlite3.connect(path) as db:
            return db.execute("DELETE FROM idempotency").rowcount


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MockServer]:
    """A mastodon_mock server on a free port of 127.0.0.1, its database a file in tmp_path."""
    state = tmp_path / "mock"
    state.mkdir()
    config = MastodonMockConfig(
        database=DatabaseConfig(path=str(state / "mastodon.sqlite3")),
        media_storage_path=str(state / "media"),
        seed=DEFAULT_TEST_SEED,
        streaming=StreamingConfig(enabled=False),
    )
    # A hung request keeps its server task alive for 30 s; do not wait for it at teardown.
    with MockServer(config=config, shutdown_timeout=1.0) as started:
        yield started


@pytest.fixture
def clock() -> FakeClock:
    """A clock at the real time (the server stamps posts with it), moved only by the test."""
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def site(tmp_path: Path, server: MockServer, clock: FakeClock) -> Site:
    """A campaign folder configured for the mock server (posts are written by each test)."""
    made = Site(tmp_path / "campaign", server, clock)
    made.configure()
    return made


def tags_in(text: str) -> set[str]:
    return {word[1:].lower() for word in text.split() if word.startswith("#")}


def assert_part_on_server(site: Site, status: Any, part: Part, parent: str | None) -> None:
    """The status on the server is this part, as written, under `parent`."""
    assert site.source_text(status["id"]) == part.text
    assert {t["name"] for t in status["tags"]} == tags_in(part.text)
    assert status["spoiler_text"] == (part.spoiler_text or "")
    assert status["sensitive"] is part.sensitive
    assert status["visibility"] == part.visibility
    assert status["language"] == part.language
    assert status["in_reply_to_id"] == parent
    media = status["media_attachments"]
    assert [m["description"] for m in media] == [m.alt for m in part.media]
    for attachment, wanted in zip(media, part.media, strict=True):
        focus = attachment["meta"].get("focus")
        if wanted.focus is None:
            assert focus is None
        else:
            assert (focus["x"], focus["y"]) == pytest.approx(wanted.focus)
    if part.poll is None:
        assert status["poll"] is None
    else:
        assert [o["title"] for o in status["poll"]["options"]] == list(part.poll.options)
        assert status["poll"]["multiple"] is part.poll.multiple


def assert_published_exactly_once(site: Site, posts: dict[str, CampaignPost]) -> None:
    """Every published occurrence's parts are on the server once, as written, threads in
    order; the server holds nothing else."""
    on_server = {s["id"]: s for s in site.statuses()}
    expected = 0
    for record in site.records().values():
        if str(record.state) != "published":
            continue
        post = posts[record.post_id]
        assert [p.index for p in record.parts] == [p.index for p in post.parts]
        parent = None
        for stored, part in zip(record.parts, post.parts, strict=True):
            assert stored.status_id in on_server, f"{record.key} part {part.index} not on server"
            status = on_server[stored.status_id]
            assert stored.url == status["url"]
            assert_part_on_server(site, status, part, parent)
            parent = stored.status_id
        expected += len(post.parts)
    assert len(on_server) == expected
