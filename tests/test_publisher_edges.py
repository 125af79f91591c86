"""The publisher's less travelled paths at the HTTP wire: a stop in the middle of a thread,
media the instance has forgotten, the server's rate-limit count, and the exact outcome and log
line of a post left pending. The instance, ledger and clock are those of test_publisher.py."""

from __future__ import annotations

import dataclasses
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
from bot.mastodon.client import MastodonClient
from bot.publishing.outage import Backoff, InstanceWatch
from bot.publishing.pacing import Pacer, Window
from bot.publishing.publisher import Outcome, Publisher, RetryPolicy, idempotency_key
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


def test_a_post_not_let_through_says_why_with_its_key(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Asked again before its own next try, a post is not sent and says it waits; during an
    outage, another says since when the instance has been unavailable."""
    for _ in range(6):
        instance.then_unavailable()
    publisher = make_publisher(ledger, clock)
    first = publisher.publish(occurrence("first", part(0, "One")))
    again = publisher.publish(occurrence("first", part(0, "One")))
    waiting = "waiting for its own next try after a temporary failure"
    assert again == Outcome("first", Result.DEFERRED, error=waiting, retry_at=first.retry_at)
    publisher.publish(occurrence("second", part(0, "Two")))
    outage = publisher.watch.outage
    assert outage is not None
    held = publisher.publish(occurrence("third", part(0, "Three")))
    assert held == Outcome(
        "third",
        Result.UNAVAILABLE,
        error=f"the instance has been unavailable since {outage.since.isoformat()} (last "
        "answer: 503); waiting for it to answer",
        retry_at=outage.next_try,
    )
    assert len(instance.posts()) == 6


def test_during_an_outage_the_post_after_a_probe_is_tried_once(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """The send that tests an instance just back from an outage gets one try, not the
    policy's three: a failing instance is not hit with a burst."""
    for _ in range(9):
        instance.then_unavailable()
    publisher = make_publisher(ledger, clock)
    publisher.publish(occurrence("first", part(0, "One")))
    publisher.publish(occurrence("second", part(0, "Two")))
    assert publisher.watch.down
    assert len(instance.posts()) == 6
    publisher.watch.probe_passed()
    outcome = publisher.publish(occurrence("third", part(0, "Three")))
    assert outcome.result is Result.UNAVAILABLE
    assert len(instance.posts()) == 7


# --- rate limits -------------------------------------------------------------------------------


def test_a_429_resetting_in_exactly_the_longest_wait_is_waited_out_and_logged(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The policy waits out a reset up to 15 minutes away, that one included, and the
    operator reads how long."""
    clock.set(wire.RESET_1930 - timedelta(seconds=RetryPolicy().max_rate_limit_wait))
    instance.then_refuse(
        429, "error_429_synthesized_from_source", "headers_429_synthesized_from_source"
    )
    with caplog.at_level(logging.INFO, logger="bot.publishing.publisher"):
        outcome = make_publisher(ledger, clock).publish(occurrence("x", part(0, "X")))
    assert outcome.result is Result.PUBLISHED
    assert clock.slept == [pytest.approx(900)]
    assert ("WARNING", "rate limited; waiting 900 s (same Idempotency-Key)", "x") in messages(
        caplog
    )


# --- content that already went out under another id --------------------------------------------


def published_elsewhere(ledger: Ledger, key: str, content_hash: str) -> None:
    """What the ledger holds after another post with this content was published."""
    ledger.begin_attempt(key, key, PLANNED, content_hash)
    ledger.record_part_intent(key, 0, f"k-{key}")
    ledger.record_part_published(key, 0, "990", f"https://x/{key}")
    ledger.mark_published(key)


def same_content(post_id: str, *, repeat: bool = False) -> Occurrence:
    made = occurrence(post_id, part(0, "Once only."))
    post = dataclasses.replace(made.post, content_hash="hash-same", repeat=repeat)
    return dataclasses.replace(made, post=post)


def test_content_published_under_another_id_is_held_back_with_the_reason(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A renamed post (new id, same content) is not sent; the outcome and a warning with its
    post id say where the content went out and how to send it again on purpose."""
    publisher = make_publisher(ledger, clock)
    assert publisher.publish(same_content("original")).result is Result.PUBLISHED
    url = instance.created[0]["url"]
    with caplog.at_level(logging.INFO, logger="bot.publishing.publisher"):
        outcome = publisher.publish(same_content("renamed"))
    reason = (
        "held back: the same content (text, content warning, media) went out as original at "
        f"2026-10-14 19:00 UTC ({url}); was the post renamed? Add `repeat: true` to it to "
        "publish it again on purpose"
    )
    assert outcome == Outcome("renamed", Result.NOT_SENT, error=reason)
    assert messages(caplog) == [("WARNING", reason, "renamed")]
    assert len(instance.posts()) == 1
    assert ledger.get("renamed") is None


def test_a_repeat_or_an_occurrence_already_begun_is_not_held_back(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """`repeat: true` sends the same content on purpose; an occurrence whose sending began
    before the other went out is finished (its first try may already be on the instance)."""
    published_elsewhere(ledger, "original", "hash-same")
    publisher = make_publisher(ledger, clock)
    assert publisher.publish(same_content("again", repeat=True)).result is Result.PUBLISHED
    wire.died_after_intent(ledger, "begun")
    ledger.mark_pending_after_error("begun", "no answer")
    assert publisher.publish(same_content("begun")).result is Result.PUBLISHED
    assert len(instance.posts()) == 2


def test_only_trailing_slashes_of_the_instance_address_are_ignored_in_the_key() -> None:
    """`https://a.example/` and `https://a.example` are one instance; any other last
    character makes another address, and another key."""
    key = idempotency_key("https://a.example", ACCOUNT, "launch", 0)
    assert idempotency_key("https://a.example//", ACCOUNT, "launch", 0) == key
    assert idempotency_key("https://a.exampleX", ACCOUNT, "launch", 0) != key


def test_a_429_resetting_at_once_is_still_given_a_second_and_says_so(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A reset half a second away is waited out for a whole second (the server's clock may be
    behind ours), and the log gives the wait the bot really makes."""
    clock.set(wire.RESET_1930 - timedelta(milliseconds=500))
    instance.then_refuse(
        429, "error_429_synthesized_from_source", "headers_429_synthesized_from_source"
    )
    with caplog.at_level(logging.INFO, logger="bot.publishing.publisher"):
        outcome = make_publisher(ledger, clock).publish(occurrence("x", part(0, "X")))
    assert outcome.result is Result.PUBLISHED
    assert clock.slept == [1.0]
    assert ("WARNING", "rate limited; waiting 1 s (same Idempotency-Key)", "x") in messages(caplog)


def test_a_stop_while_waiting_out_a_429_names_the_rate_limit(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Asked to stop during the wait for a near reset: the reason says it was the rate limit."""
    clock.set(wire.RESET_1930 - timedelta(minutes=5))
    instance.then_refuse(
        429, "error_429_synthesized_from_source", "headers_429_synthesized_from_source"
    )
    asked = iter([False, True])
    outcome = make_publisher(ledger, clock, stop=lambda: next(asked, True)).publish(
        occurrence("x", part(0, "X"))
    )
    assert outcome.result is Result.DEFERRED
    assert outcome.error is not None
    assert outcome.error.startswith(
        "the bot is stopping (the instance's rate limit was reached for the post (429): "
    )
    assert outcome.error.endswith("); it is tried again at the next start")
    assert len(instance.posts()) == 1


def test_a_far_429_holds_back_every_post_until_the_reset(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The rate limit is the account's: after a 429 resetting in 30 minutes, the next post is
    not sent either, and says until when; the first one's log line says why it waits."""
    instance.then_refuse(
        429, "error_429_synthesized_from_source", "headers_429_synthesized_from_source"
    )
    publisher = make_publisher(ledger, clock)
    with caplog.at_level(logging.INFO, logger="bot.publishing.publisher"):
        publisher.publish(occurrence("x", part(0, "X")))
    reason = f"rate limited by the instance until {wire.RESET_1930}"
    assert messages(caplog) == [("WARNING", f"deferred: {reason}", "x")]
    held = publisher.publish(occurrence("y", part(0, "Y")))
    assert held == Outcome(
        "y",
        Result.DEFERRED,
        error=f"rate limited by the instance until {wire.RESET_1930.isoformat()}",
        retry_at=wire.RESET_1930,
    )
    assert len(instance.posts()) == 1
    assert ledger.get("y") is None


@pytest.mark.parametrize("parts", [1, 2])
def test_a_published_post_is_logged_part_by_part_only_when_it_is_a_thread(
    instance: Instance,
    ledger: Ledger,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    parts: int,
) -> None:
    """A single toot gives one line with its URL; a thread of two gives a line per toot,
    then the whole; the outcome names the occurrence and its URLs."""
    post = thread(parts=parts)
    with caplog.at_level(logging.INFO, logger="bot.publishing.publisher"):
        outcome = make_publisher(ledger, clock).publish(post)
    urls = tuple(s["url"] for s in instance.created)
    assert outcome == Outcome("launch", Result.PUBLISHED, urls)
    each = [f"part {i} published: {url}" for i, url in enumerate(urls, start=1)]
    lines = [m[1] for m in messages(caplog)]
    assert lines == (each if parts > 1 else []) + [f"published {' '.join(urls)}"]


def test_a_post_retried_after_a_refusal_starts_its_backoff_afresh(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A post that failed for a while and was then refused for good has its failures
    forgotten: after `retry`, its next temporary failure waits the first step of the backoff,
    not the second."""
    watch = InstanceWatch(clock, rng=random.Random(5))  # noqa: S311 - jitter, not secrets
    publisher = Publisher(
        MastodonClient(BASE, wire.TOKEN, clock=clock),
        ledger,
        clock,
        instance=BASE,
        account_id=ACCOUNT,
        honours_idempotency_keys=True,
        rng=random.Random(7),  # noqa: S311 - jitter, not secrets
        watch=watch,
    )
    for _ in range(3):
        instance.then_unavailable()
    first = publisher.publish(occurrence("x", part(0, "X")))
    failed_at = clock.now()
    assert first.retry_at is not None
    clock.set(first.retry_at)
    instance.then_refuse(422, "error_422_text_too_long_de", "headers_post_status_422")
    assert publisher.publish(occurrence("x", part(0, "X"))).result is Result.FAILED
    ledger.retry("x")
    for _ in range(3):
        instance.then_unavailable()
    again = publisher.publish(occurrence("x", part(0, "X")))
    # The same draws from the same seed: the first failure's wait, then a first step again.
    replica = random.Random(5)  # noqa: S311 - jitter, not secrets
    first_wait = Backoff().delay(1, replica)
    assert first.retry_at == failed_at + timedelta(seconds=first_wait)
    assert again.retry_at == clock.now() + timedelta(seconds=Backoff().delay(1, replica))
