"""`Amender` against a mocked instance: what each edit sends, when the status is read back
instead of edited again, and what the ledger keeps of every outcome (an edit sent, found, made
stale by a newer one, refused, or left intended after a blip), with `responses`, a real SQLite
ledger and a fake clock."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, MediaFile, Part, PollSpec, Schedule
from bot.core.published import MediaSnapshot, PartSnapshot, PollSnapshot, changes
from bot.mastodon.client import MastodonClient
from bot.publishing.amend import ALT_TEXT_FIELDS, Amender, EditUnsupported, PartOutcome, target_for
from bot.publishing.drift import PartDrift, PostDrift
from bot.publishing.pacing import Pacer, Window
from bot.publishing.publisher import RetryPolicy
from bot.publishing.snapshot import snapshot_of
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger

BASE = "https://campaign.example"
FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
MEDIA_ID = "117440831452020971"
NEW_MEDIA_ID = "117440826199178323"  # media_v2_image_200.json
ALT = "Updated description"
FOCUS = (0.2, -0.1)


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(ledger: Ledger, clock: FakeClock) -> Amendments:
    return Amendments(ledger, clock)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "shelf.png"
    path.write_bytes(b"png")
    return path


def amender(
    store: Amendments, clock: FakeClock, *, attempts: int = 3, pacer: Pacer | None = None
) -> Amender:
    client = MastodonClient(BASE, "token-not-shown", clock=clock)
    rng = random.Random(5)  # noqa: S311 - jitter, not security
    policy = RetryPolicy(attempts=attempts)
    return Amender(client, store, clock, pacer=pacer, policy=policy, rng=rng)


def file_part(
    image: Path | None,
    *,
    index: int = 0,
    text: str = "New text",
    alt: str = ALT,
    focus: tuple[float, float] | None = FOCUS,
    spoiler: str | None = None,
    sensitive: bool = False,
    language: str | None = "en",
    poll: PollSpec | None = None,
) -> Part:
    media = () if image is None else (MediaFile(image, "shelf.png", "image/png", 3, alt, focus),)
    return Part(index, text, spoiler, sensitive, "public", language, media, poll, len(text))


def status_id(index: int) -> str:
    return f"50{index}"


def published(ledger: Ledger, *parts: Part) -> CampaignPost:
    """A post of these parts, published: part i is status 50i at https://x/50i."""
    ledger.begin_attempt("p", "p", START, "old")
    for part in parts:
        ledger.record_part_intent("p", part.index, f"k{part.index}")
        ledger.record_part_published(
            "p", part.index, status_id(part.index), f"https://x/{status_id(part.index)}"
        )
    ledger.mark_published("p")
    return CampaignPost("p", "posts/p.yaml", 3, 0, Schedule(at=START), None, parts)


def drift_of(
    ledger: Ledger, post: CampaignPost, before: Mapping[int, PartSnapshot | None]
) -> PostDrift:
    """The drift of each part in `before` from what it showed to what the file says now."""
    record = ledger.get("p")
    assert record is not None
    found = []
    for index, old in before.items():
        new = snapshot_of(post.parts[index])
        found_changes = tuple(changes(old, new)) if old is not None else ()
        sid = status_id(index)
        found.append(PartDrift(index, sid, f"https://x/{sid}", old, new, found_changes))
    return PostDrift(post, record, tuple(found), len(post.parts))


def on_server(
    mock: responses.RequestsMock,
    index: int = 0,
    *,
    text: str = "Old text",
    spoiler: str = "",
    media: Sequence[tuple[str, str | None, tuple[float, float] | None]] | None = None,
    language: str | None = "en",
    poll: dict[str, Any] | None = None,
) -> None:
    """The instance shows part `index` like this: the status and its source are read back."""
    sid = status_id(index)
    shown = [(MEDIA_ID, ALT, FOCUS)] if media is None else media
    status = {
        **body("status_edited_media_attributes"),
        "id": sid,
        "url": f"https://x/{sid}",
        "content": f"<p>{text}</p>",
        "spoiler_text": spoiler,
        "language": language,
        "poll": poll,
        "media_attachments": [
            {
                **body("status_edited_media_attributes")["media_attachments"][0],
                "id": media_id,
                "description": description,
                "meta": {} if focus is None else {"focus": {"x": focus[0], "y": focus[1]}},
            }
            for media_id, description, focus in shown
        ],
    }
    mock.get(f"{BASE}/api/v1/statuses/{sid}", json=status)
    mock.get(
        f"{BASE}/api/v1/statuses/{sid}/source",
        json={"id": sid, "text": text, "spoiler_text": spoiler},
    )


