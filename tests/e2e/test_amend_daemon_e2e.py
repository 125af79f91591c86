"""The running bot keeps published posts in step with their files as `amend:` allows: the
daemon is started as `run` starts it, on a fake clock, with its scheduler paused; the test runs
its jobs (the file watch, the reload it queues, the round between posts) in time order, and
reads the result back from the mock server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from conftest import AlertWebhook

from bot.service.connection import LIVING_EVERY
from bot.service.daemon import Daemon

from .conftest import Site
from .test_amend_e2e import MediaAttributes, history, post
from .test_outage_e2e import Driver

pytestmark = pytest.mark.e2e

WARNED = "followers still see the old version"


class Running:
    """A daemon started with `start()`, whose jobs the test runs when their time comes."""

    def __init__(self, bot: Daemon, site: Site) -> None:
        self.bot = bot
        self.site = site
        self.drive = Driver(bot, site)

    def job(self, name: str) -> None:
        """Run one of the daemon's periodic jobs, as its scheduler would."""
        job = self.bot.scheduler.get_job(name)
        assert job is not None, f"the daemon has no {name!r} job"
        job.func(*job.args)

    def files_changed(self) -> None:
        """The file watch notices the edit; the reload it queues runs."""
        self.site.clock.advance(timedelta(seconds=2))
        self.job("watch")
        self.drive.until(self.site.clock.now())

    def rounds(self, count: int) -> None:
        """`count` rounds between posts, LIVING_EVERY apart."""
        for _ in range(count):
            self.site.clock.advance(LIVING_EVERY)
            self.drive.until(self.site.clock.now())
            self.job("living")


@contextmanager
def running(site: Site) -> Iterator[Running]:
    """`campaign-bot run` in this process: `Daemon.start()`, its scheduler paused."""
    bot = Daemon(site.app())
    scheduler_start = bot.scheduler.start
    bot.scheduler.start = lambda *a, **kw: scheduler_start(paused=True)  # type: ignore[method-assign]
    try:
        bot.start()
        living = bot.scheduler.get_job("living")
        assert living is not None and living.trigger.interval == LIVING_EVERY
        world = Running(bot, site)
        # The catch-up queued at start (the scheduler dates it by the real clock, a moment
        # after the test's clock was set).
        world.drive.until(site.clock.now() + timedelta(seconds=2))
        yield world
    finally:
        bot.scheduler.shutdown(wait=False)
        bot.ledger.close()


@pytest.fixture
def launch(site: Site, webhook: AlertWebhook) -> Site:
    """The launch post (an image with alt text, and a reply) is due; alerts go to the webhook."""
    site.session = MediaAttributes()
    site.configure(alerts={"webhook": webhook.url})
    site.write_posts("launch.yaml", [post(site)])
    return site


