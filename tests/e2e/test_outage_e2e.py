"""Outages and a refused token against the real mock server, on a fake clock: the running bot's
jobs are run in time order by the test (the scheduler is started paused), so an outage of many
minutes takes a second. Faults are added and removed while the bot runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from apscheduler.triggers.date import DateTrigger
from conftest import AlertWebhook

from bot.config.settings import load_settings
from bot.core.posts import CampaignPost
from bot.service.app import App
from bot.service.daemon import Daemon

from .conftest import (
    PNG,
    STATUSES,
    Site,
    TappedApp,
    assert_published_exactly_once,
)

pytestmark = pytest.mark.e2e

NGINX_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def three_posts(site: Site, first: timedelta) -> dict[str, CampaignPost]:
    """A thread with an image, a poll and a content-warned post, a minute apart from `first`."""
    site.write_posts(
        "due.yaml",
        [
            {
                "id": "thread",
                "at": site.at(first),
                "text": "Our libraries, a thread.",
                "media": [{"file": f"media/{PNG.name}", "alt": "A shelf of six books"}],
                "thread": [{"text": "Part two."}, {"text": "Part three, the end."}],
            },
            {
                "id": "poll",
                "at": site.at(first + timedelta(minutes=1)),
                "text": "What do you use the library for?",
                "poll": {"options": ["Books", "Wifi"], "expires_in": "1d"},
            },
            {
                "id": "story",
                "at": site.at(first + timedelta(minutes=2)),
                "cw": "cold homes",
                "text": "A story from a reader.",
            },
        ],
    )
    return site.app().campaign(online=False).by_id()


class Driver:
    """Runs the bot's scheduled jobs in time order on the fake clock, as its scheduler would."""

    def __init__(self, bot: Daemon, site: Site) -> None:
        self.bot = bot
        self.site = site
        self.ran: list[tuple[datetime, str]] = []

    def until(self, moment: datetime) -> None:
        while True:
            jobs = [j for j in self.bot.scheduler.get_jobs() if isinstance(j.trigger, DateTrigger)]
            if not jobs:
                break
            job = min(jobs, key=lambda j: j.trigger.run_date)
            when = job.trigger.run_date
            if when > moment:
                break
            self.site.clock.set(when)
            job.remove()
            self.ran.append((self.site.clock.now(), job.id))
            job.func(*job.args)
        self.site.clock.set(moment)


@contextmanager
def running(app: App, site: Site) -> Iterator[tuple[Daemon, Driver]]:
    """The bot as `run` starts it, with its scheduler paused: the test drives its jobs."""
    bot = Daemon(app)
    bot.scheduler.start(paused=True)
    try:
        bot._connect()
        bot._load("start")
        yield bot, Driver(bot, site)
    finally:
        bot.scheduler.shutdown(wait=False)
        bot.ledger.close()