def edit_answers(mock: responses.RequestsMock, index: int = 0, **kwargs: Any) -> None:
    mock.put(
        f"{BASE}/api/v1/statuses/{status_id(index)}",
        json=body("status_edited_media_attributes"),
        **kwargs,
    )


def sent(call: Any) -> dict[str, Any]:
    """The body of an edit: JSON with media_attributes, a form without."""
    raw = call.request.body
    raw = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return dict(json.loads(raw))
    except json.JSONDecodeError:
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw).items()}


def puts(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    return [sent(c) for c in mock.calls if c.request.method == "PUT"]


def methods(mock: responses.RequestsMock) -> list[str]:
    return [str(c.request.method) for c in mock.calls]


def edit_log(store: Amendments) -> list[tuple[str, str]]:
    return [(e.state, e.detail) for e in store.edits("p")]


# --- an edit sent -----------------------------------------------------------------------------


def test_a_changed_text_is_sent_once_with_all_the_status_keeps(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The status is read back, then edited once: the new text beside the image it has (its
    id, alt text and focus), the language, no content warning; the edit is settled `applied`
    with the fields it changed, and what followers see is remembered."""
    caplog.set_level(logging.INFO, logger="bot.publishing.amend")
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    store.record_snapshot("p", 0, before)
    on_server(mock)
    edit_answers(mock)
    outcomes = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcomes == [PartOutcome(0, "https://x/500", "edited")]
    assert methods(mock) == ["GET", "GET", "PUT"]
    (request,) = puts(mock)
    assert request["status"] == "New text"
    assert request["language"] == "en"
    assert request["sensitive"] == "0"
    assert "spoiler_text" not in request and "poll" not in request
    assert request["media_attributes"] == [
        {"id": MEDIA_ID, "description": ALT, "focus": "0.2,-0.1"}
    ]
    assert edit_log(store) == [("applied", "status 500: text")]
    assert store.open_edit("p", 0) is None
    assert store.snapshots("p") == {0: snapshot_of(part)}
    assert [e.kind for e in ledger.events("p")][-2:] == ["edit-intended", "edited"]
    edited = [r for r in caplog.records if r.getMessage() == "part 1 edited: https://x/500"]
    assert [getattr(r, "post_id", None) for r in edited] == ["p"]


def test_an_edit_names_every_field_it_changed(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """Text, alt text and a content warning at once: one request, the summary names all three,
    and a content warning makes the status sensitive."""
    part = file_part(image, alt="Six books.", spoiler="Closures")
    post = published(ledger, part)
    before = replace(snapshot_of(file_part(image)), text="Old text")
    on_server(mock)
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "edited"
    (request,) = puts(mock)
    assert request["spoiler_text"] == "Closures"
    assert request["sensitive"] == "1"
    assert request["media_attributes"][0]["description"] == "Six books."
    assert edit_log(store) == [("applied", "status 500: text, content warning, alt text")]


def test_a_replaced_image_is_uploaded_and_sent_in_place_of_the_old_one(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
) -> None:
    """A file with the same name and new content is uploaded once (with its alt text and
    focus); the edit carries the new media id, never the old one."""
    part = file_part(image, text="Old text")
    post = published(ledger, part)
    before = replace(snapshot_of(part), media=(replace(snapshot_of(part).media[0], sha256="0"),))
    on_server(mock)
    mock.get(f"{BASE}/api/v2/instance", json=body("instance_v2"))
    mock.post(f"{BASE}/api/v2/media", json=body("media_v2_image_200"))
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "edited"
    upload = next(c for c in mock.calls if str(c.request.url).endswith("/api/v2/media"))
    uploaded = upload.request.body
    assert isinstance(uploaded, bytes)
    assert b"Updated description" in uploaded and b"0.2,-0.1" in uploaded
    (request,) = puts(mock)
    assert request["media_attributes"] == [
        {"id": NEW_MEDIA_ID, "description": ALT, "focus": "0.2,-0.1"}
    ]
    assert edit_log(store) == [("applied", "status 500: media files")]


def test_an_image_added_to_a_post_is_uploaded(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
) -> None:
    """The status had no image; the file now has one: it is uploaded and sent."""
    part = file_part(image, text="Old text")
    post = published(ledger, part)
    before = replace(snapshot_of(part), media=())
    on_server(mock, media=[])
    mock.get(f"{BASE}/api/v2/instance", json=body("instance_v2"))
    mock.post(f"{BASE}/api/v2/media", json=body("media_v2_image_200"))
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "edited"
    assert puts(mock)[0]["media_attributes"][0]["id"] == NEW_MEDIA_ID


def test_a_part_published_before_snapshots_keeps_the_instances_media(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
) -> None:
    """Without a snapshot, which file the status shows is unknown: its media are kept, not
    uploaded again, and the whole file's version goes out."""
    part = file_part(image, alt="Six books.")
    post = published(ledger, part)
    on_server(mock)
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: None}))
    assert outcome.result == "edited"
    (request,) = puts(mock)
    assert request["status"] == "New text"
    assert request["media_attributes"] == [
        {"id": MEDIA_ID, "description": "Six books.", "focus": "0.2,-0.1"}
    ]


