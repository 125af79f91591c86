"""Published posts whose file changed: the snapshot kept, the difference per field, the edit
request Mastodon gets, the refusal of servers without edits, and the ledger's write-ahead."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, MediaFile, Part, Schedule
from bot.core.published import MediaSnapshot, PartSnapshot, PollSnapshot, changes
from bot.core.states import State
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import (
    EditRequest,
    MediaEdit,
    PermanentError,
    PollRequest,
    TransientError,
)
from bot.publishing.amend import ALT_TEXT_FIELDS, Amender, EditUnsupported, target_for
from bot.publishing.drift import drift_problems, find_drift, post_drift
from bot.publishing.snapshot import snapshot_of
from bot.storage import migrations as migrations_module
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger
from bot.storage.migrations import MIGRATIONS, LedgerError

BASE = "https://campaign.example"
FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
STATUS_ID = "117440832771171802"
MEDIA_ID = "117440831452020971"


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
def client(clock: FakeClock) -> MastodonClient:
    return MastodonClient(BASE, "token-not-shown", clock=clock)


def snap(text: str = "Sign the petition\n\n#Libraries", **changes: Any) -> PartSnapshot:
    fields: dict[str, Any] = {
        "text": text,
        "spoiler_text": None,
        "hashtags": ("Libraries",),
        "media": (MediaSnapshot("shelf.png", "ab" * 32, "A shelf.", (0.2, -0.1)),),
        "poll": None,
        "sensitive": False,
        "language": "en",
        "visibility": "public",
    }
    return PartSnapshot(**{**fields, **changes})


# --- what changed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "fields"),
    [
        (snap("Sign the petition today\n\n#Libraries"), ["text"]),
        (
            snap("Sign the petition\n\n#Libraries #Millbrook", hashtags=("Libraries", "Millbrook")),
            ["hashtags"],
        ),
        (snap(spoiler_text="Closures"), ["content warning"]),
        (
            snap(media=(MediaSnapshot("shelf.png", "ab" * 32, "Six books.", (0.2, -0.1)),)),
            ["alt text"],
        ),
        (
            snap(media=(MediaSnapshot("shelf.png", "cd" * 32, "A shelf.", (0.2, -0.1)),)),
            ["media files"],
        ),
        (snap(poll=PollSnapshot(("Yes", "No"), 86400, False, False)), ["poll"]),
        (snap(language="cy"), ["language"]),
        (snap(visibility="unlisted"), ["visibility"]),
        (snap(), []),
    ],
)
def test_changes_are_named_per_field(after: PartSnapshot, fields: list[str]) -> None:
    """Each field a campaigner can change is named on its own; the hashtag line the bot adds
    is not mistaken for a change of the text."""
    assert [c.field for c in changes(snap(), after)] == fields


def test_only_what_an_edit_can_change_is_offered() -> None:
    """Visibility cannot be edited, the language can (Mastodon's UpdateStatusService takes it);
    a poll is replaced only with --reset-poll."""
    found = {c.field: c for c in changes(snap(), snap(language="cy", visibility="direct"))}
    assert found["language"].editable and not found["visibility"].editable
    poll = changes(snap(), snap(poll=PollSnapshot(("A", "B"), 300, False, False)))
    assert poll[0].resets_votes


def test_snapshot_round_trips_and_hashes_the_file(tmp_path: Path) -> None:
    """The snapshot stores the file's content hash, so a replaced image is noticed."""
    image = tmp_path / "shelf.png"
    image.write_bytes(b"first")
    part = Part(
        0,
        "Hi",
        "CW",
        True,
        "public",
        "en",
        (MediaFile(image, "shelf.png", "image/png", 5, "Alt", None),),
        None,
        2,
    )
    first = snapshot_of(part)
    assert PartSnapshot.from_json(first.to_json()) == first
    image.write_bytes(b"second")
    assert [c.field for c in changes(first, snapshot_of(part))] == ["media files"]


# --- the ledger -------------------------------------------------------------------------------


def test_migration_keeps_an_old_ledger_and_allows_withdrawn(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ledger from before this schema keeps every occurrence, part and event when the
    occurrences table is rebuilt to allow the `withdrawn` state."""
    path = tmp_path / "old.sqlite3"
    monkeypatch.setattr(migrations_module, "MIGRATIONS", MIGRATIONS[:1])
    with Ledger.open(path, clock) as old:
        old.begin_attempt("a", "a", START, "h")
        old.record_part_intent("a", 0, "k")
        old.record_part_published("a", 0, "1", "https://x/1")
        old.mark_published("a")
    monkeypatch.setattr(migrations_module, "MIGRATIONS", MIGRATIONS)
    with Ledger.open(path, clock) as new:
        record = new.get("a")
        assert record is not None and record.state is State.PUBLISHED
        assert record.parts[0].status_id == "1"
        assert [e.kind for e in new.events("a")][-1] == "published"
        Amendments(new, clock).mark_withdrawn("a", "a", START, "deleted")
        assert new.states()["a"] is State.WITHDRAWN
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_edit_is_written_before_and_settled_after(ledger: Ledger, clock: FakeClock) -> None:
    """intended → applied; the applied target becomes what followers see."""
    store = Amendments(ledger, clock)
    store.record_snapshot("p", 0, snap())
    edit = store.intend_edit("p", 0, STATUS_ID, snap("New"), "media before: 1")
    assert store.open_edit("p", 0) == edit
    store.settle_edit(edit, "applied", "text")
    assert store.open_edit("p", 0) is None
    assert store.snapshots("p") == {0: snap("New")}
    assert [e.kind for e in ledger.events("p")] == ["edit-intended", "edited"]


# --- the request Mastodon gets ------------------------------------------------------------------


def test_edit_resends_media_through_media_attributes_only(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """The edit sends the whole post: text, CW, sensitive, every media id with its alt text and
    focus (as media_attributes only, which Mastodon.py 2.3.3 needs), and the poll."""
    mock.put(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=body("status_edited_media_attributes"))
    status = client.edit_status(
        STATUS_ID,
        EditRequest(
            "I have altered the media attachment.",
            "Spoiler",
            True,
            (MediaEdit(MEDIA_ID, "Updated description", (0.2, -0.1)),),
            PollRequest(("Yes", "No"), 600, False, True),
        ),
    )
    sent = json.loads(mock.calls[0].request.body)
    assert sent["status"] == "I have altered the media attachment."
    assert sent["spoiler_text"] == "Spoiler"
    assert sent["sensitive"] in (True, "1", 1)
    assert sent["media_ids"] == [MEDIA_ID]
    assert sent["media_attributes"] == [
        {"id": MEDIA_ID, "description": "Updated description", "focus": "0.2,-0.1"}
    ]
    assert sent["poll"]["options"] == ["Yes", "No"]
    assert sent["poll"]["expires_in"] == 600
    assert status.media[0].id == MEDIA_ID
    assert status.media[0].description == "Updated description"
    assert status.media[0].focus == (0.2, -0.1)
    assert status.edited_at is not None


def test_edit_without_media_or_cw_sends_neither(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """Left out, media and the content warning are removed by the server: nothing is sent."""
    mock.put(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=body("status_edited_media_attributes"))
    client.edit_status(STATUS_ID, EditRequest("Just text", None, False))
    sent = mock.calls[0].request.body
    assert "media_ids" not in str(sent) and "spoiler_text" not in str(sent)


@pytest.mark.parametrize(("language", "sent"), [("cy", ["cy"]), (None, [])])
def test_edit_sends_the_language_when_there_is_one(
    mock: responses.RequestsMock, client: MastodonClient, language: str | None, sent: list[str]
) -> None:
    """Mastodon.py's status_update has no `language`; the edit adds it to the same PUT. Left
    out, the server keeps the status's language."""
    mock.put(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=body("status_edited_media_attributes"))
    client.edit_status(STATUS_ID, EditRequest("Just text", None, False, language=language))
    form = parse_qs(str(mock.calls[0].request.body))
    assert form["status"] == ["Just text"]
    assert form.get("language", []) == sent


def test_edit_with_media_sends_the_language_in_the_json_body(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """With media_attributes the body is JSON; the language is in it beside them."""
    mock.put(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=body("status_edited_media_attributes"))
    request = EditRequest("Text", None, False, (MediaEdit(MEDIA_ID, "Alt", None),), language="de")
    client.edit_status(STATUS_ID, request)
    sent = json.loads(mock.calls[0].request.body)
    assert sent["language"] == "de"
    assert sent["media_attributes"][0]["id"] == MEDIA_ID


def test_an_edit_refused_by_the_server_is_translated(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """The edit with a language goes through the client's error translation like any other."""
    mock.put(
        f"{BASE}/api/v1/statuses/{STATUS_ID}",
        status=422,
        json={"error": "Validation failed: Text can't be blank"},
    )
    with pytest.raises(PermanentError, match="Text can't be blank") as caught:
        client.edit_status(STATUS_ID, EditRequest("x", None, False, language="cy"))
    assert caught.value.http_status == 422
    assert not isinstance(caught.value, TransientError)


def test_delete_destroys_the_media_too(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """A withdrawn post's images go with it."""
    mock.delete(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=body("status_deleted_with_source"))
    client.delete_status(STATUS_ID)
    assert "delete_media=1" in str(mock.calls[0].request.body)


@pytest.mark.parametrize(
    ("version", "refused"), [("3.4.1", True), ("3.5.0", False), ("4.7.3", False)]
)
def test_servers_without_edits_are_refused_by_name(
    mock: responses.RequestsMock,
    client: MastodonClient,
    ledger: Ledger,
    clock: FakeClock,
    version: str,
    refused: bool,
) -> None:
    """Mastodon before 3.5 cannot edit: the refusal names the server and its version."""
    mock.get(f"{BASE}/api/v2/instance", json={**body("instance_v2"), "version": version})
    amender = Amender(client, Amendments(ledger, clock), clock)
    if refused:
        with pytest.raises(EditUnsupported, match=rf"{BASE} runs Mastodon {version}"):
            amender.check_server()
    else:
        amender.check_server()


def test_an_edit_already_on_the_server_is_not_sent_again(
    mock: responses.RequestsMock,
    client: MastodonClient,
    ledger: Ledger,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    """After a crash between request and result, the status is read back: it shows the
    intended version, so the edit is recorded as found and no PUT is made."""
    image = tmp_path / "shelf.png"
    image.write_bytes(b"png")
    new_text = "I have altered the media attachment. Pray I do not alter it further."
    media = (MediaFile(image, "shelf.png", "image/png", 3, "Updated description", (0.2, -0.1)),)
    part = Part(0, new_text, None, False, "public", "en", media, None, 10)
    post = CampaignPost("p", "posts/p.yaml", 3, 0, Schedule(at=START), None, (part,))
    ledger.begin_attempt("p", "p", START, "old")
    ledger.record_part_intent("p", 0, "k")
    ledger.record_part_published("p", 0, STATUS_ID, "https://x/1")
    ledger.mark_published("p")
    store = Amendments(ledger, clock)
    after = snapshot_of(part)
    before = replace(after, text="Old text", media=(replace(after.media[0], alt="Old"),))
    store.record_snapshot("p", 0, before)
    record = ledger.get("p")
    assert record is not None
    drift = post_drift(post, record, {0: before})
    assert drift is not None
    assert [p.message for p in drift_problems([drift])] == [
        "`p` part 1: text changed after publishing (followers still see the old version)",
        "`p` part 1: alt text changed after publishing (followers still see the old version)",
    ]
    store.intend_edit(
        "p", 0, STATUS_ID, target_for(drift.parts[0], reset_poll=False), f"media before: {MEDIA_ID}"
    )
    mock.get(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=body("status_edited_media_attributes"))
    mock.get(
        f"{BASE}/api/v1/statuses/{STATUS_ID}/source",
        json={"id": STATUS_ID, "text": new_text, "spoiler_text": ""},
    )
    (outcome,) = Amender(client, store, clock).amend(drift)
    assert outcome.result == "found"
    assert [c.request.method for c in mock.calls] == ["GET", "GET"]
    assert store.snapshots("p")[0].text == new_text
    assert [e.kind for e in ledger.events("p")][-1] == "edit-found"


def test_a_post_being_sent_cannot_be_withdrawn(ledger: Ledger, clock: FakeClock) -> None:
    """Withdrawing a post whose send is under way could miss a part it is posting: refused."""
    ledger.begin_attempt("p", "p", START, "h")
    store = Amendments(ledger, clock)
    with pytest.raises(LedgerError, match="cannot withdraw 'p': it is sending"):
        store.mark_withdrawn("p", "p", START, "no")
    ledger.mark_failed("p", "422")
    assert store.mark_withdrawn("p", "p", START, "given up").state is State.WITHDRAWN


def _published(ledger: Ledger, part: Part) -> CampaignPost:
    ledger.begin_attempt("p", "p", START, "old")
    ledger.record_part_intent("p", 0, "k")
    ledger.record_part_published("p", 0, STATUS_ID, "https://x/1")
    ledger.mark_published("p")
    return CampaignPost("p", "posts/p.yaml", 3, 0, Schedule(at=START), None, (part,))


def test_a_changed_language_is_amended(
    mock: responses.RequestsMock,
    client: MastodonClient,
    ledger: Ledger,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    """A post published in English whose file now says Welsh: the warning offers `amend`, the
    status (whose text and media are as published) is edited once with `language=cy` and the
    same media, and the ledger then remembers Welsh."""
    image = tmp_path / "shelf.png"
    image.write_bytes(b"png")
    text = "I have altered the media attachment. Pray I do not alter it further."
    media = (MediaFile(image, "shelf.png", "image/png", 3, "Updated description", (0.2, -0.1)),)
    part = Part(0, text, None, False, "public", "cy", media, None, 10)
    post = _published(ledger, part)
    store = Amendments(ledger, clock)
    before = replace(snapshot_of(part), language="en")
    store.record_snapshot("p", 0, before)
    record = ledger.get("p")
    assert record is not None
    drift = post_drift(post, record, {0: before})
    assert drift is not None
    (problem,) = drift_problems([drift])
    assert problem.message == (
        "`p` part 1: language changed after publishing (followers still see the old version)"
    )
    assert problem.hint == "run `campaign-bot amend p`"
    mock.get(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=body("status_edited_media_attributes"))
    mock.get(
        f"{BASE}/api/v1/statuses/{STATUS_ID}/source",
        json={"id": STATUS_ID, "text": text, "spoiler_text": ""},
    )
    edited = {**body("status_edited_media_attributes"), "language": "cy"}
    mock.put(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=edited)
    (outcome,) = Amender(client, store, clock).amend(drift)
    assert outcome.result == "edited"
    assert [c.request.method for c in mock.calls] == ["GET", "GET", "PUT"]
    sent = json.loads(mock.calls[2].request.body)
    assert sent["language"] == "cy"
    assert sent["status"] == text
    assert sent["media_attributes"] == [
        {"id": MEDIA_ID, "description": "Updated description", "focus": "0.2,-0.1"}
    ]
    assert store.snapshots("p")[0].language == "cy"
    assert post_drift(post, record, store.snapshots("p")) is None


def test_a_language_change_already_on_the_server_is_found_not_sent(
    mock: responses.RequestsMock,
    client: MastodonClient,
    ledger: Ledger,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    """Read back after a lost answer: the status is in Welsh already, so no second PUT; while it
    is still in English, the edit is sent (the text alone does not prove it arrived)."""
    image = tmp_path / "shelf.png"
    image.write_bytes(b"png")
    text = "I have altered the media attachment. Pray I do not alter it further."
    media = (MediaFile(image, "shelf.png", "image/png", 3, "Updated description", (0.2, -0.1)),)
    part = Part(0, text, None, False, "public", "cy", media, None, 10)
    post = _published(ledger, part)
    store = Amendments(ledger, clock)
    before = replace(snapshot_of(part), language="en")
    store.record_snapshot("p", 0, before)
    record = ledger.get("p")
    assert record is not None
    drift = post_drift(post, record, {0: before})
    assert drift is not None
    store.intend_edit(
        "p", 0, STATUS_ID, target_for(drift.parts[0], reset_poll=False), f"media before: {MEDIA_ID}"
    )
    welsh = {**body("status_edited_media_attributes"), "language": "cy"}
    mock.get(f"{BASE}/api/v1/statuses/{STATUS_ID}", json=welsh)
    mock.get(
        f"{BASE}/api/v1/statuses/{STATUS_ID}/source",
        json={"id": STATUS_ID, "text": text, "spoiler_text": ""},
    )
    (outcome,) = Amender(client, store, clock).amend(drift)
    assert outcome.result == "found"
    assert [c.request.method for c in mock.calls] == ["GET", "GET"]


def test_alt_text_only_leaves_a_part_published_before_snapshots_alone(
    mock: responses.RequestsMock,
    client: MastodonClient,
    ledger: Ledger,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    """A part published before the ledger kept snapshots is only known to differ as a whole:
    `amend: alt-text` cannot tell its alt text from its text, so it edits nothing (the whole
    file's version would go out otherwise)."""
    image = tmp_path / "shelf.png"
    image.write_bytes(b"png")
    media = (MediaFile(image, "shelf.png", "image/png", 3, "New alt", None),)
    part = Part(0, "A new text", None, False, "public", "en", media, None, 10)
    post = _published(ledger, part)
    record = ledger.get("p")
    assert record is not None
    drift = post_drift(post, record, {})
    assert drift is not None and drift.parts[0].before is None
    store = Amendments(ledger, clock)
    (outcome,) = Amender(client, store, clock).amend(drift, only=ALT_TEXT_FIELDS)
    assert outcome.result == "unchanged"
    assert len(mock.calls) == 0
    assert store.edits("p") == []


def test_a_repeating_posts_occurrences_are_compared_each_and_warned_about_once(
    ledger: Ledger, clock: FakeClock
) -> None:
    """Two occurrences of a cron post went out with the old text and visibility, a third
    already with the new ones: two drifts, one warning per field counting them, and a
    visibility hint that does not send the campaigner to withdraw the post by its id."""
    part = Part(0, "New text", None, False, "unlisted", "en", (), None, 8)
    post = CampaignPost(
        "weekly", "posts/w.yaml", 7, 0, Schedule(cron="0 12 * * sun"), None, (part,)
    )
    store = Amendments(ledger, clock)
    old = replace(snapshot_of(part), text="Old text", visibility="public")
    for day, shown in ((1, old), (8, old), (15, snapshot_of(part))):
        key = f"weekly@2026-11-{day:02}T12:00:00Z"
        ledger.begin_attempt(key, "weekly", START.replace(day=day), "h")
        ledger.record_part_intent(key, 0, f"k{day}")
        ledger.record_part_published(key, 0, f"{day}", f"https://x/{day}")
        ledger.mark_published(key)
        store.record_snapshot(key, 0, shown)
    drifts = find_drift([post], ledger, store)
    assert [d.record.key for d in drifts] == [
        "weekly@2026-11-01T12:00:00Z",
        "weekly@2026-11-08T12:00:00Z",
    ]
    problems = drift_problems(drifts)
    assert [(p.message, p.hint.split(":")[0]) for p in problems] == [
        (
            "`weekly` part 1: text changed after publishing (followers still see the old "
            "version in 2 published occurrences)",
            "run `campaign-bot amend weekly` to edit them (the occurrences still to come use "
            "the file as it is)",
        ),
        (
            "`weekly` part 1: visibility changed after publishing (followers still see the old "
            "version in 2 published occurrences)",
            "an edit cannot change the visibility",
        ),
    ]
    assert "withdraw KEY" in problems[1].hint
