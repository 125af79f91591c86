"""The pacer on its own: its sliding windows, the server's own count, and what it logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.clock import FakeClock
from bot.publishing.pacing import HEADROOM, Pacer, Window

START = datetime(2026, 10, 14, 19, 0, tzinfo=UTC)
_M = timedelta(minutes=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def test_every_request_counts_against_the_tokens_request_window(clock: FakeClock) -> None:
    """Mastodon allows 300 requests per 5 minutes per token, whatever they are for: after 270
    searches (90 %), a status waits until the oldest of them leaves the window, though no
    status was sent yet."""
    pacer = Pacer(clock)
    for _ in range(int(300 * HEADROOM)):
        pacer.wait_for("search")
    assert clock.slept == []
    assert pacer.delay("status") == pytest.approx(300)
    clock.advance(timedelta(seconds=1))
    assert pacer.delay("status") == pytest.approx(299)
    pacer.wait_for("status")
    assert clock.slept == [pytest.approx(299)]


def test_a_status_waits_only_for_the_windows_it_belongs_to(clock: FakeClock) -> None:
    """A full status window holds back statuses, not the searches of the same token."""
    pacer = Pacer(clock, {"status": Window(5, timedelta(hours=3)), "request": Window(100, _M)})
    for _ in range(4):
        pacer.wait_for("status")
    assert pacer.delay("status") == pytest.approx(3 * 3600)
    assert pacer.delay("search") == 0


@pytest.mark.parametrize("limit", [1, 2])
def test_a_window_too_small_for_the_headroom_still_lets_one_through(
    clock: FakeClock, limit: int
) -> None:
    """90 % of a limit of 1 or 2 rounds down below 2: one request per period, not none and
    not two."""
    pacer = Pacer(clock, {"status": Window(limit, _M), "request": Window(100, _M)})
    assert pacer.delay("status") == 0
    pacer.wait_for("status")
    assert pacer.delay("status") == pytest.approx(60)


@pytest.mark.parametrize(
    ("remaining", "wait"),
    [
        (0, 60.0),  # nothing left: wait for the reset
        (1, 30.0),  # spread what is left over the rest of the window
        (9, 6.0),
        (10, 0.0),  # ten or more left: no need to spread
        (11, 0.0),
    ],
)
def test_few_requests_left_on_the_server_are_spread_to_its_reset(
    clock: FakeClock, remaining: int, wait: float
) -> None:
    """The server's X-RateLimit-Remaining under 10: the next request waits 1/(n+1) of the time
    to the reset; none left: the whole time."""
    pacer = Pacer(clock)
    pacer.observe(remaining, clock.now() + _M)
    assert pacer.delay("status") == pytest.approx(wait)


@pytest.mark.parametrize(
    ("remaining", "reset_in"),
    [(None, _M), (3, None), (0, timedelta(0)), (0, -timedelta(seconds=1))],
    ids=["no count", "no reset", "reset now", "reset past"],
)
def test_a_partial_or_past_server_report_holds_nothing_back(
    clock: FakeClock, remaining: int | None, reset_in: timedelta | None
) -> None:
    """Without both a count and a reset still ahead, only the pacer's own windows count."""
    pacer = Pacer(clock)
    pacer.observe(remaining, None if reset_in is None else clock.now() + reset_in)
    assert pacer.delay("status") == 0
    pacer.wait_for("status")
    assert clock.slept == []


def test_a_wait_shorter_than_a_second_is_still_waited(clock: FakeClock) -> None:
    """The server's window resets in half a second with nothing left: the pacer waits exactly
    that long."""
    pacer = Pacer(clock)
    pacer.observe(0, clock.now() + timedelta(milliseconds=500))
    pacer.wait_for("status")
    assert clock.slept == [0.5]


def test_the_wait_is_logged_with_its_length_and_the_limit_it_keeps(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator reads how long the bot waits and for which limit; no wait, no line."""
    pacer = Pacer(clock, {"media": Window(2, _M), "request": Window(100, _M)})
    with caplog.at_level(logging.INFO, logger="bot.publishing.pacing"):
        pacer.wait_for("media")
        clock.advance(timedelta(seconds=15))
        pacer.wait_for("media")
    assert clock.slept == [pytest.approx(45)]
    assert [r.getMessage() for r in caplog.records] == [
        "pacing: waiting 45 s to stay under the media rate limit"
    ]