# --- which parts --------------------------------------------------------------------------------


def test_only_the_parts_asked_for_are_edited(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock
) -> None:
    """`--part 2` (counted from 1) edits the first reply and leaves the post alone."""
    parts = (file_part(None, index=0), file_part(None, index=1, text="Reply, new"))
    post = published(ledger, *parts)
    before = {
        0: replace(snapshot_of(parts[0]), text="Old text"),
        1: replace(snapshot_of(parts[1]), text="Reply, old"),
    }
    on_server(mock, 1, text="Reply, old", media=[])
    edit_answers(mock, 1)
    outcomes = amender(store, clock).amend(drift_of(ledger, post, before), parts={2})
    assert outcomes == [PartOutcome(1, "https://x/501", "edited")]
    assert puts(mock)[0]["status"] == "Reply, new"


def test_a_change_left_out_is_not_sent_and_a_part_with_nothing_else_is_unchanged(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
) -> None:
    """`amend: alt-text` with a changed text and alt text: the old text goes out with the new
    alt text. A part whose only change is its poll, without --reset-poll, is not touched."""
    poll = PollSpec(("Yes", "No"), 3600, False, False)
    parts = (file_part(image, alt="Six books."), file_part(None, index=1, poll=poll))
    post = published(ledger, *parts)
    before = {
        0: replace(
            snapshot_of(parts[0]), text="Old text", media=snapshot_of(file_part(image)).media
        ),
        1: replace(snapshot_of(parts[1]), poll=PollSnapshot(("A", "B"), 3600, False, False)),
    }
    on_server(mock)
    edit_answers(mock)
    outcomes = amender(store, clock).amend(drift_of(ledger, post, before), only=ALT_TEXT_FIELDS)
    assert outcomes == [
        PartOutcome(0, "https://x/500", "edited"),
        PartOutcome(1, "https://x/501", "unchanged"),
    ]
    (request,) = puts(mock)
    assert request["status"] == "Old text"
    assert request["media_attributes"][0]["description"] == "Six books."
    assert store.snapshots("p")[0].text == "Old text"
    assert store.snapshots("p")[0].media[0].alt == "Six books."


# --- read back, not sent twice ------------------------------------------------------------------


