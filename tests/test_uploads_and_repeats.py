"""Two ledger memories in detail: media uploaded for a part (kept, reused, forgotten, paced) and
content already published under another post id (held back) — on a real ledger file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.storage.ledger import Ledger
from bot.storage.media import (
    MEDIA_KEPT,
    UploadedMedia,
    forget_uploads,
    record_upload,
    uploads_since,
    usable_uploads,
)
from bot.storage.repeats import REPEATS, EarlierPost, held_back, published_with_content

START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


# --- media uploads --------------------------------------------------------------------------


def test_an_upload_is_remembered_per_part_and_position_and_replaced(
    ledger: Ledger, clock: FakeClock
) -> None:
    record_upload(ledger, "a", 0, 1, "m1")
    record_upload(ledger, "a", 0, 0, "m0")
    record_upload(ledger, "a", 1, 0, "other part")
    record_upload(ledger, "b", 0, 0, "other post")
    clock.advance(timedelta(minutes=3))
    record_upload(ledger, "a", 0, 1, "m1 again")
    assert usable_uploads(ledger, "a", 0) == {
        0: UploadedMedia(0, "m0", START),
        1: UploadedMedia(1, "m1 again", START + timedelta(minutes=3)),
    }
    assert list(usable_uploads(ledger, "a", 0)) == [0, 1]
    assert usable_uploads(ledger, "a", 1) == {0: UploadedMedia(0, "other part", START)}
    events = [(e.at, e.part_index, e.kind, e.detail) for e in ledger.events("a")]
    assert events[-1] == (
        START + timedelta(minutes=3),
        0,
        "media-uploaded",
        "attachment 1: media m1 again",
    )
    assert [e[1] for e in events] == [0, 0, 1, 0]


def test_an_upload_is_trusted_until_it_is_as_old_as_media_kept(
    ledger: Ledger, clock: FakeClock
) -> None:
    record_upload(ledger, "a", 0, 0, "m0")
    clock.advance(MEDIA_KEPT - timedelta(microseconds=1))
    assert list(usable_uploads(ledger, "a", 0)) == [0]
    clock.advance(timedelta(microseconds=1))
    assert usable_uploads(ledger, "a", 0) == {}


def test_forgetting_drops_only_that_part_and_says_why_once(
    ledger: Ledger, clock: FakeClock
) -> None:
    record_upload(ledger, "a", 0, 0, "m0")
    record_upload(ledger, "a", 0, 1, "m1")
    record_upload(ledger, "a", 1, 0, "n0")
    clock.advance(timedelta(minutes=1))
    forget_uploads(ledger, "a", 0, "the instance answered 404 for media m0")
    assert usable_uploads(ledger, "a", 0) == {}
    assert list(usable_uploads(ledger, "a", 1)) == [0]
    last = ledger.events("a")[-1]
    assert (last.at, last.part_index, last.kind, last.detail) == (
        START + timedelta(minutes=1),
        0,
        "media-forgotten",
        "the instance answered 404 for media m0",
    )
    forget_uploads(ledger, "a", 0, "again")  # nothing left: nothing written
    forget_uploads(ledger, "b", 0, "never uploaded")
    assert [e.kind for e in ledger.events("a")].count("media-forgotten") == 1
    assert ledger.events("b") == []


def test_uploads_since_counts_those_after_the_moment_for_the_chosen_posts(
    ledger: Ledger, clock: FakeClock
) -> None:
    record_upload(ledger, "a", 0, 0, "m0")
    clock.advance(timedelta(minutes=1))
    record_upload(ledger, "b", 0, 0, "n0")
    ledger.record_event("a", "note", "not an upload")
    clock.advance(timedelta(minutes=1))
    record_upload(ledger, "a", 0, 1, "m1")
    forget_uploads(ledger, "a", 0, "404")  # forgotten uploads still count
    minute = timedelta(minutes=1)
    assert uploads_since(ledger, START - minute) == [START, START + minute, START + 2 * minute]
    assert uploads_since(ledger, START) == [START + minute, START + 2 * minute]
    assert uploads_since(ledger, START - minute, lambda key: key == "a") == [
        START,
        START + 2 * minute,
    ]


# --- content already published under another post id ---------------------------------------


def publish(ledger: Ledger, key: str, post_id: str, content_hash: str, parts: int = 1) -> None:
    ledger.begin_attempt(key, post_id, START, content_hash)
    for i in range(parts):
        ledger.record_part_intent(key, i, f"idem-{key}-{i}")
        ledger.record_part_published(key, i, f"s-{key}-{i}", f"https://x/{key}/{i}")
    ledger.mark_published(key)


def test_the_latest_publication_of_the_content_under_another_post_is_found(
    ledger: Ledger, clock: FakeClock
) -> None:
    publish(ledger, "old", "old", "h", parts=2)
    clock.advance(timedelta(hours=1))
    publish(ledger, "newer", "newer", "h", parts=2)
    clock.advance(timedelta(hours=1))
    publish(ledger, "other", "other", "different")
    publish(ledger, "mine", "renamed", "h")  # the post asking does not count itself
    ledger.begin_attempt("sending", "sending", START, "h")  # nor what is not published
    ledger.begin_attempt("failed", "failed", START, "h")
    ledger.mark_failed("failed", "422")
    found = published_with_content(ledger, "h", other_than="renamed", since=START)
    assert found == EarlierPost("newer", "newer", START + timedelta(hours=1), "https://x/newer/0")
    assert (
        published_with_content(
            ledger, "h", other_than="renamed", since=START + timedelta(hours=1, microseconds=1)
        )
        is None
    )
    assert published_with_content(ledger, "nothing like it", other_than="x", since=START) is None


def test_content_without_a_hash_is_never_a_repeat(ledger: Ledger) -> None:
    publish(ledger, "old", "old", "")
    assert published_with_content(ledger, "", other_than="new", since=START) is None
    assert held_back(ledger, "new", "", START) is None


def test_a_post_is_held_back_for_seven_days_after_its_content_went_out(
    ledger: Ledger, clock: FakeClock
) -> None:
    publish(ledger, "original@1", "original", "h")
    assert held_back(ledger, "original", "h", START) is None
    assert held_back(ledger, "renamed", "h", START + REPEATS) == (
        "held back: the same content (text, content warning, media) went out as original@1 at "
        "2030-05-01 09:00 UTC (https://x/original@1/0); was the post renamed? Add `repeat: true` "
        "to it to publish it again on purpose"
    )
    assert held_back(ledger, "renamed", "h", START + REPEATS + timedelta(microseconds=1)) is None


def test_reading_uploads_and_repeats_does_not_wait_for_a_writer(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Reads never take the write lock: they answer while another process writes."""
    path = tmp_path / "ledger.sqlite3"
    with Ledger.open(path, clock, busy_timeout=0) as ledger:
        record_upload(ledger, "a", 0, 0, "m0")
        publish(ledger, "old", "old", "h")
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta (key, value) VALUES ('other', 'writer')")
            assert list(usable_uploads(ledger, "a", 0)) == [0]
            assert uploads_since(ledger, START - timedelta(seconds=1)) == [START]
            assert held_back(ledger, "new", "h", START) is not None
            other.execute("ROLLBACK")
        finally:
            other.close()
