"""Boosts and quotes exactly once, at the HTTP wire (`responses`) through a real ledger: when one
waits, goes, is missed or skipped; a boost resumed after a crash or an error; a quote where the
instance cannot quote. (The happy paths are in test_coalition_publish.py.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from test_coalition_publish import (
    BOOST,
    LEAD,
    ON_PARTNER,
    PARTNER,
    POSTED,
    SHARED_URL,
    START,
    body,
    clock,
    instance,
    ledger,
    occurrence,
    quote,
    serve_search,
    status,
)

from bot.core.clock import FakeClock
from bot.core.errors import CampaignBotError
from bot.core.posts import CampaignPost, Part, Schedule
from bot.core.states import Result, State
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import AuthError
from bot.publishing.coalition import CoalitionPublisher
from bot.publishing.pacing import DEFAULT_WINDOWS, Pacer, Window
from bot.publishing.publisher import Outcome, Publisher, idempotency_key
from bot.schedule.planner import Occurrence
from bot.storage.ledger import Ledger

__all__ = ["clock", "ledger"]  # the fixtures, used by name
ALLY = "https://ally.example"
INSTANCES = {"lead": LEAD, "partner": PARTNER, "ally": ALLY}
ACCOUNT_IDS = {"lead": "1", "partner": "2", "ally": "3"}
BOOST_KEY = "launch~boost~partner"
REBLOG = f"{PARTNER}/api/v1/statuses/{ON_PARTNER}/reblog"


class Accounts:
    """The coalition publisher's `others`: each account's own publisher, made on first use
    (or its token refused, or its connection failing, as the test says)."""

    def __init__(self, ledger: Ledger, clock: FakeClock, **instances: str) -> None:
        self.ledger = ledger
        self.clock = clock
        self.instances = {**INSTANCES, **instances}
        self.pacers: dict[str, Pacer] = {}
        self.refuse: dict[str, AuthError] = {}
        self.broken: dict[str, CampaignBotError] = {}
        self.made: list[str] = []

    def __call__(self, name: str) -> Publisher:
        self.made.append(name)
        if name in self.refuse:
            raise self.refuse[name]
        if name in self.broken:
            raise self.broken[name]
        base = self.instances[name]
        return Publisher(
            MastodonClient(base, f"{name}-token", clock=self.clock),
            self.ledger,
            self.clock,
            instance=base,
            account_id=ACCOUNT_IDS[name],
            honours_idempotency_keys=True,
            pacer=self.pacers.get(name),
        )

    def coalition(
        self, *, refused: AuthError | None = None, stopping: bool = False
    ) -> CoalitionPublisher:
        lead = CoalitionPublisher(
            MastodonClient(LEAD, "lead-token", clock=self.clock),
            self.ledger,
            self.clock,
            instance=self.instances["lead"],
            account_id="1",
            honours_idempotency_keys=True,
            stop_requested=lambda: stopping,
        )
        return lead.setup(
            "lead", self, timedelta(hours=1), instances=self.instances, refused=refused
        )


def coalition(ledger: Ledger, clock: FakeClock) -> CoalitionPublisher:
    return Accounts(ledger, clock).coalition()


def publish(publisher: CoalitionPublisher, due: Occurrence) -> Outcome:
    """Every outcome names the occurrence it is about: the runner and the daemon report and
    alert by that key."""
    outcome = publisher.publish(due)
    assert outcome.key == due.key
    return outcome


def own_post(post_id: str, account: str = "", text: str = "Our own post") -> Occurrence:
    """A post of the campaign's own (not a boost or quote), due at START."""
    post = CampaignPost(
        post_id,
        "posts/a.yaml",
        9,
        1,
        Schedule(at=START),
        None,
        (Part(0, text, None, False, "public", "en", (), None, len(text)),),
        account=account,
    )
    return Occurrence(post_id, post, START, START + timedelta(days=1), State.PENDING)


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, Any]]:
    return [(r.levelname, r.getMessage(), getattr(r, "post_id", None)) for r in caplog.records]


def publish_shared(ledger: Ledger, key: str, status_id: str, url: str) -> None:
    """The post a boost or quote shares went out now."""
    ledger.begin_attempt(key, key, ledger.now(), "h-" + key)
    ledger.record_part_intent(key, 0, "key-" + key)
    ledger.record_part_published(key, 0, status_id, url)
    ledger.mark_published(key)


