"""Boosts and quotes by other accounts at the HTTP wire (`responses`, recorded Mastodon 4.7.3
bodies), through a real ledger: the post is found on the partner's instance with
`GET /api/v2/search?resolve=true` and that copy is boosted; quotes carry `quoted_status_id` and an
Idempotency-Key, or fall back to a post with the link."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from bot.config.settings import Settings, load_settings
from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, FollowKind, FollowUp, Part, Schedule
from bot.core.states import Result, State
from bot.mastodon.client import MastodonClient
from bot.publishing.coalition import CoalitionPublisher
from bot.publishing.publisher import Publisher
from bot.publishing.runner import DryRunPublisher, Runner
from bot.schedule.followups import follow_up_post
from bot.schedule.planner import Occurrence
from bot.storage.ledger import Ledger

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
LEAD = "https://lead.example"
PARTNER = "https://partner.example"
START = datetime(2026, 12, 1, 9, 40, tzinfo=UTC)
POSTED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SHARED_URL = f"{LEAD}/@lead/111"
ON_PARTNER = "999"


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def status(status_id: str, **changes: Any) -> dict[str, Any]:
    found = body("status_reply")
    found.update(id=status_id, url=f"{PARTNER}/@partner/{status_id}", in_reply_to_id=None)
    found.update(changes)
    return found


def instance(version: str, api: int) -> dict[str, Any]:
    doc = body("instance_v2")
    doc.update(version=version, api_versions={"mastodon": api})
    return doc


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(POSTED)


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3", clock) as opened:
        # The lead's post went out at 09:30 as status 111.
        opened.begin_attempt("launch", "launch", POSTED, "h")
        opened.record_part_intent("launch", 0, "key-0")
        opened.record_part_published("launch", 0, "111", SHARED_URL)
        opened.mark_published("launch")
        clock.set(START)
        yield opened


def publisher(ledger: Ledger, clock: FakeClock) -> CoalitionPublisher:
    def client(base: str, token: str) -> MastodonClient:
        return MastodonClient(base, token, clock=clock)

    def partner(name: str) -> Publisher:
        assert name == "partner"
        made = Publisher(
            client(PARTNER, "partner-token"),
            ledger,
            clock,
            instance=PARTNER,
            account_id="2",
            honours_idempotency_keys=True,
        )
        return made

    lead = CoalitionPublisher(
        client(LEAD, "lead-token"),
        ledger,
        clock,
        instance=LEAD,
        account_id="1",
        honours_idempotency_keys=True,
    )
    return lead.setup(
        "lead", partner, timedelta(hours=1), instances={"lead": LEAD, "partner": PARTNER}
    )


LAUNCH = CampaignPost(
    "launch",
    "posts/a.yaml",
    2,
    0,
    Schedule(at=POSTED),
    None,
    (Part(0, "Sign the petition", None, False, "public", "en", (), None, 17),),
    account="lead",
)


def occurrence(follow: FollowUp) -> Occurrence:
    post = follow_up_post(LAUNCH, follow)
    key = follow.key("launch")
    return Occurrence(key, post, POSTED + follow.after, START + timedelta(days=1), State.PENDING)


BOOST = FollowUp(FollowKind.BOOST, "partner", timedelta(minutes=5), of_account="lead")
QUOTE_PART = Part(0, "We back this.", None, False, "public", "en", (), None, 13)


def quote(*, fallback: bool) -> FollowUp:
    return FollowUp(
        FollowKind.QUOTE,
        "partner",
        timedelta(minutes=10),
        QUOTE_PART,
        fallback_link=fallback,
        of_account="lead",
    )


def serve_search(wire: responses.RequestsMock) -> None:
    wire.get(
        f"{PARTNER}/api/v2/search",
        json={"accounts": [], "statuses": [status(ON_PARTNER)], "hashtags": []},
    )


def test_cross_instance_boost_searches_with_resolve_then_reblogs(
    ledger: Ledger, clock: FakeClock
) -> None:
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.post(
            f"{PARTNER}/api/v1/statuses/{ON_PARTNER}/reblog",
            json=status("1000", reblog=status(ON_PARTNER)),
        )
        outcome = publisher(ledger, clock).publish(occurrence(BOOST))
        search, reblog = wire.calls
    query = parse_qs(urlsplit(search.request.url).query)
    assert query["q"] == [SHARED_URL]
    assert query["resolve"] == ["1"] or query["resolve"] == ["true"]
    assert search.request.headers["Authorization"] == "Bearer partner-token"
    assert reblog.request.headers["Authorization"] == "Bearer partner-token"
    assert outcome.result is Result.PUBLISHED
    record = ledger.get("launch~boost~partner")
    assert record is not None and record.state is State.PUBLISHED
    part = record.part(0)
    assert part is not None and part.status_id == "1000"

    # Done is done: nothing is sent again.
    with responses.RequestsMock() as wire:
        again = publisher(ledger, clock).publish(occurrence(BOOST))
    assert again.result is Result.ALREADY_PUBLISHED


def test_boost_before_its_moment_waits(tmp_path: Path) -> None:
    clock = FakeClock(START)
    with Ledger.open(tmp_path / "other.sqlite3", clock) as ledger:
        ledger.begin_attempt("launch", "launch", POSTED, "h")
        ledger.record_part_intent("launch", 0, "key-0")
        ledger.record_part_published("launch", 0, "111", SHARED_URL)
        ledger.mark_published("launch")  # late: at 09:40, not 09:30
        clock.advance(timedelta(minutes=2))
        with responses.RequestsMock():
            outcome = publisher(ledger, clock).publish(occurrence(BOOST))
        assert outcome.result is Result.NOT_SENT  # not a failure: it is not time yet
        # Five minutes after the post really went out, not after its planned time.
        assert outcome.retry_at == START + timedelta(minutes=5)
        assert ledger.get("launch~boost~partner") is None


def test_post_not_found_yet_on_the_partners_instance_is_tried_later(
    ledger: Ledger, clock: FakeClock
) -> None:
    with responses.RequestsMock() as wire:
        wire.get(f"{PARTNER}/api/v2/search", json={"accounts": [], "statuses": [], "hashtags": []})
        outcome = publisher(ledger, clock).publish(occurrence(BOOST))
    assert outcome.result is Result.DEFERRED
    assert "has not found" in (outcome.error or "")


def test_quote_posts_with_quoted_status_id_and_a_key(ledger: Ledger, clock: FakeClock) -> None:
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.get(f"{PARTNER}/api/v2/instance", json=instance("4.5.0", 7))
        wire.post(f"{PARTNER}/api/v1/statuses", json=status("1001"))
        outcome = publisher(ledger, clock).publish(occurrence(quote(fallback=False)))
        sent = wire.calls[-1].request
    form = parse_qs(str(sent.body))
    assert form["quoted_status_id"] == [ON_PARTNER]
    assert form["status"] == ["We back this."]
    assert sent.headers["Idempotency-Key"].startswith("campaign-bot-")
    assert outcome.result is Result.PUBLISHED


def test_quote_falls_back_to_the_link(ledger: Ledger, clock: FakeClock) -> None:
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.get(f"{PARTNER}/api/v2/instance", json=instance("4.3.2", 2))
        wire.post(f"{PARTNER}/api/v1/statuses", json=status("1002"))
        outcome = publisher(ledger, clock).publish(occurrence(quote(fallback=True)))
        sent = wire.calls[-1].request
    form = parse_qs(str(sent.body))
    assert "quoted_status_id" not in form
    assert form["status"] == [f"We back this.\n\n{SHARED_URL}"]
    assert outcome.result is Result.PUBLISHED


def test_quote_without_fallback_is_reported_not_dropped(ledger: Ledger, clock: FakeClock) -> None:
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.get(f"{PARTNER}/api/v2/instance", json=instance("4.3.2", 2))
        outcome = publisher(ledger, clock).publish(occurrence(quote(fallback=False)))
        assert all(c.request.method == "GET" for c in wire.calls)
    assert outcome.result is Result.FAILED
    assert "cannot publish quote posts" in (outcome.error or "")
    record = ledger.get("launch~quote~partner")
    assert record is not None and record.state is State.FAILED


def test_boost_of_a_post_that_never_went_out_is_skipped(tmp_path: Path, clock: FakeClock) -> None:
    with Ledger.open(tmp_path / "other.sqlite3", clock) as ledger:
        ledger.mark_missed("launch", "launch", POSTED, "the bot was down")
        with responses.RequestsMock():
            outcome = publisher(ledger, clock).publish(occurrence(BOOST))
        assert outcome.result is Result.NOT_SENT
        record = ledger.get("launch~boost~partner")
        assert record is not None and record.state is State.MISSED
        [event] = [e for e in ledger.events("launch~boost~partner") if e.kind == "missed"]
        assert event.detail == "skipped: the post it shares, launch, was never published (missed)"


def settings_in(folder: Path) -> Settings:
    config = folder / "bot.yaml"
    config.write_text("timezone: UTC\n", encoding="utf-8")
    return load_settings(config, env={})


def test_a_dry_run_says_what_a_boost_and_a_quote_would_do(
    ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`run --dry-run` does not show a boost as if its text were published: it names the
    status it would share and the account that would share it."""
    settings = settings_in(tmp_path)
    dry = DryRunPublisher(settings, ledger)
    with caplog.at_level("INFO", logger="bot.publishing.runner"):
        boost = dry.publish(occurrence(BOOST))
        dry.publish(occurrence(quote(fallback=True)))
    assert boost.result is Result.DRY_RUN
    assert [(r.getMessage(), getattr(r, "post_id", None)) for r in caplog.records] == [
        (f"would boost launch ({SHARED_URL}) as partner", "launch~boost~partner"),
        (
            f"would quote launch ({SHARED_URL}) as partner: 'We back this.' (or post it with "
            "the link, where the instance cannot quote)",
            "launch~quote~partner",
        ),
    ]
    assert not any("would publish" in r.getMessage() for r in caplog.records)
    assert ledger.get("launch~boost~partner") is None  # a dry run writes nothing


