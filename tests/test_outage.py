"""The instance watch on its own: backoff, the outage's life, and what it says."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.clock import FakeClock
from bot.mastodon.types import TransientError
from bot.publishing.outage import Backoff, InstanceWatch, Outage, answer_of

START = datetime(2026, 12, 1, 9, 31, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")


def bad_gateway() -> TransientError:
    return TransientError(
        "the instance had a temporary problem (502): Bad Gateway", http_status=502
    )


def test_backoff_grows_with_full_jitter_up_to_the_cap() -> None:
    backoff = Backoff(first=10, cap=180, floor=2)
    rng = random.Random(3)  # noqa: S311 - jitter, not secrets
    for failures, ceiling in [(1, 10), (2, 20), (3, 40), (5, 160), (6, 180), (30, 180)]:
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert min(delays) >= 2
        assert max(delays) <= ceiling
        # Full jitter: spread over the whole range, not bunched at the top.
        assert min(delays) < ceiling / 3


def test_an_outage_grows_its_wait_and_is_saved_and_read_back() -> None:
    clock = FakeClock(START)
    saved: list[str] = []
    watch = InstanceWatch(clock, rng=random.Random(1), save=saved.append)  # noqa: S311
    assert not watch.failed("a", bad_gateway())
    assert watch.may_send("b")
    assert not watch.may_send("a")
    clock.advance(timedelta(seconds=1))
    assert watch.failed("b", bad_gateway())
    assert watch.down and not watch.may_send("c")
    assert watch.outage is not None and watch.outage.since == START
    for _ in range(10):
        watch.probe_failed(TransientError("could not reach the instance for x: refused"))
    assert watch.outage.failures == 11
    assert watch.outage.last_answer == "no connection"
    assert watch.outage.next_try - clock.now() <= timedelta(seconds=180)

    again = InstanceWatch(clock, load=lambda: saved[-1])
    assert again.outage == watch.outage
    assert not again.may_send("c")

    watch.probe_passed()
    assert watch.may_send("c")
    watch.settle_probe()  # nothing was waiting: the answer alone ends it
    assert not watch.down
    assert saved[-1] == ""
    recovery = watch.take_recovery()
    assert recovery is not None and recovery.lasted == timedelta(seconds=1)
    assert watch.take_recovery() is None


def test_a_failed_send_after_the_probe_keeps_the_outage() -> None:
    clock = FakeClock(START)
    watch = InstanceWatch(clock)
    watch.probe_failed(bad_gateway())
    watch.probe_passed()
    assert watch.failed("a", bad_gateway())
    assert watch.down and not watch.may_send("a")
    assert watch.outage is not None and watch.outage.failures == 2


def test_the_outage_says_when_and_what_in_local_time() -> None:
    outage = Outage(START, "502", 4, START + timedelta(minutes=3))
    until = START + timedelta(hours=2, minutes=9)
    assert outage.window(until, LONDON) == (
        "the instance was unavailable from 2026-12-01 09:31 GMT to 2026-12-01 11:40 GMT; "
        "last answer: 502"
    )
    assert outage.summary(LONDON).startswith("instance unavailable since 2026-12-01 09:31 GMT")
    assert Outage.from_json(outage.to_json()) == outage
    assert Outage.from_json("{broken") is None
    assert Outage.from_json("") is None


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        (TransientError("x (503): y", http_status=503), "503"),
        (TransientError("the instance did not answer the post within 30 s"), "no answer (timeout)"),
        (TransientError("could not reach the instance for the post: refused"), "no connection"),
        (
            TransientError("the instance answered the post with something that is not JSON (None)"),
            "an answer that could not be read",
        ),
        (
            TransientError("the instance sent a status that cannot be read (KeyError('id'))"),
            "an answer that could not be read",
        ),
    ],
)
def test_answer_of(error: TransientError, answer: str) -> None:
    assert answer_of(error) == answer


class _Top(random.Random):
    """Jitter that always draws the top of its range, so every wait is the backoff's ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_reaches_its_ceiling_and_jitters_down_to_zero() -> None:
    """Each step's waits spread over the whole range, from 0 (then the floor) up to
    min(cap, first * 2**(n-1))."""
    backoff = Backoff(first=10, cap=180, floor=0)
    rng = random.Random(5)  # noqa: S311 - jitter, not secrets
    for failures, ceiling in [(1, 10), (2, 20), (3, 40), (5, 160), (6, 180)]:
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert max(delays) > 0.9 * ceiling
        assert min(delays) < 1