def events(ledger: Ledger, key: str) -> list[tuple[str, str]]:
    return [(e.kind, e.detail) for e in ledger.events(key)]


# --- when a boost waits, goes, is missed or skipped ------------------------------------------


def test_a_failed_boost_is_not_sent_again(ledger: Ledger, clock: FakeClock) -> None:
    ledger.begin_attempt(BOOST_KEY, BOOST_KEY, POSTED, "")
    ledger.mark_failed(BOOST_KEY, "the instance refused the boost")
    with responses.RequestsMock():  # nothing is sent
        outcome = publish(coalition(ledger, clock), occurrence(BOOST))
    assert outcome.result is Result.NOT_SENT
    assert outcome.error == "the instance refused the boost"


@pytest.mark.parametrize("started", [False, True])
def test_a_boost_waits_for_its_post(tmp_path: Any, clock: FakeClock, started: bool) -> None:
    """Not out yet (not even tried, or still being sent): the boost is looked at again a
    minute later, or at its own planned moment if that is later; nothing is recorded."""
    with Ledger.open(tmp_path / "other.sqlite3", clock) as fresh:
        if started:
            fresh.begin_attempt("launch", "launch", POSTED, "h")
        clock.set(START)
        publisher = coalition(fresh, clock)
        with responses.RequestsMock():
            soon = publish(publisher, occurrence(BOOST))
            early = replace(occurrence(BOOST), planned_at=START + timedelta(minutes=30))
            later = publish(publisher, early)
        assert (soon.result, soon.error) == (
            Result.NOT_SENT,
            "the post it shares is not published yet",
        )
        assert soon.retry_at == START + timedelta(minutes=1)
        assert later.retry_at == START + timedelta(minutes=30)
        assert fresh.get(BOOST_KEY) is None


