"""The publisher's less travelled paths at the HTTP wire: a stop in the middle of a thread,
media the instance has forgotten, the server's rate-limit count, and the exact outcome and log
line of a post left pending. The instance, ledger and clock are those of test_publisher.py."""

from __future__ import annotations

import json
import logging
import random
from datetime import timedelta
from typing import Any

import pytest
import test_publisher as wire
from test_publisher import (
    ACCOUNT,
    BASE,
    MEDIA,
    PLANNED,
    Instance,
    body,
    form,
    headers,
    make_publisher,
    occurrence,
    part,
    thread,
)

from bot.core.clock import FakeClock
from bot.core.posts import MediaFile
from bot.core.states import Result, State
from bot.publishing.pacing import Pacer, Window
from bot.publishing.publisher import Outcome, RetryPolicy, idempotency_key
from bot.schedule.planner import Occurrence
from bot.storage.ledger import Ledger
from bot.storage.media import record_upload

# The fixtures of test_publisher.py: the recorded instance, a real ledger, the fake clock.
clock = wire.clock
ledger = wire.ledger
instance = wire.instance
image = wire.image
no_real_sleep = wire.no_real_sleep

UNAVAILABLE = (
    "the instance had a temporary problem with the post (503): There was a temporary problem "
    "serving your request, please try again"
)
HOUR = timedelta(hours=1)


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, object]]:
    """(level, message, post id) of each line the publisher logged."""
    return [
        (r.levelname, r.getMessage(), getattr(r, "post_id", None))
        for r in caplog.records
        if r.name == "bot.publishing.publisher"
    ]


# --- a stop asked for in the middle ------------------------------------------------------------