def test_a_posts_own_waits_grow_with_its_failures_and_end_with_an_answer() -> None:
    """A post that fails alone waits the backoff's first step, then the next one if it fails
    again; once it gets through, its next failure starts from the first step again."""
    clock = FakeClock(START)
    watch = InstanceWatch(clock, rng=_Top())
    assert watch.next_try("a") is None
    assert not watch.failed("a", bad_gateway())
    assert watch.next_try("a") == START + timedelta(seconds=10)
    assert watch.why_not("a") == "waiting for its own next try after a temporary failure"
    watch.answered("b")  # another post went through: the instance is not suspect any more
    clock.advance(timedelta(seconds=10))
    assert watch.may_send("a")
    assert not watch.failed("a", bad_gateway())
    assert watch.next_try("a") == clock.now() + timedelta(seconds=20)
    watch.answered("a")
    assert watch.may_send("a") and watch.next_try("a") is None
    assert not watch.failed("a", bad_gateway())
    assert watch.next_try("a") == clock.now() + timedelta(seconds=10)


def test_an_outage_probes_at_growing_intervals_and_keeps_the_last_answer() -> None:
    clock = FakeClock(START)
    watch = InstanceWatch(clock, rng=_Top())
    watch.failed("a", bad_gateway())
    assert watch.failed("b", TransientError("x (503): y", http_status=503))
    assert watch.outage is not None
    assert (watch.outage.last_answer, watch.outage.next_try) == (
        "503",
        START + timedelta(seconds=10),
    )
    assert watch.failed("c", TransientError("x (504): y", http_status=504))
    assert watch.outage.last_answer == "504"
    watch.probe_failed(bad_gateway())
    assert watch.outage.next_try == START + timedelta(seconds=40)  # the third failure
    assert watch.next_try() == watch.next_try("a") == watch.outage.next_try
    assert not watch.may_send("a")


def test_an_outage_found_by_the_probe_waits_the_first_step() -> None:
    clock = FakeClock(START)
    watch = InstanceWatch(clock, rng=_Top())
    watch.probe_failed(bad_gateway())
    assert watch.outage is not None
    assert (watch.outage.last_answer, watch.outage.next_try) == (
        "502",
        START + timedelta(seconds=10),
    )
    assert not watch.may_send("a")


def test_a_failed_probe_takes_back_the_passed_one() -> None:
    """A probe that fails after one that answered lets nothing through, and settling it does
    not end the outage."""
    watch = InstanceWatch(FakeClock(START))
    watch.probe_failed(bad_gateway())
    watch.probe_passed()
    watch.probe_failed(bad_gateway())
    assert not watch.may_send("a")
    watch.settle_probe()
    assert watch.down


def test_a_rate_limit_holds_every_post_until_its_reset() -> None:
    clock = FakeClock(START)
    watch = InstanceWatch(clock, rng=_Top())
    reset = START + timedelta(seconds=1)
    watch.failed("a", bad_gateway())  # "a" waits 10 s of its own
    watch.hold_until(reset)
    assert not watch.may_send("b")
    assert watch.why_not("b") == f"rate limited by the instance until {reset.isoformat()}"
    assert watch.next_try() == watch.next_try("b") == reset
    assert watch.next_try("a") == START + timedelta(seconds=10)
    clock.advance(timedelta(seconds=1))
    assert watch.may_send("b")
    assert watch.why_not("a") == "waiting for its own next try after a temporary failure"


def test_the_alert_is_remembered_with_the_outage() -> None:
    """`mark_alerted` is saved with the outage, so a restarted bot does not alert again; an
    outage saved before the mark existed counts as not alerted."""
    saved: list[str] = []
    watch = InstanceWatch(FakeClock(START), save=saved.append)
    watch.mark_alerted()  # no outage: nothing to mark
    assert saved == [] and watch.outage is None
    watch.probe_failed(bad_gateway())
    watch.mark_alerted()
    assert watch.outage is not None and watch.outage.alerted
    again = Outage.from_json(saved[-1])
    assert again is not None and again.alerted
    old = '{"since": "2026-12-01T09:31:00+00:00", "last_answer": "502", "failures": 1, '
    old += '"next_try": "2026-12-01T09:31:10+00:00"}'
    assert Outage.from_json(old) == Outage(START, "502", 1, START + timedelta(seconds=10))


def test_the_end_of_an_outage_is_logged_with_how_long_it_lasted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(START)
    watch = InstanceWatch(clock)
    watch.probe_failed(bad_gateway())
    clock.advance(timedelta(hours=2, minutes=9))
    with caplog.at_level("INFO", logger="bot.publishing.outage"):
        watch.answered("a")
    assert [r.getMessage() for r in caplog.records] == ["the instance answers again, after 2h9m"]
    assert not watch.down
