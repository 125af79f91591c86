"""The ledger's memory of published content in detail: snapshots per part, edits written ahead
and settled, and withdrawals — on a real ledger file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.core.published import PartSnapshot
from bot.core.states import State
from bot.storage.amendments import Amendments, EditRecord
from bot.storage.ledger import Ledger
from bot.storage.migrations import LedgerError

START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(ledger: Ledger, clock: FakeClock) -> Amendments:
    return Amendments(ledger, clock)


def snap(text: str) -> PartSnapshot:
    return PartSnapshot(text, None, (), (), None, False, "en", "public")


def another_writer_commits_at_the_first_write(ledger: Ledger) -> sqlite3.Connection:
    """At the first INSERT or UPDATE of the ledger's next transaction, another connection
    tries to write and commit: the worst moment for a transaction that read first."""
    other = sqlite3.connect(ledger.path, timeout=0, isolation_level=None)
    done: list[bool] = []

    def on_statement(sql: str) -> None:
        if done or not sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            return
        done.append(True)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta (key, value) VALUES ('other', 'writer')")
            other.execute("COMMIT")
        except sqlite3.OperationalError:  # the ledger holds the write lock: the other waits
            pass

    assert ledger._conn is not None
    ledger._conn.set_trace_callback(on_statement)
    return other


def recorded_at(ledger: Ledger, key: str, index: int) -> str:
    with sqlite3.connect(ledger.path) as conn:
        row = conn.execute(
            "SELECT recorded_at FROM part_snapshots WHERE occurrence_key = ? AND idx = ?",
            (key, index),
        ).fetchone()
    return str(row[0])


# --- snapshots ------------------------------------------------------------------------------


def test_a_snapshot_per_part_replaces_the_one_before(
    store: Amendments, ledger: Ledger, clock: FakeClock
) -> None:
    store.record_snapshot("p", 0, snap("one"))
    store.record_snapshot("p", 1, snap("reply"))
    store.record_snapshot("q", 0, snap("other"))
    clock.advance(timedelta(minutes=5))
    store.record_snapshot("p", 0, snap("two"))
    assert store.snapshots("p") == {0: snap("two"), 1: snap("reply")}
    assert store.snapshots("q") == {0: snap("other")}
    assert store.snapshots("nothing") == {}
    assert store.all_snapshots() == {
        "p": {0: snap("two"), 1: snap("reply")},
        "q": {0: snap("other")},
    }
    assert recorded_at(ledger, "p", 0) == "2030-05-01T09:05:00.000000+00:00"
    assert recorded_at(ledger, "p", 1) == "2030-05-01T09:00:00.000000+00:00"


# --- edits ----------------------------------------------------------------------------------


def test_an_intended_edit_holds_what_it_will_send(
    store: Amendments, ledger: Ledger, clock: FakeClock
) -> None:
    edit = store.intend_edit("p", 1, "s1", snap("new"), "media before: m1")
    assert edit == EditRecord(
        edit.id, "p", 1, "s1", snap("new"), "intended", START, None, "media before: m1"
    )
    assert store.edits("p") == [edit]
    (event,) = ledger.events("p")
    assert (event.kind, event.detail, event.part_index) == ("edit-intended", "status s1", 1)
    default = store.intend_edit("p", 2, "s2", snap("x"))
    assert default.detail == ""


def test_the_open_edit_is_the_latest_intended_one_of_that_part(
    store: Amendments, clock: FakeClock
) -> None:
    first = store.intend_edit("p", 0, "s0", snap("a"))
    clock.advance(timedelta(seconds=1))
    second = store.intend_edit("p", 0, "s0", snap("b"))
    other_part = store.intend_edit("p", 1, "s1", snap("c"))
    other_post = store.intend_edit("q", 0, "t0", snap("d"))
    assert store.open_edit("p", 0) == second
    assert store.open_edit("p", 1) == other_part
    assert store.open_edit("q", 0) == other_post
    assert store.open_edit("q", 1) is None
    store.settle_edit(second, "failed", "422")
    assert store.open_edit("p", 0) == first
    assert [e.id for e in store.edits("p")] == [first.id, second.id, other_part.id]
    assert first.id < second.id


@pytest.mark.parametrize(
    ("state", "kind", "shown"), [("applied", "edited", "new"), ("found", "edit-found", "new")]
)
def test_an_applied_or_found_edit_becomes_what_followers_see(
    store: Amendments, ledger: Ledger, clock: FakeClock, state: str, kind: str, shown: str
) -> None:
    store.record_snapshot("p", 1, snap("old"))
    store.record_snapshot("p", 0, snap("post"))
    edit = store.intend_edit("p", 1, "s1", snap("new"))
    clock.advance(timedelta(minutes=2))
    store.settle_edit(edit, state, "text changed")
    (settled,) = store.edits("p")
    assert settled.state == state
    assert settled.done_at == START + timedelta(minutes=2)
    assert settled.detail == "text changed"
    assert settled.created_at == START
    assert store.snapshots("p") == {0: snap("post"), 1: snap(shown)}
    assert recorded_at(ledger, "p", 1) == "2030-05-01T09:02:00.000000+00:00"
    last = ledger.events("p")[-1]
    assert (last.kind, last.detail, last.part_index) == (kind, "text changed", 1)


def test_a_failed_edit_leaves_what_followers_see(
    store: Amendments, ledger: Ledger, clock: FakeClock
) -> None:
    store.record_snapshot("p", 0, snap("old"))
    edit = store.intend_edit("p", 0, "s0", snap("new"))
    clock.advance(timedelta(minutes=1))
    store.settle_edit(edit, "failed", "422 too long")
    (settled,) = store.edits("p")
    assert (settled.state, settled.done_at) == ("failed", START + timedelta(minutes=1))
    assert store.snapshots("p") == {0: snap("old")}
    assert recorded_at(ledger, "p", 0) == "2030-05-01T09:00:00.000000+00:00"
    last = ledger.events("p")[-1]
    assert (last.kind, last.detail, last.part_index) == ("edit-failed", "422 too long", 0)


@pytest.mark.parametrize("state", ["intended", "applied ", "APPLIED", ""])
def test_an_edit_is_settled_only_as_applied_found_or_failed(store: Amendments, state: str) -> None:
    edit = store.intend_edit("p", 0, "s0", snap("new"))
    with pytest.raises(ValueError, match=f"an edit cannot be settled as {state!r}"):
        store.settle_edit(edit, state, "x")
    assert store.open_edit("p", 0) == edit


def test_only_applied_edits_settled_after_the_moment_count(
    store: Amendments, clock: FakeClock
) -> None:
    applied = store.intend_edit("p", 0, "s0", snap("a"))
    store.settle_edit(applied, "applied", "")  # at START
    clock.advance(timedelta(minutes=1))
    later = store.intend_edit("p", 1, "s1", snap("b"))
    store.settle_edit(later, "applied", "")  # at START + 1 min
    for state in ("found", "failed"):
        store.settle_edit(store.intend_edit("q", 0, "t0", snap(state)), state, "")
    store.intend_edit("r", 0, "u0", snap("open"))
    assert store.edits_since(START - timedelta(seconds=1)) == [
        START,
        START + timedelta(minutes=1),
    ]
    assert store.edits_since(START) == [START + timedelta(minutes=1)]
    assert store.edits_since(START + timedelta(minutes=1)) == []


# --- withdrawing ----------------------------------------------------------------------------


def test_a_deleted_part_is_written_into_the_history(store: Amendments, ledger: Ledger) -> None:
    store.part_deleted("p", 2, "s2", "deleted by the operator")
    (event,) = ledger.events("p")
    assert (event.kind, event.part_index, event.at) == ("part-deleted", 2, START)
    assert event.detail == "status s2: deleted by the operator"


def test_a_post_never_sent_is_written_down_as_withdrawn(
    store: Amendments, ledger: Ledger, clock: FakeClock
) -> None:
    clock.advance(timedelta(hours=1))
    record = store.mark_withdrawn("p@1", "p", START + timedelta(days=1), "taken back")
    assert (record.key, record.post_id, record.state) == ("p@1", "p", State.WITHDRAWN)
    assert record.planned_at == START + timedelta(days=1)
    assert record.created_at == record.updated_at == START + timedelta(hours=1)
    assert record.parts == ()
    assert ledger.get("p@1") == record
    (event,) = ledger.events("p@1")
    assert (event.kind, event.detail, event.part_index) == ("withdrawn", "taken back", None)


def test_a_published_post_is_withdrawn_and_keeps_its_record(
    store: Amendments, ledger: Ledger, clock: FakeClock
) -> None:
    ledger.begin_attempt("p", "p", START, "h")
    ledger.record_part_intent("p", 0, "k")
    ledger.record_part_published("p", 0, "s0", "https://x/s0")
    ledger.mark_published("p")
    clock.advance(timedelta(hours=2))
    record = store.mark_withdrawn("p", "p", START + timedelta(days=9), "deleted")
    assert record.state is State.WITHDRAWN
    assert record.planned_at == START  # the planned time stays the one it was sent for
    assert record.updated_at == START + timedelta(hours=2)
    assert [p.status_id for p in record.parts] == ["s0"]
    assert ledger.events("p")[-1].kind == "withdrawn"
    with pytest.raises(LedgerError, match="cannot withdraw 'p': it is withdrawn"):
        store.mark_withdrawn("p", "p", START, "again")


def test_an_occurrence_of_another_post_is_not_withdrawn(store: Amendments, ledger: Ledger) -> None:
    ledger.begin_attempt("p@1", "p", START, "h")
    ledger.mark_failed("p@1", "422")
    with pytest.raises(LedgerError, match="occurrence 'p@1' belongs to post 'p'"):
        store.mark_withdrawn("p@1", "q", START, "no")
    assert ledger.states() == {"p@1": State.FAILED}
    assert "withdrawn" not in [e.kind for e in ledger.events("p@1")]


def test_withdrawing_while_another_process_writes_does_not_fail(
    store: Amendments, ledger: Ledger
) -> None:
    """mark_withdrawn reads the state before it writes: it holds the write lock from the
    start, so another writer's commit in between cannot make it fail."""
    ledger.begin_attempt("p", "p", START, "h")
    ledger.mark_failed("p", "422")
    other = another_writer_commits_at_the_first_write(ledger)
    try:
        assert store.mark_withdrawn("p", "p", START, "taken back").state is State.WITHDRAWN
        other = another_writer_commits_at_the_first_write(ledger)
        assert store.mark_withdrawn("q", "q", START, "never sent").state is State.WITHDRAWN
    finally:
        other.close()


def test_reading_snapshots_and_edits_does_not_wait_for_a_writer(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Reads never take the write lock: they answer while another process writes."""
    path = tmp_path / "ledger.sqlite3"
    with Ledger.open(path, clock, busy_timeout=0) as ledger:
        store = Amendments(ledger, clock)
        store.record_snapshot("p", 0, snap("old"))
        applied = store.intend_edit("p", 0, "s0", snap("new"))
        store.settle_edit(applied, "applied", "")
        pending = store.intend_edit("p", 1, "s1", snap("reply"))
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta (key, value) VALUES ('other', 'writer')")
            assert store.snapshots("p") == {0: snap("new")}
            assert store.all_snapshots() == {"p": {0: snap("new")}}
            assert [e.id for e in store.edits("p")] == [applied.id, pending.id]
            assert store.open_edit("p", 1) == pending
            assert store.edits_since(START - timedelta(seconds=1)) == [START]
            other.execute("ROLLBACK")
        finally:
            other.close()
