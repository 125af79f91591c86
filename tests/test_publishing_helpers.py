"""The publisher's small helpers, each by what its callers see: recognising a part among the
account's statuses, the reason a refusal gives, whether the instance forgot an upload, and the
snapshot of a part the ledger keeps."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from test_publisher import BASE, MEDIA, body, occurrence, part

from bot.core.clock import FakeClock
from bot.core.posts import MediaFile, PollSpec
from bot.core.published import MediaSnapshot, PartSnapshot, PollSnapshot
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import (
    AuthError,
    MediaFailed,
    NotFound,
    PermanentError,
    RemoteStatus,
)
from bot.publishing.matching import comparable, is_part
from bot.publishing.media import media_gone, upload_media
from bot.publishing.pacing import Pacer, Window
from bot.publishing.reasons import explain, part_name
from bot.publishing.snapshot import file_digest, snapshot_of
from bot.schedule.planner import Occurrence
from bot.storage.ledger import Ledger
from bot.storage.media import record_upload, usable_uploads

CREATED = datetime(2026, 10, 14, 19, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def status(text: str, **changes: Any) -> RemoteStatus:
    fields: dict[str, Any] = {
        "id": "1",
        "url": "https://campaign.example/@ana/1",
        "created_at": CREATED,
        "plain_text": text,
        "spoiler_text": "",
        "in_reply_to_id": None,
        "media_count": 0,
        "has_poll": False,
        "visibility": "public",
    }
    return RemoteStatus(**{**fields, **changes})


def media(tmp_path: Path, name: str, content: bytes = b"image bytes") -> MediaFile:
    path = tmp_path / name
    path.write_bytes(content)
    return MediaFile(path, name, "image/png", len(content), f"alt of {name}", (0.5, -0.5))


# --- matching: is this status that part? -------------------------------------------------------


def test_comparable_text_drops_remote_domains_spacing_and_case() -> None:
    """The instance shows `@ana@social.example` as `@ana`, and its HTML spaces differ."""
    assert comparable("Hello  @Ana@Social.Example,\n\tSTRASSE\u00a0x") == "hello@ana,strassex"
    assert comparable("Straße") == "strasse"  # casefold, not lower
    # The domain ends on a word character: a full stop after it is the sentence's.
    assert comparable("ask @ana@b.example.") == "ask@ana."
    assert comparable("@ana@b-c.example and @bo@d.example") == "@anaand@bo"


def test_mentions_inside_addresses_and_links_are_left_whole() -> None:
    """Only a mention is shortened: not an account in a profile link or query, nor one glued
    to a word."""
    for text in (
        "https://x.example/@ana@other.example",
        "https://x.example/?who=@ana@other.example",
        "mail@ana@other.example",
    ):
        assert comparable(text) == text


def test_a_status_is_the_part_only_when_everything_matches() -> None:
    """Text (spacing, case and remote domains aside), content warning, media count and the
    status it replies to: one difference, and it is another status."""
    shelf = MediaFile(Path("shelf.png"), "shelf.png", "image/png", 1, "alt", None)
    wanted = part(1, "Read with @ana@books.example!", spoiler_text="news", media=(shelf,))
    same = status("read with  @ana !", spoiler_text="news", media_count=1, in_reply_to_id="100")
    assert is_part(same, wanted, "100")
    assert not is_part(same, wanted, "101")
    assert not is_part(same, wanted, None)
    assert not is_part(
        status("read with @ana!", media_count=1, in_reply_to_id="100"), wanted, "100"
    )
    assert not is_part(
        status("read with @ana!", spoiler_text="other", media_count=1, in_reply_to_id="100"),
        wanted,
        "100",
    )
    assert not is_part(
        status("read with @ana!", spoiler_text="news", media_count=2, in_reply_to_id="100"),
        wanted,
        "100",
    )
    assert not is_part(
        status("read with @bo!", spoiler_text="news", media_count=1, in_reply_to_id="100"),
        wanted,
        "100",
    )


def test_an_empty_content_warning_on_the_instance_is_no_content_warning() -> None:
    """Mastodon sends `""` for a status without one; the part has `None`."""
    assert is_part(status("Hello"), part(0, "hello"), None)
    assert not is_part(status("Hello", spoiler_text="cw"), part(0, "hello"), None)


# --- reasons: what the operator reads ------------------------------------------------------------


def three_parts() -> Occurrence:
    return occurrence("launch", part(0, "one"), part(1, "two"), part(2, "three"))


def test_part_names_count_from_one_and_say_post_or_reply() -> None:
    single = occurrence("solo", part(0, "alone"))
    assert part_name(single, single.post.parts[0]) == "solo"
    both = occurrence("pair", part(0, "one"), part(1, "two"))
    assert part_name(both, both.post.parts[0]) == "pair, part 1 of 2 (the post)"
    thread = three_parts()
    assert part_name(thread, thread.post.parts[0]) == "launch, part 1 of 3 (the post)"
    assert part_name(thread, thread.post.parts[2]) == "launch, part 3 of 3 (reply 2)"


def test_each_refusal_says_what_to_do() -> None:
    thread = three_parts()
    reply = thread.post.parts[1]
    gone = NotFound("the post to reply to is gone (404)")
    assert explain(gone, thread, reply, thread_started=True) == (
        "launch, part 2 of 3 (reply 1): the post to reply to is gone (404) — the earlier part "
        "of the thread is gone from the instance (deleted?); the rest cannot be posted under "
        "it: post the remaining replies by hand if they should still go out"
    )
    # A 404 before anything went out is a refusal like another.
    assert explain(gone, thread, thread.post.parts[0], thread_started=False) == (
        "launch, part 1 of 3 (the post): the post to reply to is gone (404) — change the post "
        "in its file so the instance accepts it, then `campaign-bot retry launch`"
    )
    refused = PermanentError("the instance refused the post (422): Text too long")
    assert explain(refused, thread, reply, thread_started=True) == (
        "launch, part 2 of 3 (reply 1): the instance refused the post (422): Text too long — "
        "change the post in its file so the instance accepts it, then `campaign-bot retry launch`"
    )
    auth = AuthError("the account is suspended (403)")
    assert explain(auth, thread, reply, thread_started=True) == (
        "launch, part 2 of 3 (reply 1): the account is suspended (403); "
        "then `campaign-bot retry launch`"
    )


def test_a_media_refusal_names_the_files(tmp_path: Path) -> None:
    pictured = occurrence(
        "photos",
        part(0, "look", media=(media(tmp_path, "a.png"), media(tmp_path, "b.png"))),
    )
    failed = MediaFailed("the instance could not process the upload (422)")
    assert explain(failed, pictured, pictured.post.parts[0], thread_started=False) == (
        "photos: the instance could not process the upload (422) — check the file (a.png, "
        "b.png): its type, size and that it opens; fix or replace it in the post file, then "
        "`campaign-bot retry photos`"
    )
    plain = occurrence("plain", part(0, "no media"))
    assert explain(failed, plain, plain.post.parts[0], thread_started=False) == (
        "plain: the instance could not process the upload (422) — check the file (its media): "
        "its type, size and that it opens; fix or replace it in the post file, then "
        "`campaign-bot retry plain`"
    )


# --- media: did the instance forget an upload? ---------------------------------------------------


@pytest.mark.parametrize(
    ("error", "gone"),
    [
        (NotFound("not found (404)", http_status=404, server_message="Record not found"), True),
        (NotFound("not found (404)", http_status=404), True),
        # A 404 about the status replied to is not about media.
        (NotFound("gone (404)", http_status=404, server_message="In Reply To not found"), False),
        (NotFound("the post to reply to is gone (404)", http_status=404), False),
        (
            PermanentError(
                "refused (422)",
                http_status=422,
                server_message="Media 1234 not found or already attached to another post",
            ),
            True,
        ),
        (PermanentError("MEDIA NOT FOUND", http_status=422), True),
        (PermanentError("refused", http_status=422, server_message="Text not found"), False),
        (PermanentError("refused", http_status=422, server_message="Media is too big"), False),
        (PermanentError("refused", http_status=400, server_message="media not found"), False),
        # The server's words decide, not the message made from them.
        (PermanentError("media not found", http_status=422, server_message="Text too long"), False),
    ],
)
def test_media_gone_only_when_the_instance_says_so(error: PermanentError, gone: bool) -> None:
    assert media_gone(error) is gone


# --- snapshot: the part as the ledger remembers it -----------------------------------------------


def test_file_digest_is_the_sha256_of_the_whole_content(tmp_path: Path) -> None:
    big = os.urandom((1 << 20) + 5)  # more than one read
    path = tmp_path / "big.bin"
    path.write_bytes(big)
    assert file_digest(path) == hashlib.sha256(big).hexdigest()
    assert file_digest(tmp_path / "nowhere.png") == "missing"
    assert file_digest(tmp_path) == "missing"  # there, but not a readable file


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    """Unchanged size and modification time skip the read; a change of either is read."""
    path = tmp_path / "a.png"
    path.write_bytes(b"first")
    stamp = path.stat().st_mtime_ns
    assert file_digest(path) == hashlib.sha256(b"first").hexdigest()
    path.write_bytes(b"second!")  # another size, the same time
    os.utime(path, ns=(stamp, stamp))
    assert file_digest(path) == hashlib.sha256(b"second!").hexdigest()
    path.write_bytes(b"third!!")  # the same size, another time
    os.utime(path, ns=(stamp + 1_000_000, stamp + 1_000_000))
    assert file_digest(path) == hashlib.sha256(b"third!!").hexdigest()


def test_snapshot_keeps_every_field_the_instance_shows(tmp_path: Path) -> None:
    picture = media(tmp_path, "a.png", b"pixels")
    poll = PollSpec(("yes", "no"), 3600, True, False)
    full = part(
        0,
        "Vote! #library",
        spoiler_text="poll",
        sensitive=True,
        visibility="unlisted",
        language="de",
        media=(picture,),
        poll=poll,
        hashtags=("library",),
    )
    assert snapshot_of(full) == PartSnapshot(
        text="Vote! #library",
        spoiler_text="poll",
        hashtags=("library",),
        media=(
            MediaSnapshot(
                "a.png", hashlib.sha256(b"pixels").hexdigest(), "alt of a.png", (0.5, -0.5)
            ),
        ),
        poll=PollSnapshot(("yes", "no"), 3600, True, False),
        sensitive=True,
        language="de",
        visibility="unlisted",
    )
    assert snapshot_of(part(1, "plain")).poll is None


# --- media: uploaded once -----------------------------------------------------------------------


def test_only_the_uploads_the_ledger_lacks_are_made_each_paced(tmp_path: Path) -> None:
    """Of three pictures, the first uploaded before a crash: it is reused, the other two are
    uploaded under the media rate limit (one a minute here), and all three are remembered."""
    clock = FakeClock(CREATED)
    pictures = tuple(media(tmp_path, f"{n}.png") for n in "abc")
    pictured = part(0, "look", media=pictures)
    windows = {"media": Window(1, timedelta(minutes=1)), "request": Window(100, HOUR)}
    with (
        Ledger.open(tmp_path / "ledger.sqlite3", clock) as ledger,
        responses.RequestsMock() as mock,
    ):
        ledger.begin_attempt("pics", "pics", CREATED, "h")
        record_upload(ledger, "pics", 0, 0, "m-old")
        mock.get(f"{BASE}/api/v2/instance", json=body("instance_v2"))
        mock.post(MEDIA, json=body("media_v2_image_200"))
        client = MastodonClient(BASE, "t", clock=clock)
        ids, reused = upload_media(ledger, client, Pacer(clock, windows), "pics", pictured)
        new = body("media_v2_image_200")["id"]
        assert (ids, reused) == (("m-old", new, new), True)
        assert len([c for c in mock.calls if c.request.url == MEDIA]) == 2
        assert clock.now() == CREATED + timedelta(minutes=1)  # the second upload waited
        assert {p: m.media_id for p, m in usable_uploads(ledger, "pics", 0).items()} == {
            0: "m-old",
            1: new,
            2: new,
        }
        # Nothing stored for another part: every file is uploaded, nothing reused.
        _, reused = upload_media(ledger, client, Pacer(clock, windows), "pics", part(1, "x"))
        assert reused is False