def test_a_stop_between_two_parts_leaves_the_rest_for_the_next_start(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Asked to stop after the first toot of a thread: the rest is not sent, the occurrence
    stays pending, and the reason says when the rest goes out."""
    asked = iter([False, True])
    publisher = make_publisher(ledger, clock, stop=lambda: next(asked, True))
    reason = "the bot is stopping; the rest goes out at the next start"
    assert publisher.publish(thread(parts=3)) == Outcome("launch", Result.DEFERRED, error=reason)
    assert len(instance.posts()) == 1
    record = ledger.get("launch")
    assert record is not None
    assert record.state is State.PENDING
    assert record.last_error == reason
    assert [p.status_id is not None for p in record.parts] == [True]


def test_a_stop_during_a_retry_pause_says_what_failed(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Asked to stop while waiting to retry a 503: the reason names the failure and when the
    post is tried again."""
    instance.then_unavailable()
    asked = iter([False, True])
    publisher = make_publisher(ledger, clock, stop=lambda: next(asked, True))
    outcome = publisher.publish(occurrence("x", part(0, "X")))
    reason = f"the bot is stopping ({UNAVAILABLE}); it is tried again at the next start"
    assert outcome == Outcome("x", Result.DEFERRED, error=reason)
    assert len(instance.posts()) == 1
    record = ledger.get("x")
    assert record is not None and record.last_error == reason


# --- the pause before an in-line retry ---------------------------------------------------------


def test_a_503_is_retried_after_the_jittered_backoff_alone(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A 503 says nothing about when to come back: the pause is the policy's backoff for the
    first retry (under a second here), no more."""
    instance.then_unavailable()
    assert make_publisher(ledger, clock).publish(occurrence("x", part(0, "X"))).result == (
        Result.PUBLISHED
    )
    # make_publisher seeds the jitter with 7.
    expected = RetryPolicy().backoff(1, random.Random(7))  # noqa: S311 - jitter, not secrets
    assert expected < 1
    assert clock.slept == [expected]


# --- media the instance no longer has ----------------------------------------------------------


def recurring(key: str, *parts: Any) -> Occurrence:
    """An occurrence of a repeating post: its key is the post id, `@` and the planned time."""
    single = occurrence("pic", *parts)
    return Occurrence(key, single.post, single.planned_at, single.deadline, "pending")


def test_media_the_instance_forgot_are_uploaded_again_and_sent_with_the_same_key(
    instance: Instance,
    ledger: Ledger,
    clock: FakeClock,
    image: MediaFile,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An upload recorded by an earlier run is refused when attached (Mastodon removes
    unattached media after a day): the file is uploaded again, the post sent once more with
    the new id and the same Idempotency-Key, the ledger notes why, the log says so, and both
    sends count against the status rate limit."""
    key = "pic@2026-10-14T18:59:00Z"
    ledger.begin_attempt(key, "pic", PLANNED, "hash-pic")
    record_upload(ledger, key, 0, 0, "110000000000000001")
    refusal = "Media 110000000000000001 not found or already attached to another post"
    instance.script.append(lambda request: (422, {}, json.dumps({"error": refusal})))
    instance.mock.post(MEDIA, json=body("media_v2_image_200"))
    pacer = Pacer(clock, {"status": Window(3, HOUR), "request": Window(100, HOUR)})
    publisher = make_publisher(ledger, clock, pacer=pacer)
    with caplog.at_level(logging.INFO, logger="bot.publishing.publisher"):
        outcome = publisher.publish(recurring(key, part(0, "Look.", media=(image,))))

    assert outcome.result is Result.PUBLISHED
    first, second = instance.posts()
    assert form(first)["media_ids[]"] == ["110000000000000001"]
    assert form(second)["media_ids[]"] == [body("media_v2_image_200")["id"]]
    assert form(second)["status"] == ["Look."]
    idem = idempotency_key(BASE, ACCOUNT, key, 0)
    assert [r.headers["Idempotency-Key"] for r in (first, second)] == [idem, idem]
    assert len([c for c in instance.mock.calls if c.request.url == MEDIA]) == 1
    (forgotten,) = [e for e in ledger.events(key) if e.kind == "media-forgotten"]
    assert forgotten.part_index == 0
    assert forgotten.detail == f"the instance rejected the post (422): {refusal}"
    assert [m for m in messages(caplog) if m[0] == "WARNING"] == [
        (
            "WARNING",
            "part 1: the instance no longer has its uploaded media (the instance rejected the post "
            f"(422): {refusal}); uploading again",
            "pic",
        )
    ]
    assert pacer.delay("status") == pytest.approx(HOUR.total_seconds())


# --- the server's own rate-limit count ---------------------------------------------------------


def test_the_servers_remaining_count_paces_the_next_post(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """The answer to a post says 2 requests are left until the reset a minute away: the next
    post waits a third of that minute, as the pacer spreads the last few requests."""
    reset = clock.now() + timedelta(minutes=1)

    def busy(request: Any) -> tuple[int, dict[str, str], str]:
        status, _, text = instance.accept(request)
        # The recorded answer's headers, with the count and reset a busy account would see.
        report = {
            **headers("headers_post_status_200"),
            "x-ratelimit-remaining": "2",
            "x-ratelimit-reset": reset.isoformat().replace("+00:00", "Z"),
        }
        return status, report, text

    instance.script.append(busy)
    publisher = make_publisher(ledger, clock)
    assert publisher.publish(occurrence("a", part(0, "A"))).result is Result.PUBLISHED
    assert clock.slept == []
    assert publisher.publish(occurrence("b", part(0, "B"))).result is Result.PUBLISHED
    assert clock.slept == [pytest.approx(20)]


# --- a post left pending: its outcome and the operator's line ----------------------------------


def test_a_post_left_pending_says_which_part_failed_and_when_it_is_tried_again(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A reply failing three times: the outcome and the log line name the occurrence and the
    part as people count it, and give the time of the next try; then a second post failing
    makes the instance unavailable, and its line says the instance is tried again then."""
    instance.then_accept()
    for _ in range(6):
        instance.then_unavailable()
    publisher = make_publisher(ledger, clock)
    with caplog.at_level(logging.INFO, logger="bot.publishing.publisher"):
        first = publisher.publish(thread(parts=2))
        second = publisher.publish(occurrence("other", part(0, "Other")))

    reason = f"launch, part 2 of 2 (reply 1): {UNAVAILABLE}"
    retry_at = first.retry_at
    assert retry_at is not None
    assert first == Outcome("launch", Result.DEFERRED, error=reason, retry_at=retry_at)
    record = ledger.get("launch")
    assert record is not None and record.last_error == reason

    outage = publisher.watch.next_try()
    assert outage is not None
    assert second == Outcome(
        "other", Result.UNAVAILABLE, error=f"other: {UNAVAILABLE}", retry_at=outage
    )
    pending = [m for m in messages(caplog) if m[1].startswith("not sent")]
    assert pending == [
        (
            "WARNING",
            f"not sent: {reason}; it stays pending and is tried again at {retry_at.isoformat()}",
            "launch",
        ),
        (
            "WARNING",
            f"not sent, the instance is unavailable: other: {UNAVAILABLE}; it stays pending, "
            f"and the instance is tried again at {outage.isoformat()}",
            "other",
        ),
    ]
    retries = [m for m in messages(caplog) if "retrying in" in m[1]]
    assert {m[2] for m in retries} == {"launch", "other"}


def test_a_refused_post_is_logged_as_an_error_with_its_post_id(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator's error line for a refusal gives the reason, tagged with the post id."""
    instance.then_refuse(422, "error_422_text_too_long_de", "headers_post_status_422")
    with caplog.at_level(logging.INFO, logger="bot.publishing.publisher"):
        outcome = make_publisher(ledger, clock).publish(occurrence("long", part(0, "Zu lang")))
    assert messages(caplog) == [("ERROR", f"failed: {outcome.error}", "long")]


@pytest.mark.parametrize("where", ["first", "second"])
def test_a_404_says_the_thread_lost_its_start_only_when_an_earlier_part_is_out(
    instance: Instance, ledger: Ledger, clock: FakeClock, where: str
) -> None:
    """A 404 on the first toot (say, a quoted post deleted meanwhile) is not blamed on the
    thread: nothing of it was out yet. On a reply, it is."""
    if where == "second":
        instance.then_accept()
    instance.then_refuse(404, "error_404_record_not_found")
    outcome = make_publisher(ledger, clock).publish(thread(parts=2))
    assert outcome.result is Result.FAILED
    assert outcome.error is not None
    gone = "the earlier part of the thread is gone" in outcome.error
    assert gone is (where == "second")
    if where == "first":
        assert outcome.error.startswith("launch, part 1 of 2 (the post): the instance rejected")
        assert "change the post in its file" in outcome.error


# --- looking for an earlier attempt ------------------------------------------------------------


def test_a_newer_status_of_another_occurrence_does_not_hide_ours(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """The account's newest status belongs to another occurrence; ours, older, is still found
    below it and adopted, not sent again."""
    wire.died_after_intent(ledger, "solo")
    attempt = clock.now()
    clock.advance(wire.KEY_MEMORY + timedelta(minutes=1))
    ledger.begin_attempt("later", "later", PLANNED, "hash-later")
    ledger.record_part_intent("later", 0, "k-later")
    ledger.record_part_published("later", 0, "905", "https://x/905")
    ledger.mark_published("later")
    instance.serve_account_statuses(
        [
            wire.remote("904", "Once only.", attempt + timedelta(seconds=1)),
            wire.remote("905", "Later.", attempt + timedelta(minutes=30)),
        ]
    )
    outcome = make_publisher(ledger, clock).publish(occurrence("solo", part(0, "Once only.")))
    assert outcome.result is Result.PUBLISHED
    assert instance.posts() == []
    record = ledger.get("solo")
    assert record is not None and record.parts[0].status_id == "904"
