"""Deleting and editing published statuses try a blip again like a send: a jittered backoff, a
429 not before the instance's reset, and never past the policy's tries or rate-limit wait.
`withdraw` and `amend` share that one rule (bot/publishing/status_work.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import responses

from bot.core.clock import FakeClock
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import RateLimited, TransientError
from bot.publishing.publisher import RetryPolicy
from bot.publishing.status_work import StatusWork
from bot.publishing.withdraw import Withdrawer
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger

BASE = "https://campaign.example"
START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
STATUS = f"{BASE}/api/v1/statuses/1"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def work(ledger: Ledger, clock: FakeClock, **policy: float) -> StatusWork[None]:
    store = Amendments(ledger, clock)
    rng = random.Random(7)  # noqa: S311 - jitter, not security
    return StatusWork(None, store, clock, policy=RetryPolicy(**policy), rng=rng)


def limited(seconds: float) -> RateLimited:
    return RateLimited("rate limited", http_status=429, retry_at=START + timedelta(seconds=seconds))


def test_a_blip_is_tried_again_after_a_growing_jittered_wait_until_the_tries_are_used(
    ledger: Ledger, clock: FakeClock
) -> None:
    """Full jitter below a doubling ceiling (1, 2, then capped at 3 s); the 4th failure ends it."""
    retrying = work(ledger, clock, attempts=4, base_delay=1.0, max_delay=3.0)
    blip = TransientError("no connection")
    waits = [retrying.retry_delay(blip, attempt) for attempt in (1, 2, 3)]
    assert [w is not None for w in waits] == [True, True, True]
    first, second, third = (w or 0.0 for w in waits)
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0 and 1.5 <= third <= 3.0
    assert retrying.retry_delay(blip, 4) is None


def test_a_429_waits_for_the_reset_unless_it_is_further_than_the_policy_waits(
    ledger: Ledger, clock: FakeClock
) -> None:
    """A 429 waits until its reset (at least the backoff), up to max_rate_limit_wait."""
    retrying = work(ledger, clock, max_rate_limit_wait=900.0)
    assert retrying.retry_delay(limited(60), 1) == 60.0
    assert retrying.retry_delay(limited(900), 1) == 900.0
    assert retrying.retry_delay(limited(901), 1) is None
    # A reset already past leaves the backoff; a 429 also counts as a try.
    assert (retrying.retry_delay(limited(-5), 1) or 0.0) <= 1.0
    assert retrying.retry_delay(limited(60), 3) is None
    # Only a 429 says when to come back; another blip's time is not waited for.
    later = TransientError("503", http_status=503, retry_at=START + timedelta(seconds=600))
    assert (retrying.retry_delay(later, 1) or 0.0) <= 1.0


def spent(reset: datetime) -> dict[str, str]:
    """The rate-limit headers of a 429: nothing left until `reset`."""
    return {
        "X-RateLimit-Limit": "30",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset.isoformat(),
    }


def _published(ledger: Ledger) -> None:
    ledger.begin_attempt("p", "p", START, "h")
    ledger.record_part_intent("p", 0, "k")
    ledger.record_part_published("p", 0, "1", "https://x/1")
    ledger.mark_published("p")


@responses.activate
def test_withdraw_waits_out_a_429_then_deletes(ledger: Ledger, clock: FakeClock) -> None:
    """A deletion refused with a 429 is sent again once the limit resets, on the bot's clock."""
    _published(ledger)
    reset = START + timedelta(seconds=120)
    responses.delete(STATUS, status=429, json={"error": "Too many"}, headers=spent(reset))
    responses.delete(STATUS, json={"id": "1"})
    client = MastodonClient(BASE, "token-not-shown", clock=clock)
    withdrawer = Withdrawer(client, Amendments(ledger, clock), clock, rng=random.Random(1))  # noqa: S311
    record = ledger.get("p")
    done = withdrawer.withdraw("p", "p", START, record)
    assert done.deleted == ("https://x/1",)
    assert clock.now() >= START + timedelta(seconds=120)


@responses.activate
def test_withdraw_gives_up_on_a_429_reset_too_far_away(ledger: Ledger, clock: FakeClock) -> None:
    """A reset two hours away is not waited for: the 429 is reported after one request."""
    _published(ledger)
    reset = START + timedelta(hours=2)
    responses.delete(STATUS, status=429, json={"error": "Too many"}, headers=spent(reset))
    client = MastodonClient(BASE, "token-not-shown", clock=clock)
    withdrawer = Withdrawer(client, Amendments(ledger, clock), clock, rng=random.Random(1))  # noqa: S311
    with pytest.raises(RateLimited):
        withdrawer.withdraw("p", "p", START, ledger.get("p"))
    assert clock.now() < START + timedelta(minutes=1)
    assert len(responses.calls) == 1


def test_the_jitter_comes_from_the_random_source_given_or_a_fresh_one(
    ledger: Ledger, clock: FakeClock
) -> None:
    """A seeded source makes the waits repeatable; without one, a blip still gets a wait."""
    store = Amendments(ledger, clock)
    blip = TransientError("no connection")
    seeded = StatusWork(None, store, clock, rng=random.Random(11))  # noqa: S311
    expected = RetryPolicy().backoff(1, random.Random(11))  # noqa: S311
    assert seeded.retry_delay(blip, 1) == expected
    fresh = StatusWork(None, store, clock).retry_delay(blip, 1)
    assert fresh is not None and 0.5 <= fresh <= 1.0