def messages(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


def edits(site: Site) -> list[tuple[int | None, str]]:
    with site.ledger() as ledger:
        return [
            (e.part_index, e.kind)
            for e in ledger.events("petition-launch")
            if e.kind.startswith("edit")
        ]


def test_alt_text_is_amended_once_and_a_new_text_only_warned_about(
    launch: Site, webhook: AlertWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    """`amend: alt-text`: the running bot publishes the post; its file then gets a better alt
    text and a new text. The bot edits the alt text on the instance once, logs and alerts it
    once, and leaves the text to the campaigner with a warning that names `amend`."""
    site = launch
    site.configure(amend="alt-text")
    caplog.set_level(logging.INFO)
    with running(site) as bot:
        first = site.records()["petition-launch"].parts[0].status_id
        assert first is not None
        bot.rounds(1)
        assert len(history(site, first)) == 1

        changed = post(
            site,
            text="Sign it today: https://petition.example.org/new",
            media=[{"file": "media/library-shelf.png", "alt": "Six books.", "focus": [0.1, 0.2]}],
        )
        site.write_posts("launch.yaml", [changed])
        bot.files_changed()
        bot.rounds(3)
        bot.files_changed()  # a reload after the edit: the alt text is no longer named
        bot.rounds(1)

    status = site.server.client("alice").status(first)
    assert status["media_attachments"][0]["description"] == "Six books."
    assert site.source_text(first).startswith("Sign the petition: https://petition.example.org/old")
    assert len(history(site, first)) == 2
    assert edits(site) == [(0, "edit-intended"), (0, "edited")]
    amended = messages(caplog, "amended (alt text)")
    assert len(amended) == 1 and amended[0].startswith("petition-launch part 1: amended")
    assert [b["kind"] for b in webhook.bodies] == ["amended"]
    assert webhook.bodies[0]["message"].startswith("petition-launch part 1: amended (alt text)")
    text_warnings = messages(caplog, f"part 1: text changed after publishing ({WARNED})")
    assert text_warnings, "the new text was not warned about"
    assert all("run `campaign-bot amend petition-launch`" in m for m in text_warnings)
    assert messages(caplog, "alt text changed after publishing") == []


def test_auto_applies_a_new_text_once(
    launch: Site, webhook: AlertWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    """`amend: auto`: a new text and content warning reach the instance once, however many
    rounds follow; one log line and one alert; the bot does not ask the campaigner to amend."""
    site = launch
    site.configure(amend="auto")
    caplog.set_level(logging.INFO)
    with running(site) as bot:
        first, reply = (p.status_id for p in site.records()["petition-launch"].parts)
        assert first is not None and reply is not None
        changed = post(site, text="Sign it today: https://petition.example.org/new")
        site.write_posts("launch.yaml", [changed])
        bot.files_changed()
        bot.rounds(3)

    assert site.source_text(first) == (
        "Sign it today: https://petition.example.org/new\n\n#SaveOurLibraries"
    )
    assert site.server.client("alice").status(first)["media_attachments"][0]["description"] == (
        "A shelf of books."
    )
    assert len(history(site, first)) == 2
    assert len(history(site, reply)) == 1
    assert edits(site) == [(0, "edit-intended"), (0, "edited")]
    assert len(messages(caplog, "petition-launch part 1: amended (text)")) == 1
    assert [b["kind"] for b in webhook.bodies] == ["amended"]
    assert messages(caplog, WARNED) == []


def test_manual_only_warns(
    launch: Site, webhook: AlertWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    """`amend: manual` (the default): the changed alt text is warned about, never edited."""
    site = launch
    caplog.set_level(logging.INFO)
    with running(site) as bot:
        first = site.records()["petition-launch"].parts[0].status_id
        assert first is not None
        changed: dict[str, Any] = post(
            site,
            media=[{"file": "media/library-shelf.png", "alt": "Six books.", "focus": [0.1, 0.2]}],
        )
        site.write_posts("launch.yaml", [changed])
        bot.files_changed()
        bot.rounds(2)

    assert site.server.client("alice").status(first)["media_attachments"][0]["description"] == (
        "A shelf of books."
    )
    assert len(history(site, first)) == 1
    assert edits(site) == []
    assert webhook.bodies == []
    assert messages(caplog, f"part 1: alt text changed after publishing ({WARNED})")


def test_an_edit_the_instance_refuses_is_logged_and_alerted_once_not_every_round(
    launch: Site, webhook: AlertWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    """`amend: auto`, and the instance answers the edit 422: one log line and one alert, and
    the refused edit is not sent again every five minutes (the ledger would fill with failed
    edits); it is tried again once the file changes."""
    site = launch
    site.configure(amend="auto")
    caplog.set_level(logging.INFO)
    with running(site) as bot:
        site.server.fault(
            methods=["PUT"],
            path_regex=r"^/api/v1/statuses/\d+$",
            status=422,
            body={"error": "Validation failed: Text is too long"},
        )
        site.write_posts("launch.yaml", [post(site, text="Sign it today, please.")])
        bot.files_changed()
        bot.rounds(6)
        refused = messages(caplog, "petition-launch part 1: could not amend (text)")
        assert len(refused) == 1 and "Text is too long" in refused[0]
        assert "tried again in 6h, or when the file changes" in refused[0]
        assert [b["kind"] for b in webhook.bodies] == ["amend-failed"]
        assert edits(site) == [(0, "edit-intended"), (0, "edit-failed")]

        site.write_posts("launch.yaml", [post(site, text="Sign it today.")])
        bot.files_changed()
        bot.rounds(1)
        assert edits(site)[-2:] == [(0, "edit-intended"), (0, "edit-failed")]
        assert len(edits(site)) == 4


def test_edits_yield_to_a_post_that_falls_due(
    launch: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """`amend: auto` with several published posts to edit, and a post due in a minute: each edit
    here takes two minutes, so the round edits one post, stops for the due post (which goes out
    on time), and a later round edits the rest."""
    site = launch
    site.configure(amend="auto")
    first, second, third = (
        {"id": f"p{n}", "at": site.at(-timedelta(minutes=5)), "text": f"Post {n}."}
        for n in (1, 2, 3)
    )
    site.write_posts("launch.yaml", [first, second, third])
    with running(site) as bot:
        assert {k: str(r.state) for k, r in site.records().items()} == dict.fromkeys(
            ("p1", "p2", "p3"), "published"
        )
        due = {"id": "due", "at": site.at(timedelta(minutes=6)), "text": "On time."}
        changed = [{**p, "text": p["text"] + " (updated)"} for p in (first, second, third)]
        site.write_posts("launch.yaml", [*changed, due])
        bot.files_changed()
        session = site.session
        assert isinstance(session, MediaAttributes)
        original = session.send

        def slow_edits(request: Any, **kw: Any) -> Any:
            if request.method == "PUT":
                site.clock.advance(timedelta(minutes=2))
            return original(request, **kw)

        session.send = slow_edits  # type: ignore[method-assign]
        bot.rounds(1)  # at +5 min: one edit, then the post due at +6 min comes first
        assert len({key for key, _ in all_edits(site)}) == 1
        assert "due" not in site.records()
        bot.job("post:due")  # late by the edit's minute, as the scheduler would run it
        assert str(site.records()["due"].state) == "published"
        bot.rounds(2)
    assert {e[0] for e in all_edits(site)} == {"p1", "p2", "p3"}
    assert [e[1] for e in all_edits(site)].count("edited") == 3


def all_edits(site: Site) -> list[tuple[str, str]]:
    with site.ledger() as ledger:
        return [(e.occurrence_key, e.kind) for e in ledger.events() if e.kind.startswith("edit")]


def test_alt_text_of_every_occurrence_of_a_repeating_post_is_amended_once(
    site: Site, webhook: AlertWebhook
) -> None:
    """`amend: alt-text` and an hourly post whose image gets a better alt text: each occurrence
    already out gets it once (one edit in each history, one alert each)."""
    site.session = MediaAttributes()
    site.configure(amend="alt-text", catch_up="150m", alerts={"webhook": webhook.url})

    def hourly(alt: str) -> dict[str, Any]:
        return {
            "id": "hourly",
            "cron": "0 * * * *",
            "from": site.at(-timedelta(days=1)),
            "text": "Sign the petition before the vote.",
            "media": [{"file": "media/library-shelf.png", "alt": alt}],
        }

    site.write_posts("hourly.yaml", [hourly("A shelf.")])
    with running(site) as bot:
        sent = {
            key: record.parts[0].status_id
            for key, record in site.records().items()
            if record.post_id == "hourly"
        }
        assert len(sent) >= 2
        site.write_posts("hourly.yaml", [hourly("Six books on a green shelf.")])
        bot.files_changed()
        bot.rounds(3)
    client = site.server.client("alice")
    for status_id in sent.values():
        assert status_id is not None
        assert client.status(status_id)["media_attachments"][0]["description"] == (
            "Six books on a green shelf."
        )
        assert len(history(site, status_id)) == 2
    assert sorted(b["message"].split(" part ")[0] for b in webhook.bodies) == sorted(sent)