def test_a_lost_answer_is_read_back_and_found_not_sent_again(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The PUT went through but its answer was lost (a 503): after a backoff the status is
    read again, shows the new text, and the edit is settled `found` — one PUT in all."""
    caplog.set_level(logging.INFO, logger="bot.publishing.amend")
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    on_server(mock)
    edit_answers(mock, status=503)
    on_server(mock, text="New text")
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome == PartOutcome(0, "https://x/500", "found")
    assert methods(mock) == ["GET", "GET", "PUT", "GET", "GET"]
    assert edit_log(store) == [("found", "status 500 shows it")]
    assert store.snapshots("p") == {0: snapshot_of(part)}
    assert len(clock.slept) == 1 and 0.5 <= clock.slept[0] <= 1.0
    assert [(r.getMessage(), getattr(r, "post_id", None)) for r in caplog.records] == [
        (
            "part 1: the instance had a temporary problem with the edit of post 500 (503): "
            f"Service Unavailable; reading it back, then trying again in {clock.slept[0]:.0f} s",
            "p",
        ),
        ("part 1 already shows the file", "p"),
    ]


def test_an_edit_made_by_hand_is_recorded_as_found(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    on_server(mock, text="New text")
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "found"
    assert methods(mock) == ["GET", "GET"]
    (edit,) = store.edits("p")
    assert (edit.state, edit.target, edit.status_id) == ("found", snapshot_of(part), "500")


def test_an_intended_edit_for_an_older_file_is_replaced_by_the_newer_one(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """An edit left intended by a crash, not on the instance, and the file changed again since:
    the old intent is settled `failed` and the file as it is now goes out."""
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    store.intend_edit(
        "p", 0, "500", replace(before, text="Middle text"), f"media before: {MEDIA_ID}"
    )
    on_server(mock)
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "edited"
    assert puts(mock)[0]["status"] == "New text"
    assert edit_log(store) == [
        ("failed", "replaced by a newer edit"),
        ("applied", "status 500: text"),
    ]


def test_an_intended_edit_that_arrived_is_found_then_the_newer_file_sent(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """The intended edit did reach the instance, and the file changed again since: the old
    edit is recorded as found, then the status is read again and the new version sent."""
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    middle = replace(before, text="Middle text")
    store.intend_edit("p", 0, "500", middle, f"media before: {MEDIA_ID}")
    on_server(mock, text="Middle text")
    on_server(mock, text="Middle text")
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "edited"
    assert methods(mock) == ["GET", "GET", "GET", "GET", "PUT"]
    assert puts(mock)[0]["status"] == "New text"
    assert edit_log(store) == [("found", "status 500 shows it"), ("applied", "status 500: text")]
    assert store.snapshots("p") == {0: snapshot_of(part)}


def test_an_intended_image_replacement_is_judged_by_the_media_the_status_had_before(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """After a crash, the status shows the new text but still the old image (the id the intent
    wrote down): the edit did not arrive, so it is sent, with the new file."""
    part = file_part(image)
    post = published(ledger, part)
    old = snapshot_of(part)
    before = replace(old, text="Old text", media=(replace(old.media[0], sha256="0"),))
    store.intend_edit("p", 0, "500", snapshot_of(part), f"media before: {MEDIA_ID}")
    on_server(mock, text="New text")
    mock.get(f"{BASE}/api/v2/instance", json=body("instance_v2"))
    mock.post(f"{BASE}/api/v2/media", json=body("media_v2_image_200"))
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "edited"
    assert puts(mock)[0]["media_attributes"][0]["id"] == NEW_MEDIA_ID
    # Read back once more with the new image in place, the same edit is found.
    store.intend_edit("p", 0, "500", snapshot_of(part), f"media before: {MEDIA_ID}")
    on_server(mock, text="New text", media=[(NEW_MEDIA_ID, ALT, FOCUS)])
    (again,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert again.result == "found"


@pytest.mark.parametrize(
    ("shown", "found"),
    [
        ({}, True),
        ({"text": "Old text"}, False),
        ({"spoiler": "A warning"}, False),
        ({"media": []}, False),
        ({"media": [(MEDIA_ID, ALT, FOCUS), ("2", ALT, FOCUS)]}, False),
        ({"media": [(MEDIA_ID, "Old alt", FOCUS)]}, False),
        ({"media": [(MEDIA_ID, ALT, (0.205, -0.105))]}, True),
        ({"media": [(MEDIA_ID, ALT, (0.215, -0.1))]}, False),
        ({"media": [(MEDIA_ID, ALT, (0.2, -0.115))]}, False),
        ({"media": [(MEDIA_ID, ALT, (0.21, -0.1))]}, True),
        ({"language": "CY"}, True),
        ({"language": "en"}, False),
        ({"language": None}, False),
        ({"poll": {"options": [{"title": "Yes"}], "expires_at": None}}, False),
    ],
)
def test_an_edit_counts_as_there_only_when_every_field_shows_it(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
    shown: dict[str, Any],
    found: bool,
) -> None:
    """Read back after a crash: the text, content warning, number of images, their alt text
    and focus (to within 0.01), the language (in any case) and the poll must all show the
    intended version, or the edit is sent."""
    part = file_part(image, language="cy")
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text", language="en")
    store.intend_edit("p", 0, "500", snapshot_of(part), f"media before: {MEDIA_ID}")
    on_server(mock, **{"text": "New text", "language": "cy", **shown})
    if shown.get("media") == []:
        # The image the status lost is uploaded again.
        mock.get(f"{BASE}/api/v2/instance", json=body("instance_v2"))
        mock.post(f"{BASE}/api/v2/media", json=body("media_v2_image_200"))
    if not found:
        edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == ("found" if found else "edited")
    assert len(puts(mock)) == (0 if found else 1)


@pytest.mark.parametrize(
    ("wanted", "shown", "found"),
    [
        (None, (0.0, 0.0), True),
        ((0.0, 0.0), None, True),
        (None, None, True),
        # Mastodon keeps two decimals: a hundredth off is another focus.
        ((0.0, 0.0), (0.01, 0.0), False),
        ((0.0, 0.0), (0.0, 0.01), False),
        (None, (0.01, 0.0), False),
        (None, (0.0, -0.01), False),
        ((0.01, 0.0), None, False),
        ((0.0, 0.01), None, False),
    ],
)
def test_an_image_without_focus_is_centred(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
    wanted: tuple[float, float] | None,
    shown: tuple[float, float] | None,
    found: bool,
) -> None:
    part = file_part(image, focus=wanted)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    on_server(mock, text="New text", media=[(MEDIA_ID, ALT, shown)])
    if not found:
        edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == ("found" if found else "edited")


# --- polls --------------------------------------------------------------------------------------


def poll_on_server(
    options: list[str], expires_at: datetime | None, multiple: bool = False
) -> dict[str, Any]:
    return {
        **body("status_with_image_and_poll")["poll"],
        "options": [{"title": o, "votes_count": 3} for o in options],
        "multiple": multiple,
        "expires_at": None if expires_at is None else expires_at.isoformat(),
    }


@pytest.mark.parametrize(
    ("expires_at", "expires_in"),
    [
        (START + timedelta(hours=2), 7200),
        (START + timedelta(seconds=299), 300),
        (START + timedelta(seconds=301), 301),
        (None, 300),
    ],
)
def test_an_unchanged_poll_is_sent_as_the_instance_has_it(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    expires_at: datetime | None,
    expires_in: int,
) -> None:
    """A text edit re-sends the poll with its options and the time it has left (at least
    Mastodon's 5 minutes), so its votes and its end stay."""
    poll = PollSpec(("Yes", "No"), 86400, False, True)
    part = file_part(None, poll=poll)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    on_server(mock, media=[], poll=poll_on_server(["Yes", "No"], expires_at))
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "edited"
    assert puts(mock)[0]["poll"] == {
        "options": ["Yes", "No"],
        "expires_in": expires_in,
        "multiple": False,
        "hide_totals": True,
    }


@pytest.mark.parametrize("multiple", [True, False])
def test_a_changed_poll_is_sent_as_the_file_says_with_reset_poll(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    multiple: bool,
) -> None:
    """With --reset-poll, new options go out with the file's duration and choice: the
    instance's poll is not re-sent."""
    poll = PollSpec(("Yes", "No", "Maybe"), 86400, multiple, False)
    part = file_part(None, poll=poll)
    post = published(ledger, part)
    before = replace(snapshot_of(part), poll=PollSnapshot(("Yes", "No"), 86400, False, False))
    on_server(mock, text="New text", media=[], poll=poll_on_server(["Yes", "No"], START))
    edit_answers(mock)
    drift = drift_of(ledger, post, {0: before})
    assert amender(store, clock).amend(drift) == [PartOutcome(0, "https://x/500", "unchanged")]
    (outcome,) = amender(store, clock).amend(drift, reset_poll=True)
    assert outcome.result == "edited"
    assert puts(mock)[0]["poll"] == {
        "options": ["Yes", "No", "Maybe"],
        "expires_in": 86400,
        "multiple": multiple,
        "hide_totals": False,
    }


def test_a_poll_that_changes_only_its_choice_is_sent_with_reset_poll(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock
) -> None:
    """The same options, now several choices: the instance's one-choice poll does not show the
    edit, so it is sent, not recorded as found while followers still see one choice."""
    poll = PollSpec(("Yes", "No"), 86400, True, False)
    part = file_part(None, poll=poll)
    post = published(ledger, part)
    before = replace(snapshot_of(part), poll=PollSnapshot(("Yes", "No"), 86400, False, False))
    on_server(mock, text="New text", media=[], poll=poll_on_server(["Yes", "No"], START))
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}), reset_poll=True)
    assert outcome.result == "edited"
    assert puts(mock)[0]["poll"]["multiple"] is True