@pytest.mark.slow
def test_an_outage_of_every_post_request_is_ridden_out(
    site: Site, webhook: AlertWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    """Every POST answers nginx's 502 page for eleven minutes while a thread with an image, a
    poll and a post fall due: each goes out exactly once after the recovery, none failed or
    missed, with one alert for the outage and one for the recovery."""
    site.configure(catch_up="1h", alerts={"webhook": webhook.url, "outage_after": "5m"})
    posts = three_posts(site, timedelta(minutes=1))
    start = site.clock.now()
    with running(site.app(), site) as (bot, drive):
        fault = site.server.fault(methods=["POST"], status=502, body=NGINX_502)
        with caplog.at_level(logging.INFO):
            drive.until(start + timedelta(minutes=12))
            assert site.statuses() == []
            assert {str(r.state) for r in site.records().values()} <= {"pending"}
            assert bot.watch.down
            assert bot.monitor.waiting_count() == 3
            fault.delete()
            back = site.clock.now()
            drive.until(start + timedelta(minutes=30))
    records = site.records()
    assert {k: str(r.state) for k, r in records.items()} == dict.fromkeys(posts, "published")
    assert_published_exactly_once(site, posts)
    # Back within one backoff period (at most three minutes) of the recovery.
    first_out = min(r.published_at for r in records.values() if r.published_at)
    assert first_out - back <= timedelta(minutes=3)
    assert [b["kind"] for b in webhook.bodies] == ["outage", "recovered"]
    outage, recovered = (b["message"] for b in webhook.bodies)
    assert "the instance has been unavailable since" in outage
    assert "last answer: 502" in outage
    assert "3 posts waiting; the earliest deadline is" in outage
    assert recovered.startswith("the instance is back after 1")
    assert recovered.endswith("3 posts published late, 0 missed")
    # Not every due post was sent into the failure: a few tries per probe, not per post.
    assert "due but not sent: the instance is unavailable" in caplog.text


def test_an_outage_longer_than_the_deadline_is_missed_with_the_reason(site: Site) -> None:
    """Past its deadline during an outage a post is recorded missed, saying when the instance
    was unavailable and its last answer; nothing goes out late when it is back."""
    site.configure(catch_up="10m")
    site.write_posts("one.yaml", [{"id": "one", "at": site.at(timedelta(minutes=1)), "text": "X"}])
    start = site.clock.now()
    with running(site.app(), site) as (_, drive):
        fault = site.server.fault(path=STATUSES, methods=["POST"], status=503)
        drive.until(start + timedelta(minutes=30))
        fault.delete()
        drive.until(start + timedelta(minutes=40))
    record = site.records()["one"]
    assert str(record.state) == "missed"
    with site.ledger() as ledger:
        reason = next(e.detail for e in ledger.events("one") if e.kind == "missed")
    assert reason.startswith("the instance was unavailable from ")
    assert "last answer: 503; planned for" in reason
    assert site.statuses() == []


def test_run_once_during_an_outage_exits_75_and_leaves_posts_pending(site: Site) -> None:
    """Tried: a persistent 503 ended the posts as failed. `run --once` now leaves them pending
    and exits 75 (try again later); `status` shows the outage; the next run publishes them."""
    posts = three_posts(site, -timedelta(minutes=30))
    fault = site.server.fault(path=STATUSES, methods=["POST"], status=503)
    run = site.cli("run", "--once")
    assert run.returncode == 75, run.stderr
    assert "stay pending" in run.stderr
    states = {k: str(r.state) for k, r in site.records().items()}
    assert "failed" not in states.values()
    assert set(states.values()) <= {"pending"}
    assert site.statuses() == []
    shown = site.cli("status")
    assert shown.stdout.startswith("instance unavailable since ")
    assert "last answer: 503" in shown.stdout
    shown_json = json.loads(site.cli("status", "--json").stdout)
    assert shown_json["instance"].startswith("instance unavailable since ")

    fault.delete()
    again = site.cli("run", "--once")
    assert again.returncode == 0, again.stderr
    assert_published_exactly_once(site, posts)
    assert len(site.statuses()) == 5
    assert site.cli("status").stdout.startswith("thread ")


def _new_token(site: Site) -> str:
    answer = requests.post(
        f"{site.server.base_url}/api/v1/_mock/login", json={"username": "alice"}, timeout=10
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _revoke(site: Site, token: str) -> None:
    requests.post(
        f"{site.server.base_url}/oauth/revoke", data={"token": token}, timeout=10
    ).raise_for_status()


def test_a_refused_token_pauses_until_the_token_file_is_replaced(
    site: Site, webhook: AlertWebhook, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A revoked token pauses publishing (one alert) and keeps the posts pending; a post falling
    due meanwhile is logged as not sent; writing a new token to the file resumes publishing at
    the next periodic check, without a restart, and says so once."""
    token_file = site.root / "token"
    token = _new_token(site)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    site.configure(access_token_file=str(token_file), alerts={"webhook": webhook.url})
    site.write_posts(
        "two.yaml",
        [
            {"id": "first", "at": site.at(timedelta(minutes=1)), "text": "First."},
            {"id": "second", "at": site.at(timedelta(minutes=3)), "text": "Second."},
        ],
    )
    app = TappedApp(load_settings(site.config_path, {}), clock=site.clock, env={})
    start = site.clock.now()
    with running(app, site) as (bot, drive):
        _revoke(site, token)
        with caplog.at_level(logging.INFO):
            drive.until(start + timedelta(minutes=5))
            assert bot.token_rejected
            assert {k: str(r.state) for k, r in site.records().items()} == {"first": "pending"}
            assert "due but not sent: publishing stopped" in caplog.text
            token_file.write_text(_new_token(site) + "\n")
            drive.until(start + timedelta(minutes=10))
    assert bot.token_rejected is None
    states = {k: str(r.state) for k, r in site.records().items()}
    assert states == {"first": "published", "second": "published"}
    assert [site.source_text(s["id"]) for s in site.statuses()] == ["First.", "Second."]
    assert [b["kind"] for b in webhook.bodies] == ["token", "recovered"]
    assert (
        "publishing is paused; run `campaign-bot login` or replace the token file"
        in (webhook.bodies[0]["message"])
    )
    assert token not in caplog.text
