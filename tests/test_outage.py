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
    ],
)
def test_answer_of(error: TransientError, answer: str) -> None:
    assert answer_of(error) == answer
