"""Published posts whose file changed since (`bot/publishing/drift.py`): which occurrences are
compared, what counts as a change, and the one warning per field that `validate`, `plan` and
`status` show, with its place and its hint."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, FollowKind, FollowUp, Part, PollSpec, Schedule
from bot.core.problems import Severity
from bot.core.published import FieldChange
from bot.core.states import State
from bot.publishing.drift import drift_problems, find_drift, post_drift, removed_from_files
from bot.publishing.snapshot import snapshot_of
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(ledger: Ledger, clock: FakeClock) -> Amendments:
    return Amendments(ledger, clock)


def part(index: int = 0, text: str = "New text", **changes: object) -> Part:
    made = Part(index, text, None, False, "public", "en", (), None, len(text))
    return replace(made, **changes)  # type: ignore[arg-type]


def post(
    *parts: Part, post_id: str = "p", cron: bool = False, content_hash: str = "now"
) -> CampaignPost:
    schedule = Schedule(cron="0 12 * * sun") if cron else Schedule(at=START)
    return CampaignPost(
        post_id, "posts/p.yaml", 7, 0, schedule, None, parts or (part(),), content_hash
    )


def publish(
    ledger: Ledger,
    key: str,
    parts: int = 1,
    *,
    post_id: str | None = None,
    planned: datetime = START,
    content_hash: str = "then",
) -> None:
    ledger.begin_attempt(key, post_id or key, planned, content_hash)
    for i in range(parts):
        ledger.record_part_intent(key, i, f"{key}-{i}")
        ledger.record_part_published(key, i, f"{key}-s{i}", f"https://x/{key}/{i}")
    ledger.mark_published(key)


def test_a_changed_part_is_compared_with_what_it_showed(ledger: Ledger, store: Amendments) -> None:
    """Only the part that changed is listed, with its status, URL, both versions and fields."""
    thread = post(part(0, "Same"), part(1, "Reply, new"))
    publish(ledger, "p", 2)
    shown = {0: snapshot_of(thread.parts[0]), 1: snapshot_of(part(1, "Reply, old"))}
    record = ledger.get("p")
    assert record is not None
    drift = post_drift(thread, record, shown)
    assert drift is not None
    (changed,) = drift.parts
    assert (changed.index, changed.number, changed.status_id, changed.url) == (
        1,
        2,
        "p-s1",
        "https://x/p/1",
    )
    assert (changed.before, changed.after) == (shown[1], snapshot_of(thread.parts[1]))
    assert [c.field for c in changed.changes] == ["text"]
    assert (drift.post, drift.record, drift.published_parts, drift.notes) == (thread, record, 2, ())


def test_nothing_changed_is_no_drift(ledger: Ledger) -> None:
    the_post = post()
    publish(ledger, "p")
    record = ledger.get("p")
    assert record is not None
    assert post_drift(the_post, record, {0: snapshot_of(the_post.parts[0])}) is None


def test_a_part_published_before_snapshots_is_compared_by_the_posts_content_hash(
    ledger: Ledger,
) -> None:
    """Without a snapshot, only the hash of the whole post says whether it changed: the same
    hash is no drift, another is one change of the whole content."""
    publish(ledger, "p", content_hash="then")
    record = ledger.get("p")
    assert record is not None
    assert post_drift(post(content_hash="then"), record, {}) is None
    drift = post_drift(post(content_hash="now"), record, {})
    assert drift is not None
    (changed,) = drift.parts
    assert changed.before is None
    assert changed.changes == (FieldChange("content", "(not recorded)", "(as in the file)"),)
    (problem,) = drift_problems([drift])
    assert problem.message == (
        "`p` part 1: changed after publishing (followers still see the old version)"
    )
    assert problem.hint == "run `campaign-bot amend p`"


def test_a_part_never_sent_is_not_compared(ledger: Ledger) -> None:
    """A thread cut short after its first part: the reply is not on the instance, so only
    the note on the number of parts is given."""
    thread = post(part(0, "Same"), part(1, "Reply"))
    ledger.begin_attempt("p", "p", START, "then")
    ledger.record_part_intent("p", 0, "k0")
    ledger.record_part_published("p", 0, "s0", "https://x/0")
    ledger.record_part_intent("p", 1, "k1")
    ledger.mark_failed("p", "422")
    record = ledger.get("p")
    assert record is not None
    drift = post_drift(thread, record, {0: snapshot_of(thread.parts[0])})
    assert drift is not None
    assert drift.parts == ()
    assert drift.published_parts == 1


def test_a_thread_with_another_number_of_parts_is_noted_and_warned_about(
    ledger: Ledger,
) -> None:
    """No edit adds or removes a reply: that is a note, warned about with its own hint."""
    thread = post(part(0, "Same"), part(1, "Reply"), part(2, "Another"))
    publish(ledger, "p", 2)
    record = ledger.get("p")
    assert record is not None
    before = {i: snapshot_of(p) for i, p in enumerate(thread.parts)}
    drift = post_drift(thread, record, before)
    assert drift is not None
    assert drift.notes == (
        "the thread has 3 parts in the file and 2 on the instance; an edit cannot add or "
        "remove replies",
    )
    (problem,) = drift_problems([drift])
    assert problem.message == (
        "`p` the thread has 3 parts in the file and 2 on the instance; an edit cannot add or "
        "remove replies"
    )
    assert problem.hint == "publish the new replies as a post of their own"
    # A thread that lost a part in the file is noted the same way.
    shorter = post(part(0, "Same"))
    gone = post_drift(shorter, record, before)
    assert gone is not None and gone.notes[0].startswith("the thread has 1 parts in the file")


def test_only_published_occurrences_are_compared_each_by_its_own_key(
    ledger: Ledger, store: Amendments
) -> None:
    """A one-off post is its own key; a repeating post's occurrences share its id and are
    listed oldest first. Failed, pending or withdrawn occurrences are not compared."""
    old = snapshot_of(part(text="Old text"))
    once = post(post_id="once")
    weekly = post(post_id="weekly", cron=True)
    publish(ledger, "once")
    store.record_snapshot("once", 0, old)
    for day in (15, 8, 1):
        key = f"weekly@2026-11-{day:02}T12:00:00Z"
        publish(ledger, key, post_id="weekly", planned=START.replace(month=11, day=day))
        store.record_snapshot(key, 0, old)
    ledger.begin_attempt("weekly@2026-11-22T12:00:00Z", "weekly", START, "h")
    ledger.mark_failed("weekly@2026-11-22T12:00:00Z", "422")
    publish(ledger, "other", post_id="weekly")  # a one-off key under the cron post's id
    store.record_snapshot("other", 0, old)
    found = find_drift([once, weekly], ledger, store)
    assert [(d.post.id, d.record.key) for d in found] == [
        ("once", "once"),
        ("weekly", "weekly@2026-11-01T12:00:00Z"),
        ("weekly", "weekly@2026-11-08T12:00:00Z"),
        ("weekly", "weekly@2026-11-15T12:00:00Z"),
        ("weekly", "other"),
    ]
    store.mark_withdrawn("once", "once", START, "taken back")
    assert "once" not in [d.record.key for d in find_drift([once], ledger, store)]


def test_a_one_off_post_is_not_matched_by_another_posts_occurrences(
    ledger: Ledger, store: Amendments
) -> None:
    """A one-off post is looked up by its key only, not by the occurrences carrying its id."""
    publish(ledger, "p@2026-11-01T12:00:00Z", post_id="p")
    store.record_snapshot("p@2026-11-01T12:00:00Z", 0, snapshot_of(part(text="Old text")))
    assert find_drift([post()], ledger, store) == []


def test_each_change_is_one_warning_at_the_posts_place(ledger: Ledger) -> None:
    """A warning per field, at the post's file and line (column 1), with the hint that fits:
    `amend`, `--reset-poll` for a poll, and withdrawing for what no edit can change."""
    new = part(
        text="New text",
        visibility="unlisted",
        poll=PollSpec(("Yes", "No", "Maybe"), 3600, False, False),
    )
    old = part(text="Old text", poll=PollSpec(("Yes", "No"), 3600, False, False))
    the_post = post(new)
    publish(ledger, "p")
    record = ledger.get("p")
    assert record is not None
    drift = post_drift(the_post, record, {0: snapshot_of(old)})
    assert drift is not None
    problems = drift_problems([drift])
    assert [(p.file, p.line, p.column, p.where, p.severity) for p in problems] == [
        ("posts/p.yaml", 7, 1, "", Severity.WARNING)
    ] * 3
    assert [(p.message, p.hint) for p in problems] == [
        (
            "`p` part 1: text changed after publishing (followers still see the old version)",
            "run `campaign-bot amend p`",
        ),
        (
            "`p` part 1: poll changed after publishing (followers still see the old version)",
            "run `campaign-bot amend p` --reset-poll (the votes so far are lost)",
        ),
        (
            "`p` part 1: visibility changed after publishing (followers still see the old version)",
            "an edit cannot change the visibility: `campaign-bot withdraw p` and publish it "
            "again under a new id, or put it back",
        ),
    ]
    # Only the changes `left` to the campaigner are warned about.
    left = drift_problems([drift], left=lambda change: not change.editable)
    assert [p.message.split(": ")[1] for p in left] == [
        "visibility changed after publishing (followers still see the old version)"
    ]


def test_a_repeating_posts_warnings_count_its_occurrences(
    ledger: Ledger, store: Amendments
) -> None:
    """One warning per field for all the occurrences that show the old version, counted;
    a single one is counted in the singular."""
    weekly = post(
        part(text="New text", poll=PollSpec(("A", "B", "C"), 3600, False, False)),
        post_id="weekly",
        cron=True,
    )
    old = snapshot_of(part(text="Old text", poll=PollSpec(("A", "B"), 3600, False, False)))
    key = "weekly@2026-11-01T12:00:00Z"
    publish(ledger, key, post_id="weekly")
    store.record_snapshot(key, 0, old)
    problems = drift_problems(find_drift([weekly], ledger, store))
    assert [(p.message, p.hint) for p in problems] == [
        (
            "`weekly` part 1: text changed after publishing (followers still see the old "
            "version in 1 published occurrence)",
            "run `campaign-bot amend weekly` to edit them (the occurrences still to come use "
            "the file as it is)",
        ),
        (
            "`weekly` part 1: poll changed after publishing (followers still see the old "
            "version in 1 published occurrence)",
            "run `campaign-bot amend weekly` --reset-poll (the votes so far are lost)",
        ),
    ]
    second = "weekly@2026-11-08T12:00:00Z"
    publish(ledger, second, post_id="weekly", planned=START + timedelta(days=1))
    store.record_snapshot(second, 0, old)
    problems = drift_problems(find_drift([weekly], ledger, store))
    assert [p.message.rsplit(" in ", 1)[1] for p in problems] == [
        "2 published occurrences)",
        "2 published occurrences)",
    ]


def test_warnings_of_two_posts_are_kept_apart(ledger: Ledger, store: Amendments) -> None:
    """The same change in two posts is two warnings, each at its own post."""
    a, b = post(post_id="a"), post(post_id="b")
    for key in ("a", "b"):
        publish(ledger, key)
        store.record_snapshot(key, 0, snapshot_of(part(text="Old text")))
    problems = drift_problems(find_drift([a, b], ledger, store))
    assert [p.message.split(" ")[0] for p in problems] == ["`a`", "`b`"]


def test_published_posts_gone_from_the_files_are_listed(ledger: Ledger) -> None:
    """A published occurrence whose post is no longer in the files is listed; one still
    there, a boost of a post still there, or an occurrence never published is not."""
    boost = FollowUp(FollowKind("boost"), "ally", timedelta(hours=1))
    kept = replace(post(post_id="kept"), follow_ups=(boost,))
    publish(ledger, "kept")
    publish(ledger, "kept~boost~ally", post_id="kept~boost~ally")
    publish(ledger, "removed")
    ledger.begin_attempt("failed", "failed", START, "h")
    ledger.mark_failed("failed", "422")
    records = ledger.all()
    assert [r.key for r in removed_from_files([kept], records)] == ["removed"]
    assert [r.state for r in removed_from_files([], records)] == [State.PUBLISHED] * 3


def test_a_repeating_posts_visibility_is_taken_back_by_key(
    ledger: Ledger, store: Amendments
) -> None:
    """What no edit can change in a repeating post: the occurrences still to come get it, one
    already out is withdrawn by its key."""
    weekly = post(part(visibility="unlisted"), post_id="weekly", cron=True)
    key = "weekly@2026-11-01T12:00:00Z"
    publish(ledger, key, post_id="weekly")
    store.record_snapshot(key, 0, snapshot_of(part()))
    (problem,) = drift_problems(find_drift([weekly], ledger, store))
    assert problem.hint == (
        "an edit cannot change the visibility: the occurrences still to come get the new one; "
        "one already out is taken back with `campaign-bot withdraw KEY` (the keys `status` "
        "shows)"
    )


def test_a_part_without_a_snapshot_does_not_end_the_comparison(ledger: Ledger) -> None:
    """The post published before snapshots, its reply amended since (so it has one): the
    post's hash is unchanged (an image replaced by one of the same size leaves it so), and the
    reply's snapshot differs from the file; the reply is still compared."""
    thread = post(part(0, "Same"), part(1, "Reply"), content_hash="then")
    publish(ledger, "p", 2, content_hash="then")
    record = ledger.get("p")
    assert record is not None
    reply = snapshot_of(thread.parts[1])
    drift = post_drift(thread, record, {1: replace(reply, text="Reply, before")})
    assert drift is not None
    assert [p.index for p in drift.parts] == [1]


def test_a_status_the_instance_gave_no_url_is_listed_without_one(ledger: Ledger) -> None:
    ledger.begin_attempt("p", "p", START, "then")
    ledger.record_part_intent("p", 0, "k0")
    ledger.record_part_published("p", 0, "s0", "")
    ledger.mark_published("p")
    record = ledger.get("p")
    assert record is not None
    drift = post_drift(post(), record, {0: snapshot_of(part(text="Old text"))})
    assert drift is not None
    assert drift.parts[0].url == ""