def test_a_boost_of_a_failed_post_is_skipped_saying_why(
    tmp_path: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with Ledger.open(tmp_path / "other.sqlite3", clock) as fresh:
        fresh.begin_attempt("launch", "launch", POSTED, "h")
        fresh.mark_failed("launch", "text too long")
        with responses.RequestsMock(), caplog.at_level("INFO", "bot.publishing.coalition"):
            outcome = publish(coalition(fresh, clock), occurrence(BOOST))
        reason = "skipped: the post it shares, launch, was never published (failed: text too long)"
        assert (outcome.result, outcome.error) == (Result.NOT_SENT, reason)
        record = fresh.get(BOOST_KEY)
        assert record is not None and record.state is State.MISSED
        assert record.post_id == BOOST_KEY and record.planned_at == POSTED + BOOST.after
        assert events(fresh, BOOST_KEY) == [("missed", reason)]
        assert messages(caplog) == [("WARNING", reason, BOOST_KEY)]


def test_a_boost_goes_at_its_moment_not_before(tmp_path: Any, clock: FakeClock) -> None:
    """The post went out late, at 09:40: its boost is due at 09:45, not 09:35. At 09:44:59 it
    waits for 09:45; at 09:45 it goes."""
    with Ledger.open(tmp_path / "other.sqlite3", clock) as fresh:
        clock.set(START)
        publish_shared(fresh, "launch", "111", SHARED_URL)
        publisher = coalition(fresh, clock)
        clock.set(START + BOOST.after - timedelta(seconds=1))
        with responses.RequestsMock():
            early = publish(publisher, occurrence(BOOST))
        assert (early.result, early.error) == (Result.NOT_SENT, "not due yet")
        assert early.retry_at == START + BOOST.after
        assert fresh.get(BOOST_KEY) is None
        clock.set(START + BOOST.after)
        with responses.RequestsMock() as wire:
            serve_search(wire)
            wire.post(REBLOG, json=status("1000", reblog=status(ON_PARTNER)))
            assert publish(publisher, occurrence(BOOST)).result is Result.PUBLISHED


def test_a_boost_goes_until_the_end_of_catch_up_and_is_missed_after(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = coalition(ledger, clock)
    due = POSTED + BOOST.after
    # At the very end of catch_up (1h) it still goes.
    clock.set(due + timedelta(hours=1))
    with responses.RequestsMock() as wire:
        wire.get(f"{ALLY}/api/v2/search", json={"statuses": [status("55")]})
        wire.post(f"{ALLY}/api/v1/statuses/55/reblog", json=status("56"))
        assert publish(publisher, occurrence(replace(BOOST, account="ally"))).result is (
            Result.PUBLISHED
        )
    clock.set(due + timedelta(hours=1, minutes=1))
    with responses.RequestsMock(), caplog.at_level("INFO", "bot.publishing.coalition"):
        late = publish(publisher, occurrence(BOOST))
    reason = (
        "missed: due 5m after launch went out (2026-12-01T09:35+00:00), and it is now 1h1m "
        "later, past the catch_up window"
    )
    assert (late.result, late.error) == (Result.NOT_SENT, reason)
    record = ledger.get(BOOST_KEY)
    assert record is not None and record.state is State.MISSED
    assert record.planned_at == POSTED + BOOST.after
    assert events(ledger, BOOST_KEY) == [("missed", reason)]
    assert [m for m in messages(caplog) if m[0] == "WARNING"] == [("WARNING", reason, BOOST_KEY)]


def test_a_late_boost_that_was_pending_is_missed_but_one_being_sent_is_finished(
    ledger: Ledger, clock: FakeClock
) -> None:
    """Past catch_up, a boost that failed to go earlier (pending) is missed; one the bot was
    sending when it stopped may be out already, and is finished, not missed."""
    publisher = coalition(ledger, clock)
    pending = occurrence(BOOST)
    ledger.begin_attempt(BOOST_KEY, BOOST_KEY, POSTED, "")
    ledger.mark_pending_after_error(BOOST_KEY, "503")
    sending = occurrence(replace(BOOST, account="ally"))
    ledger.begin_attempt(sending.key, sending.key, POSTED, "")
    clock.set(POSTED + timedelta(hours=2))
    with responses.RequestsMock() as wire:
        missed = publish(publisher, pending)
        wire.get(f"{ALLY}/api/v2/search", json={"statuses": [status("55")]})
        wire.post(f"{ALLY}/api/v1/statuses/55/reblog", json=status("56"))
        finished = publish(publisher, sending)
    assert missed.result is Result.NOT_SENT and "past the catch_up window" in (missed.error or "")
    assert finished.result is Result.PUBLISHED


# --- where the shared post is found ----------------------------------------------------------


def test_on_the_same_instance_the_post_is_boosted_without_a_search(
    ledger: Ledger, clock: FakeClock
) -> None:
    """The ally is on the lead's instance (written there with a trailing slash): status 111 is
    boosted as it is, without looking it up."""
    accounts = Accounts(ledger, clock, ally=LEAD + "/")
    with responses.RequestsMock() as wire:
        wire.post(f"{LEAD}/api/v1/statuses/111/reblog", json=status("112"))
        outcome = publish(accounts.coalition(), occurrence(replace(BOOST, account="ally")))
        assert [c.request.url for c in wire.calls] == [f"{LEAD}/api/v1/statuses/111/reblog"]
    assert outcome.result is Result.PUBLISHED


def test_a_post_of_the_default_account_is_found_on_its_instance(
    ledger: Ledger, clock: FakeClock
) -> None:
    """A follow-up that does not name the account it follows follows the default account's
    post; the default account's instance is the publisher's own when the map lacks it."""
    accounts = Accounts(ledger, clock, ally=LEAD)
    publisher = accounts.coalition()
    publisher.instances.pop("lead")
    with responses.RequestsMock() as wire:
        wire.post(f"{LEAD}/api/v1/statuses/111/reblog", json=status("112"))
        follow = replace(BOOST, account="ally", of_account="")
        assert publish(publisher, occurrence(follow)).result is Result.PUBLISHED
        assert len(wire.calls) == 1


def test_a_post_not_found_yet_is_looked_for_again_in_a_minute(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with responses.RequestsMock() as wire, caplog.at_level("INFO", "bot.publishing.coalition"):
        wire.get(f"{PARTNER}/api/v2/search", json={"accounts": [], "statuses": [], "hashtags": []})
        outcome = publish(coalition(ledger, clock), occurrence(BOOST))
    why = f"{PARTNER} has not found {SHARED_URL} yet"
    assert (outcome.result, outcome.error) == (Result.DEFERRED, why)
    assert outcome.retry_at == START + timedelta(minutes=1)
    assert messages(caplog) == [("INFO", f"{why}; looking again later", BOOST_KEY)]
    assert ledger.get(BOOST_KEY) is None


# --- a boost: exactly once -------------------------------------------------------------------


def test_a_boost_is_recorded_before_and_after_its_request(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with responses.RequestsMock() as wire, caplog.at_level("INFO", "bot.publishing.coalition"):
        serve_search(wire)
        wire.post(REBLOG, json=status("1000"))
        outcome = publish(coalition(ledger, clock), occurrence(BOOST))
    assert (outcome.result, outcome.urls) == (Result.PUBLISHED, (f"{PARTNER}/@partner/1000",))
    key = idempotency_key(PARTNER, "2", BOOST_KEY, 0)  # the partner's, on its instance
    assert events(ledger, BOOST_KEY) == [
        ("attempt", "attempt 1, content "),  # a boost has no content of its own
        ("part-sending", f"idempotency key {key}"),
        ("part-published", f"status 1000 {PARTNER}/@partner/1000"),
        ("published", f"{PARTNER}/@partner/1000"),
    ]
    assert messages(caplog) == [("INFO", "boosted by partner", BOOST_KEY)]


def test_a_boost_that_timed_out_is_asked_for_again_and_adopted(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The first request got no answer: it stays pending (a minute, unless the instance says
    when) and is asked for again; boosting twice gives the same boost back, recorded as
    found rather than sent."""
    publisher = coalition(ledger, clock)
    with responses.RequestsMock() as wire, caplog.at_level("INFO", "bot.publishing.coalition"):
        serve_search(wire)
        wire.post(REBLOG, status=503, body="Service Unavailable")
        first = publish(publisher, occurrence(BOOST))
    assert first.result is Result.DEFERRED
    assert first.retry_at == START + timedelta(minutes=1)
    record = ledger.get(BOOST_KEY)
    assert record is not None and record.state is State.PENDING
    assert record.last_error == first.error and first.error
    assert messages(caplog) == [("WARNING", f"boost deferred: {first.error}", BOOST_KEY)]

    clock.advance(timedelta(minutes=1))
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.post(REBLOG, json=status("1000"))
        again = publish(publisher, occurrence(BOOST))
    assert again.result is Result.PUBLISHED
    assert ("part-adopted", f"status 1000 {PARTNER}/@partner/1000") in events(ledger, BOOST_KEY)


def test_a_rate_limited_boost_waits_until_the_instance_says(
    ledger: Ledger, clock: FakeClock
) -> None:
    reset = START + timedelta(minutes=20)
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.post(
            REBLOG,
            status=429,
            json={"error": "Too many requests"},
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            },
        )
        outcome = publish(coalition(ledger, clock), occurrence(BOOST))
    assert outcome.result is Result.DEFERRED
    assert outcome.retry_at == reset


def test_a_boost_sent_before_a_crash_is_not_sent_again(ledger: Ledger, clock: FakeClock) -> None:
    """The bot stopped after the instance answered and before the boost was marked published:
    the status it recorded is the boost."""
    ledger.begin_attempt(BOOST_KEY, BOOST_KEY, POSTED, "")
    ledger.record_part_intent(BOOST_KEY, 0, "key")
    ledger.record_part_published(BOOST_KEY, 0, "1000", f"{PARTNER}/@partner/1000")
    with responses.RequestsMock() as wire:
        serve_search(wire)  # the post is looked up, nothing is boosted
        outcome = publish(coalition(ledger, clock), occurrence(BOOST))
    assert (outcome.result, outcome.urls) == (Result.PUBLISHED, (f"{PARTNER}/@partner/1000",))
    record = ledger.get(BOOST_KEY)
    assert record is not None and record.state is State.PUBLISHED


def test_a_refused_boost_fails_and_says_why(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with responses.RequestsMock() as wire, caplog.at_level("INFO", "bot.publishing.coalition"):
        serve_search(wire)
        wire.post(REBLOG, status=404, json=body("error_404_record_not_found"))
        outcome = publish(coalition(ledger, clock), occurrence(BOOST))
    assert outcome.result is Result.FAILED and outcome.error
    record = ledger.get(BOOST_KEY)
    assert record is not None and record.state is State.FAILED
    assert record.last_error == outcome.error
    assert messages(caplog) == [("ERROR", f"boost failed: {outcome.error}", BOOST_KEY)]


def test_boosts_count_against_the_accounts_status_limit(ledger: Ledger, clock: FakeClock) -> None:
    """A boost is a status: with room for one status per ten minutes, the partner's second
    boost waits ten minutes."""
    accounts = Accounts(ledger, clock)
    accounts.pacers["partner"] = Pacer(
        clock, {**DEFAULT_WINDOWS, "status": Window(1, timedelta(minutes=10))}
    )
    publish_shared(ledger, "story", "112", f"{LEAD}/@lead/112")
    clock.advance(BOOST.after)
    publisher = accounts.coalition()
    boosted_at = []
    for shared in ("launch", "story"):
        due = replace(occurrence(BOOST), key=f"{shared}~boost~partner")
        with responses.RequestsMock() as wire:
            serve_search(wire)
            wire.post(REBLOG, json=status("1000"))
            assert publish(publisher, due).result is Result.PUBLISHED
        boosted_at.append(clock.now())
    assert boosted_at == [START + BOOST.after, START + BOOST.after + timedelta(minutes=10)]
    keys = {part.idempotency_key for key in ("launch", "story") for part in parts(ledger, key)}
    assert len(keys) == 2  # each boost is recorded under its own key


def parts(ledger: Ledger, shared: str) -> list[Any]:
    record = ledger.get(f"{shared}~boost~partner")
    assert record is not None
    return list(record.parts)


# --- a quote ---------------------------------------------------------------------------------


def test_a_quote_is_tried_where_the_instance_does_not_say_whether_it_can(
    ledger: Ledger, clock: FakeClock
) -> None:
    """An instance document without a version: whether it quotes is unknown, so the quote is
    sent as a quote (the instance's answer decides), not turned into a link."""
    unknown = instance("", 0)
    del unknown["api_versions"]
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.get(f"{PARTNER}/api/v2/instance", json=unknown)
        wire.post(f"{PARTNER}/api/v1/statuses", json=status("1001"))
        outcome = publish(coalition(ledger, clock), occurrence(quote(fallback=True)))
        sent = wire.calls[-1].request
    assert "quoted_status_id" in str(sent.body)
    assert outcome.result is Result.PUBLISHED


def test_a_quote_the_instance_cannot_make_fails_with_the_fix(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    key = "launch~quote~partner"
    with responses.RequestsMock() as wire, caplog.at_level("INFO", "bot.publishing.coalition"):
        serve_search(wire)
        wire.get(f"{PARTNER}/api/v2/instance", json=instance("4.3.2", 2))
        outcome = publish(coalition(ledger, clock), occurrence(quote(fallback=False)))
    reason = (
        "the instance of 'partner' cannot publish quote posts (Mastodon 4.5+ can) — add "
        "`fallback: link` to post the text with the link instead"
    )
    assert (outcome.result, outcome.error) == (Result.FAILED, reason)
    record = ledger.get(key)
    assert record is not None and record.state is State.FAILED and record.last_error == reason
    assert record.post_id == key and record.planned_at == POSTED + timedelta(minutes=10)
    assert events(ledger, key) == [("attempt", "attempt 1, content "), ("failed", reason)]
    assert messages(caplog) == [("ERROR", f"quote not sent: {reason}", key)]


def test_a_quote_posted_with_the_link_says_so(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with responses.RequestsMock() as wire, caplog.at_level("INFO", "bot.publishing.coalition"):
        serve_search(wire)
        wire.get(f"{PARTNER}/api/v2/instance", json=instance("4.3.2", 2))
        wire.post(f"{PARTNER}/api/v1/statuses", json=status("1002"))
        outcome = publish(coalition(ledger, clock), occurrence(quote(fallback=True)))
    assert outcome.result is Result.PUBLISHED
    assert messages(caplog) == [
        ("INFO", "the instance cannot quote: posting the link instead", "launch~quote~partner")
    ]


def test_quotes_of_two_posts_are_not_taken_for_repeats(ledger: Ledger, clock: FakeClock) -> None:
    """Two quotes by one account, of two posts: each has its own text, and the second is not
    held back as a repeat of the first."""
    publish_shared(ledger, "story", "112", f"{LEAD}/@lead/112")
    clock.advance(timedelta(minutes=10))
    publisher = coalition(ledger, clock)
    story = Occurrence(
        "story~quote~partner",
        replace(occurrence(quote(fallback=False)).post, id="story~quote~partner"),
        START + timedelta(minutes=10),
        START + timedelta(days=1),
        State.PENDING,
    )
    with responses.RequestsMock() as wire:
        wire.get(f"{PARTNER}/api/v2/search", json={"statuses": [status(ON_PARTNER)]})
        wire.get(f"{PARTNER}/api/v2/instance", json=instance("4.5.0", 7))
        wire.post(f"{PARTNER}/api/v1/statuses", json=status("1003"))
        results = [
            publish(publisher, due).result for due in (occurrence(quote(fallback=False)), story)
        ]
    assert results == [Result.PUBLISHED, Result.PUBLISHED]


def test_a_published_boost_is_not_sent_again_and_keeps_its_address(
    ledger: Ledger, clock: FakeClock
) -> None:
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.post(REBLOG, json=status("1000"))
        publish(coalition(ledger, clock), occurrence(BOOST))
    with responses.RequestsMock():  # nothing is sent
        again = publish(coalition(ledger, clock), occurrence(BOOST))
    assert (again.result, again.urls) == (
        Result.ALREADY_PUBLISHED,
        (f"{PARTNER}/@partner/1000",),
    )


def test_a_boost_the_instance_gives_no_address_is_reported_without_one(
    ledger: Ledger, clock: FakeClock
) -> None:
    """A status without `url` or `uri`: the boost is out, with no address to show (not an
    empty one), also when it is found recorded after a restart."""
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.post(REBLOG, json=status("1000", url=None, uri=None))
        outcome = publish(coalition(ledger, clock), occurrence(BOOST))
    assert (outcome.result, outcome.urls) == (Result.PUBLISHED, ())

    other = replace(BOOST, account="ally")
    key = other.key("launch")
    ledger.begin_attempt(key, key, POSTED, "")
    ledger.record_part_intent(key, 0, "key")
    ledger.record_part_published(key, 0, "56", "")
    with responses.RequestsMock() as wire:
        wire.get(f"{ALLY}/api/v2/search", json={"statuses": [status("55")]})
        resumed = publish(coalition(ledger, clock), occurrence(other))
    assert (resumed.result, resumed.urls) == (Result.PUBLISHED, ())


def test_the_same_instance_is_recognised_whichever_address_has_the_slash(
    ledger: Ledger, clock: FakeClock
) -> None:
    accounts = Accounts(ledger, clock, ally=LEAD, lead=LEAD + "/")
    with responses.RequestsMock() as wire:
        wire.post(f"{LEAD}/api/v1/statuses/111/reblog", json=status("112"))
        outcome = publish(accounts.coalition(), occurrence(replace(BOOST, account="ally")))
        assert len(wire.calls) == 1  # no search
    assert outcome.result is Result.PUBLISHED


def test_an_instance_older_than_the_v2_document_gets_the_link(
    ledger: Ledger, clock: FakeClock
) -> None:
    """Mastodon 3.5 has no /api/v2/instance; its v1 document says it cannot quote."""
    old = body("instance_v1")
    old["version"] = "3.5.3"
    with responses.RequestsMock() as wire:
        serve_search(wire)
        wire.get(f"{PARTNER}/api/v2/instance", status=404, json={"error": "Not Found"})
        wire.get(f"{PARTNER}/api/v1/instance", json=old)
        wire.post(f"{PARTNER}/api/v1/statuses", json=status("1004"))
        outcome = publish(coalition(ledger, clock), occurrence(quote(fallback=True)))
        sent = wire.calls[-1].request
    assert outcome.result is Result.PUBLISHED
    assert parse_qs(str(sent.body))["status"] == [f"We back this.\n\n{SHARED_URL}"]


def test_a_boost_of_a_thread_that_failed_halfway_is_skipped(
    tmp_path: Any, clock: FakeClock
) -> None:
    """The thread's first toot went out, its second was refused: the post failed, and its
    boost is skipped like that of any post that did not go out, not sent for half a thread."""
    with Ledger.open(tmp_path / "other.sqlite3", clock) as fresh:
        fresh.begin_attempt("launch", "launch", POSTED, "h")
        fresh.record_part_intent("launch", 0, "key-0")
        fresh.record_part_published("launch", 0, "111", SHARED_URL)
        fresh.record_part_intent("launch", 1, "key-1")
        fresh.mark_failed("launch", "part 2: text too long")
        clock.set(START)
        with responses.RequestsMock():  # nothing is sent
            outcome = publish(coalition(fresh, clock), occurrence(BOOST))
        reason = (
            "skipped: the post it shares, launch, was never published (failed: part 2: text too "
            "long)"
        )
        assert (outcome.result, outcome.error) == (Result.NOT_SENT, reason)
        record = fresh.get(BOOST_KEY)
        assert record is not None and record.state is State.MISSED