def test_a_dry_run_of_a_boost_before_or_without_its_post(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_in(tmp_path)
    with Ledger.open(tmp_path / "other.sqlite3", clock) as ledger:
        dry = DryRunPublisher(settings, ledger)
        with caplog.at_level("INFO", logger="bot.publishing.runner"):
            dry.publish(occurrence(BOOST))
            ledger.mark_missed("launch", "launch", POSTED, "the bot was down")
            dry.publish(occurrence(BOOST))
    assert [r.getMessage() for r in caplog.records] == [
        "would boost launch once it is out (5m after it) as partner",
        "would skip the boost by partner: launch was never published (missed)",
    ]


def test_a_dry_run_skips_the_boost_of_a_post_it_records_as_missed(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: `run --once --dry-run` a day after the launch said the launch would be missed,
    then "would boost launch once it is out" — a real run records both as missed."""
    settings = settings_in(tmp_path)
    clock.set(POSTED + timedelta(days=1))
    launch = Occurrence("launch", LAUNCH, POSTED, POSTED + timedelta(hours=2), State.PENDING)
    late_boost = Occurrence(
        BOOST.key("launch"),
        follow_up_post(LAUNCH, BOOST),
        POSTED + BOOST.after,
        POSTED + timedelta(days=2),
        State.PENDING,
    )
    with Ledger.open(tmp_path / "other.sqlite3", clock) as ledger:
        runner = Runner(settings, ledger, clock, DryRunPublisher(settings, ledger), dry_run=True)
        with caplog.at_level("INFO", logger="bot.publishing.runner"):
            summary = runner.run([launch, late_boost])
        assert ledger.get("launch") is None and ledger.get(BOOST.key("launch")) is None
    said = [r.getMessage() for r in caplog.records if getattr(r, "post_id", None) != "launch"]
    assert said == ["would skip the boost by partner: launch would be recorded as missed"]
    assert [key for key, _ in summary.missed] == ["launch"]
    assert [(o.key, o.result) for o in summary.outcomes] == [(BOOST.key("launch"), Result.DRY_RUN)]


def test_a_quote_of_a_partners_post_looks_it_up_on_the_quoting_instance(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The lead quotes the partner's post: the partner's status id means nothing on the lead's
    instance, so the lead finds the post there first (by its address) and quotes that copy."""
    with Ledger.open(tmp_path / "other.sqlite3", clock) as ledger:
        story_url = f"{PARTNER}/@partner/222"
        ledger.begin_attempt("story", "story", POSTED, "h")
        ledger.record_part_intent("story", 0, "key-0")
        ledger.record_part_published("story", 0, "222", story_url)
        ledger.mark_published("story")
        clock.set(START)
        story = replace(LAUNCH, id="story", account="partner")
        follow = replace(quote(fallback=False), account="lead", of_account="partner")
        due = Occurrence(
            follow.key("story"),
            follow_up_post(story, follow),
            POSTED + follow.after,
            START + timedelta(days=1),
            State.PENDING,
        )
        with responses.RequestsMock() as wire:
            wire.get(
                f"{LEAD}/api/v2/search",
                json={"accounts": [], "statuses": [status("777")], "hashtags": []},
            )
            wire.get(f"{LEAD}/api/v2/instance", json=instance("4.5.0", 7))
            wire.post(f"{LEAD}/api/v1/statuses", json=status("1003"))
            outcome = publisher(ledger, clock).publish(due)
            search, sent = wire.calls[0].request, wire.calls[-1].request
        assert parse_qs(urlsplit(search.url).query)["q"] == [story_url]
        assert parse_qs(str(sent.body))["quoted_status_id"] == ["777"]
        assert outcome.result is Result.PUBLISHED


def test_a_boost_follows_the_first_copy_and_is_skipped_without_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    """`accounts: [lead, partner]`: the boost follows the lead's copy only. The partner's copy
    went out, the lead's was missed: the boost is skipped, saying which copy it followed, and
    the partner's copy is never boosted instead."""
    with Ledger.open(tmp_path / "other.sqlite3", clock) as ledger:
        ledger.mark_missed("joint~lead", "joint~lead", POSTED, "the bot was down")
        ledger.begin_attempt("joint~partner", "joint~partner", POSTED, "h")
        ledger.record_part_intent("joint~partner", 0, "key-0")
        ledger.record_part_published("joint~partner", 0, "333", f"{PARTNER}/@partner/333")
        ledger.mark_published("joint~partner")
        clock.set(START)
        copy = replace(LAUNCH, id="joint~lead")
        follow = FollowUp(
            FollowKind.BOOST,
            "ally",
            timedelta(minutes=5),
            of_account="lead",
            of_copies=("lead", "partner"),
        )
        key = follow.key("joint~lead")
        due = Occurrence(
            key, follow_up_post(copy, follow), POSTED, START + timedelta(days=1), State.PENDING
        )
        with responses.RequestsMock():  # nothing is sent
            outcome = publisher(ledger, clock).publish(due)
        assert outcome.result is Result.NOT_SENT
        record = ledger.get(key)
        assert record is not None and record.state is State.MISSED
        assert (
            outcome.error == "skipped: the post it shares, joint~lead, was never published (missed)"
        )
