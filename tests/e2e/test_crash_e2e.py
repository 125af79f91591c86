"""Crash safety: `campaign-bot run --once` killed with SIGKILL at random moments, again and again,
never leaves a post missing or doubled on the server."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from .conftest import Site, assert_published_exactly_once

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED = 20261201
KILLS = 32
# Each run gets this long at most; a run that is not killed has the whole campaign to publish.
RUN_TIMEOUT = 60.0


def campaign(site: Site) -> list[dict[str, Any]]:
    """Eight due posts: four with an image, three threads of four parts, one poll."""
    posts: list[dict[str, Any]] = []
    for i in range(8):
        post: dict[str, Any] = {
            "id": f"post-{i}",
            "at": site.at(-timedelta(minutes=30 - i)),
            "text": f"Post number {i} of the campaign.",
            "hashtags": ["SaveOurLibraries"],
        }
        if i % 2 == 0:
            post["media"] = [{"file": "media/library-shelf.png", "alt": f"The shelf, view {i}"}]
        if i % 3 == 0:
            post["thread"] = [{"text": f"Reply {j} under post {i}."} for j in range(1, 4)]
        if i == 5:
            post["poll"] = {"options": ["Yes", "No"], "expires_in": "1d"}
        posts.append(post)
    return posts


def events_so_far(ledger: Path) -> int:
    """Rows in the ledger's event table (0 before the ledger exists), read without writing."""
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=1.0) as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.Error:  # created but not migrated yet
        return 0


@dataclass
class Kill:
    after_events: int | None  # None: killed at a random time, not after ledger progress
    statuses_on_server: int


def run_until_killed(site: Site, rng: random.Random) -> tuple[int | None, Kill | None]:
    """Start a run and kill it at a random moment. A quarter of the runs die at a random time
    in their start (imports, ledger migration, campaign loading, the account check), at the
    latest at their first ledger write; the others one or two ledger writes into
    publishing plus up to 20 ms (between an intent and its request, with the request in
    flight, or before its result is written). Returns the exit code if the run ended first,
    or the kill."""
    start_events = events_so_far(site.ledger_path)
    process = subprocess.Popen(
        site.command("run", "--once"),
        env=site.cli_env(),
        cwd=site.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    in_start = rng.random() < 0.25
    kill_at = started + rng.uniform(0.05, 0.6) if in_start else None
    progress = rng.randint(1, 2)
    jitter = rng.uniform(0.0, 0.02)
    while process.poll() is None:
        now = time.monotonic()
        if now > started + RUN_TIMEOUT:
            process.kill()
            raise AssertionError("a run neither finished nor was killed in time")
        written = events_so_far(site.ledger_path) - start_events
        if in_start and written > 0:
            kill_at = now
        elif kill_at is None and written >= progress:
            kill_at = now + jitter
        if kill_at is not None and now >= kill_at:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return None, Kill(None if in_start else progress, len(site.statuses()))
        time.sleep(0.002)
    return process.returncode, None


def test_sigkill_at_random_moments_never_loses_or_doubles_a_post(site: Site) -> None:
    """30+ SIGKILLs and restarts: every part of every post is on the server exactly once."""
    posts = campaign(site)
    site.write_posts("crash.yaml", posts)
    total = sum(1 + len(p.get("thread", [])) for p in posts)
    rng = random.Random(SEED)  # noqa: S311 - kill moments, not secrets
    kills: list[Kill] = []
    code: int | None = None  # the exit code of the first run that was not killed
    while code is None and len(kills) < KILLS:
        code, kill = run_until_killed(site, rng)
        if kill is not None:
            kills.append(kill)
    # A run that ended by itself must have succeeded; once the kills are done, one more run
    # finishes whatever is left.
    assert code in (None, 0)
    if code is None:
        finished = site.cli("run", "--once", timeout=RUN_TIMEOUT)
        assert finished.returncode == 0, finished.stderr

    campaign_posts = site.app().campaign(online=False).by_id()
    records = site.records()
    assert {str(r.state) for r in records.values()} == {"published"}
    assert set(records) == set(campaign_posts)
    assert_published_exactly_once(site, campaign_posts)
    assert len(site.statuses()) == total

    # The kills really landed all over the campaign, not only before or after it.
    assert len(kills) >= 30
    mid_campaign = [k for k in kills if 0 < k.statuses_on_server < total]
    assert len(mid_campaign) >= 10, kills
    with site.ledger() as ledger:
        sends = [
            (e.occurrence_key, e.part_index) for e in ledger.events() if e.kind == "part-sending"
        ]
    resent = {part for part in sends if sends.count(part) > 1}
    assert resent, "no part was ever interrupted between its intent and its result"
