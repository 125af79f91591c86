"""Crash safety of edits: `campaign-bot amend --all` killed with SIGKILL at random moments, again
and again, leaves every changed status edited exactly once (one new version in its history)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from datetime import timedelta
from typing import Any

import pytest

from .conftest import Site
from .test_crash_e2e import events_so_far

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SEED = 20261202
KILLS = 16
RUN_TIMEOUT = 60.0


def campaign(site: Site, version: str) -> list[dict[str, Any]]:
    """Six published posts, two of them threads of three; `version` is in every text."""
    posts: list[dict[str, Any]] = []
    for i in range(6):
        post: dict[str, Any] = {
            "id": f"post-{i}",
            "at": site.at(-timedelta(minutes=30 - i)),
            "text": f"Post {i}, {version}.",
            "hashtags": ["SaveOurLibraries"],
        }
        if i % 3 == 0:
            post["thread"] = [{"text": f"Reply {j} under post {i}, {version}."} for j in (1, 2)]
        posts.append(post)
    return posts


def amend_until_killed(site: Site, rng: random.Random) -> int | None:
    """Start `amend --all --yes` and kill it one to three ledger writes in, plus up to 40 ms
    (while the status is read back, while its edit is in flight, or before the result is
    written). Returns the exit code if the run ended first."""
    start_events = events_so_far(site.ledger_path)
    process = subprocess.Popen(
        site.command("amend", "--all", "--yes"),
        env=site.cli_env(),
        cwd=site.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    progress = rng.randint(1, 3)
    jitter = rng.uniform(0.0, 0.04)
    kill_at: float | None = None
    while process.poll() is None:
        now = time.monotonic()
        if now > started + RUN_TIMEOUT:
            process.kill()
            raise AssertionError("a run neither finished nor was killed in time")
        if kill_at is None and events_so_far(site.ledger_path) - start_events >= progress:
            kill_at = now + jitter
        if kill_at is not None and now >= kill_at:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return None
        time.sleep(0.002)
    return process.returncode


def test_sigkill_during_amend_all_edits_each_status_once(site: Site) -> None:
    """Kill after kill, then one run to the end: every part shows the new text, each status
    has exactly one edit in its history, and nothing is left to amend."""
    site.write_posts("crash.yaml", campaign(site, "first version"))
    assert site.run_once() == 0
    records = site.records()
    parts = {
        (key, p.index): p.status_id for key, r in records.items() for p in r.parts if p.status_id
    }
    assert len(parts) == 10
    site.write_posts("crash.yaml", campaign(site, "second version"))

    rng = random.Random(SEED)  # noqa: S311 - kill moments, not secrets
    kills = 0
    code: int | None = None
    while code is None and kills < KILLS:
        code = amend_until_killed(site, rng)
        kills += code is None
    assert code in (None, 0)
    finished = site.cli("amend", "--all", "--yes", timeout=RUN_TIMEOUT)
    assert finished.returncode == 0, finished.stderr
    assert "nothing to amend" in finished.stdout

    client = site.server.client("alice")
    for (key, index), status_id in parts.items():
        assert "second version" in site.source_text(status_id), (key, index)
        versions = client.status_history(status_id)
        assert len(versions) == 2, f"{key} part {index + 1} was edited {len(versions) - 1} times"
    # Runs were killed again and again before one got to the end (how many depends on how far
    # each got: each kill comes one to three ledger writes into a run).
    assert kills >= 5
    with site.ledger() as ledger:
        kinds = [e.kind for e in ledger.events()]
    # Each part's edit was settled once: recorded as sent, or found done by the next run where
    # a kill fell between the request and its result. Whether some kill falls there depends on
    # timing; test_a_lost_answer_is_read_back_not_edited_twice makes it happen every time.
    assert kinds.count("edited") + kinds.count("edit-found") == len(parts)