# --- refused, gone, or not answering --------------------------------------------------------------


def test_a_status_gone_from_the_instance_is_reported_and_its_intent_settled(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    store.intend_edit("p", 0, "500", snapshot_of(part), f"media before: {MEDIA_ID}")
    mock.get(f"{BASE}/api/v1/statuses/500", status=404, json=body("error_404_record_not_found"))
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome == PartOutcome(0, "https://x/500", "gone", "it is gone from the instance")
    ((state, detail),) = edit_log(store)
    assert state == "failed" and "Record not found" in detail
    deleted = [e for e in ledger.events("p") if e.kind == "part-deleted"]
    assert [(e.part_index, e.detail) for e in deleted] == [
        (0, "status 500: gone from the instance")
    ]


@pytest.mark.parametrize("code", [405, 501])
def test_a_server_without_the_edit_api_is_refused_by_name(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    image: Path,
    code: int,
) -> None:
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    on_server(mock)
    mock.put(f"{BASE}/api/v1/statuses/500", status=code, json={"error": "Not allowed"})
    with pytest.raises(EditUnsupported) as caught:
        amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert str(caught.value) == (
        f"{BASE} does not offer Mastodon's edit API (PUT /api/v1/statuses/:id answered {code}): "
        "change the post by hand there"
    )


def test_an_edit_the_instance_refuses_fails_and_is_settled_failed(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    on_server(mock)
    mock.put(f"{BASE}/api/v1/statuses/500", status=422, json=body("error_422_text_blank_en"))
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome == PartOutcome(0, "https://x/500", "failed", outcome.detail)
    assert "can't be blank" in outcome.detail
    assert edit_log(store) == [("failed", outcome.detail)]
    assert store.open_edit("p", 0) is None


def test_a_blip_past_the_tries_fails_and_leaves_the_edit_intended(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """The next amend reads the status back first: the intent, with the media the status had
    before, stays in the ledger."""
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    on_server(mock)
    edit_answers(mock, status=503)
    (outcome,) = amender(store, clock, attempts=1).amend(drift_of(ledger, post, {0: before}))
    assert outcome == PartOutcome(
        0,
        "https://x/500",
        "failed",
        "the instance had a temporary problem with the edit of post 500 (503): Service Unavailable",
    )
    edit = store.open_edit("p", 0)
    assert edit is not None
    assert (edit.target, edit.detail) == (snapshot_of(part), f"media before: {MEDIA_ID}")
    assert clock.slept == []


# --- pacing -------------------------------------------------------------------------------------


def test_edits_are_paced_like_posts_and_follow_the_instances_count(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock
) -> None:
    """With room for one status per 3 hours, the second part's edit waits 3 hours; an edit
    answered with no requests left waits for the instance's reset."""
    parts = (file_part(None, index=0), file_part(None, index=1, text="Reply, new"))
    post = published(ledger, *parts)
    before = {
        0: replace(snapshot_of(parts[0]), text="Old text"),
        1: replace(snapshot_of(parts[1]), text="Reply, old"),
    }
    on_server(mock, 0, media=[])
    on_server(mock, 1, text="Reply, old", media=[])
    edit_answers(mock, 0)
    edit_answers(mock, 1)
    pacer = Pacer(clock, {"status": Window(1, timedelta(hours=3))})
    amender(store, clock, pacer=pacer).amend(drift_of(ledger, post, before))
    assert clock.now() == START + timedelta(hours=3)


def test_an_edit_answered_with_no_requests_left_holds_the_next_one(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock
) -> None:
    parts = (file_part(None, index=0), file_part(None, index=1, text="Reply, new"))
    post = published(ledger, *parts)
    before = {
        0: replace(snapshot_of(parts[0]), text="Old text"),
        1: replace(snapshot_of(parts[1]), text="Reply, old"),
    }
    reset = START + timedelta(minutes=10)
    headers = {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset.isoformat(),
    }
    on_server(mock, 0, media=[])
    on_server(mock, 1, text="Reply, old", media=[])
    edit_answers(mock, 0, headers=headers)
    edit_answers(mock, 1)
    amender(store, clock).amend(drift_of(ledger, post, before))
    assert clock.now() == reset


def test_uploads_of_an_edit_are_paced_as_media(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """Two replaced images in two parts: with room for one upload per 30 minutes, the second
    waits."""
    parts = (file_part(image, index=0, text="Old text"), file_part(image, index=1, text="Old text"))
    post = published(ledger, *parts)
    stale = snapshot_of(parts[0]).media[0]
    before = {
        i: replace(snapshot_of(p), media=(replace(stale, sha256="0"),)) for i, p in enumerate(parts)
    }
    on_server(mock, 0)
    on_server(mock, 1)
    mock.get(f"{BASE}/api/v2/instance", json=body("instance_v2"))
    mock.post(f"{BASE}/api/v2/media", json=body("media_v2_image_200"))
    edit_answers(mock, 0)
    edit_answers(mock, 1)
    pacer = Pacer(clock, {"media": Window(1, timedelta(minutes=30))})
    amender(store, clock, pacer=pacer).amend(drift_of(ledger, post, before))
    assert clock.now() == START + timedelta(minutes=30)


# --- the server --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "refused"),
    [
        ("3.4.1", True),
        ("3.5.0", False),
        ("0.17.3+git-abc", False),
        ("2.7.2 (compatible; Pleroma 2.5.0)", False),
    ],
)
def test_only_a_mastodon_older_than_3_5_is_refused(
    mock: responses.RequestsMock,
    store: Amendments,
    clock: FakeClock,
    version: str,
    refused: bool,
) -> None:
    """Other servers say their own version: only Mastodon's is known to lack edits."""
    mock.get(f"{BASE}/api/v2/instance", json={**body("instance_v2"), "version": version})
    if refused:
        with pytest.raises(EditUnsupported) as caught:
            amender(store, clock).check_server()
        assert str(caught.value) == (
            f"{BASE} runs Mastodon 3.4.1, which cannot edit posts (editing came with Mastodon "
            "3.5): change the post by hand, or withdraw it with `campaign-bot withdraw ID` and "
            "publish it again under a new id"
        )
    else:
        amender(store, clock).check_server()


# --- what an edit aims at -------------------------------------------------------------------------

OLD = PartSnapshot(
    "Old text\n\n#Libraries",
    None,
    ("Libraries",),
    (MediaSnapshot("shelf.png", "ab" * 32, "A shelf.", (0.2, -0.1)),),
    PollSnapshot(("Yes", "No"), 3600, False, False),
    False,
    "en",
    "public",
)
# Everything changed at once but the image file: text and hashtags, content warning (which
# makes it sensitive), alt text, focus, poll, language, visibility.
NEW = PartSnapshot(
    "New text\n\n#Libraries #Millbrook",
    "Closures",
    ("Libraries", "Millbrook"),
    (MediaSnapshot("shelf.png", "ab" * 32, "Six books.", (0.0, 0.5)),),
    PollSnapshot(("Yes", "No", "Maybe"), 3600, False, False),
    True,
    "cy",
    "unlisted",
)


def aim(
    old: PartSnapshot | None,
    new: PartSnapshot,
    *,
    reset_poll: bool = False,
    only: set[str] | None = None,
) -> PartSnapshot:
    found = tuple(changes(old, new)) if old is not None else ()
    return target_for(PartDrift(0, "1", "u", old, new, found), reset_poll=reset_poll, only=only)


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (set(), OLD),
        ({"text"}, replace(OLD, text=NEW.text, hashtags=NEW.hashtags)),
        ({"hashtags"}, replace(OLD, text=NEW.text, hashtags=NEW.hashtags)),
        ({"content warning"}, replace(OLD, spoiler_text="Closures", sensitive=True)),
        ({"sensitive"}, replace(OLD, sensitive=True)),
        ({"alt text"}, replace(OLD, media=(replace(OLD.media[0], alt="Six books."),))),
        ({"focus"}, replace(OLD, media=(replace(OLD.media[0], focus=(0.0, 0.5)),))),
        (ALT_TEXT_FIELDS, replace(OLD, media=NEW.media)),
        ({"language"}, replace(OLD, language="cy")),
        ({"poll"}, OLD),
        ({"visibility"}, OLD),
    ],
)
def test_an_edit_aims_at_the_files_version_of_the_fields_it_may_change(
    only: set[str], expected: PartSnapshot
) -> None:
    """Only the fields named change; a poll only with --reset-poll; the visibility never."""
    assert aim(OLD, NEW, only=only) == expected


def test_an_edit_of_everything_changes_all_but_the_visibility() -> None:
    assert aim(OLD, NEW) == replace(NEW, poll=OLD.poll, visibility="public")
    assert aim(OLD, NEW, reset_poll=True) == replace(NEW, visibility="public")
    assert aim(OLD, NEW, reset_poll=True, only={"poll"}) == replace(OLD, poll=NEW.poll)


def test_a_replaced_file_brings_its_own_alt_text_and_focus() -> None:
    """A new file is a new image: its alt text and focus come with it, also when only the
    alt text was asked for."""
    new = replace(OLD, media=(MediaSnapshot("shelf.png", "cd" * 32, "Six books.", None),))
    assert aim(OLD, new) == new
    assert aim(OLD, new, only={"alt text"}) == OLD


def test_a_part_published_before_snapshots_aims_at_the_whole_file() -> None:
    assert aim(None, NEW) == NEW
    assert aim(None, NEW, only={"alt text"}) == NEW


def test_a_thread_of_two_images_remembers_both_and_replaces_only_the_changed_one(
    mock: responses.RequestsMock,
    ledger: Ledger,
    store: Amendments,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    """The intent names every image the status had; read back after a blip, the status still
    shows the old second image (the first is kept), so the edit is sent again with the new one."""
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(b"a")
    second.write_bytes(b"b")
    media = (
        MediaFile(first, "a.png", "image/png", 1, "First.", None),
        MediaFile(second, "b.png", "image/png", 1, "Second.", None),
    )
    part = Part(0, "Two images", None, False, "public", "en", media, None, 10)
    post = published(ledger, part)
    now = snapshot_of(part)
    before = replace(now, media=(now.media[0], replace(now.media[1], sha256="0")))
    shown = [("1", "First.", None), ("2", "Second.", None)]
    on_server(mock, text="Two images", media=shown)
    mock.get(f"{BASE}/api/v2/instance", json=body("instance_v2"))
    mock.post(f"{BASE}/api/v2/media", json=body("media_v2_image_200"))
    edit_answers(mock, status=503)
    (outcome,) = amender(store, clock, attempts=1).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "failed"
    edit = store.open_edit("p", 0)
    assert edit is not None and edit.detail == "media before: 1,2"
    on_server(mock, text="Two images", media=shown)
    edit_answers(mock)
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "edited"
    assert [m["id"] for m in puts(mock)[-1]["media_attributes"]] == ["1", NEW_MEDIA_ID]


def test_an_added_image_on_the_instance_is_found(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """The status had no image, and read back shows the new one: the edit arrived."""
    part = file_part(image, text="Old text")
    post = published(ledger, part)
    before = replace(snapshot_of(part), media=())
    store.intend_edit("p", 0, "500", snapshot_of(part), "media before: ")
    on_server(mock, media=[(NEW_MEDIA_ID, ALT, FOCUS)])
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "found"


def test_a_blip_is_tried_again_only_as_often_as_the_policy_says(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """An instance that keeps failing is read three times, with two waits, then the part
    fails (nothing was intended, so nothing is left open)."""
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    mock.get(f"{BASE}/api/v1/statuses/500", status=503, json={"error": "Service Unavailable"})
    (outcome,) = amender(store, clock, attempts=3).amend(drift_of(ledger, post, {0: before}))
    assert (outcome.index, outcome.url, outcome.result) == (0, "https://x/500", "failed")
    assert len(mock.calls) == 3 and len(clock.slept) == 2
    assert store.edits("p") == []


def test_a_429_while_reading_back_waits_for_the_instances_reset(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    part = file_part(image)
    post = published(ledger, part)
    before = replace(snapshot_of(part), text="Old text")
    reset = START + timedelta(minutes=2)
    headers = {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset.isoformat(),
    }
    mock.get(
        f"{BASE}/api/v1/statuses/500",
        status=429,
        json=body("error_429_synthesized_from_source"),
        headers=headers,
    )
    on_server(mock, text="New text")
    (outcome,) = amender(store, clock).amend(drift_of(ledger, post, {0: before}))
    assert outcome.result == "found"
    assert clock.now() >= reset


def test_a_part_left_alone_does_not_stop_the_parts_after_it(
    mock: responses.RequestsMock, ledger: Ledger, store: Amendments, clock: FakeClock, image: Path
) -> None:
    """The post's only change is its poll (left without --reset-poll), its reply's text
    changed: the reply is still edited. Likewise with `amend: alt-text` after a part
    published before snapshots, which is left alone."""
    poll = PollSpec(("Yes", "No"), 3600, False, False)
    parts = (file_part(None, poll=poll), file_part(None, index=1, text="Reply, new"))
    post = published(ledger, *parts)
    before: dict[int, PartSnapshot | None] = {
        0: replace(snapshot_of(parts[0]), poll=PollSnapshot(("A", "B"), 3600, False, False)),
        1: replace(snapshot_of(parts[1]), text="Reply, old"),
    }
    on_server(mock, 1, text="Reply, old", media=[])
    edit_answers(mock, 1)
    assert amender(store, clock).amend(drift_of(ledger, post, before)) == [
        PartOutcome(0, "https://x/500", "unchanged"),
        PartOutcome(1, "https://x/501", "edited"),
    ]
    later = (file_part(None), file_part(image, index=1, text="Reply, new", alt="Six books."))
    post = replace(post, parts=later)
    before = {0: None, 1: replace(snapshot_of(later[1]), media=snapshot_of(file_part(image)).media)}
    on_server(mock, 1, text="Reply, new")
    edit_answers(mock, 1)
    assert amender(store, clock).amend(drift_of(ledger, post, before), only=ALT_TEXT_FIELDS) == [
        PartOutcome(0, "https://x/500", "unchanged"),
        PartOutcome(1, "https://x/501", "edited"),
    ]
    assert puts(mock)[-1]["media_attributes"][0]["description"] == "Six books."


def test_an_added_image_is_not_an_alt_text_change() -> None:
    """`amend: alt-text` leaves a post alone whose image was added, not described anew."""
    new = replace(OLD, media=(*OLD.media, MediaSnapshot("b.png", "cd" * 32, "New.", None)))
    assert aim(OLD, new, only={"alt text"}) == OLD
    assert aim(OLD, new, only={"focus"}) == OLD
