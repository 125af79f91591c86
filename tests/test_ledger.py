"""The SQLite ledger, on real files: schema, state changes, crashes and concurrent access."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.core.states import ALLOWED_FROM, Change, State
from bot.storage import migrations as migrations_module
from bot.storage.ledger import Ledger, LedgerError
from bot.storage.migrations import MIGRATIONS

START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
PLANNED = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "ledger.sqlite3"


@pytest.fixture
def ledger(path: Path, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(path, clock) as opened:
        yield opened


def publish(ledger: Ledger, key: str, parts: int = 1, post_id: str = "p") -> None:
    ledger.begin_attempt(key, post_id, PLANNED, "h1")
    for i in range(parts):
        ledger.record_part_intent(key, i, f"{key}/{i}")
        ledger.record_part_published(key, i, f"{key}-{i}", f"https://social.test/@b/{key}-{i}")
    ledger.mark_published(key)


def bring_to(ledger: Ledger, key: str, state: State) -> None:
    """Put a new occurrence `key` into `state` through the public API."""
    if state is State.PUBLISHED:
        publish(ledger, key)
    elif state is State.MISSED:
        ledger.mark_missed(key, "p", PLANNED, "bot was down")
    else:
        ledger.begin_attempt(key, "p", PLANNED, "h1")
        if state is State.PENDING:
            ledger.mark_pending_after_error(key, "HTTP 503")
        elif state is State.FAILED:
            ledger.mark_failed(key, "HTTP 422")


def kinds(ledger: Ledger, key: str) -> list[str]:
    return [e.kind for e in ledger.events(key)]


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def run_child(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # Run from the repository's root, where a mutation-testing run also finds its settings.
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


# --- schema and opening ---------------------------------------------------------------------


def test_open_creates_folder_and_records_each_migration(path: Path, ledger: Ledger) -> None:
    """Opening a new path creates the folder and file and records every migration once."""
    assert path.is_file()
    rows = raw(path).execute("SELECT position, name, applied_at FROM schema_migrations").fetchall()
    assert rows == [
        (i, name, START.isoformat(timespec="microseconds"))
        for i, (name, _) in enumerate(MIGRATIONS, start=1)
    ]
    objects = {r[0] for r in raw(path).execute("SELECT name FROM sqlite_master")}
    assert {"occurrences", "parts", "events", "meta", "events_occurrence_key"} <= objects
    assert {"occurrences_post_id", "occurrences_state"} <= objects


def test_reopen_applies_nothing(path: Path, clock: FakeClock) -> None:
    """Re-opening an up-to-date ledger keeps its data and applies no migration again."""
    with Ledger.open(path, clock) as first:
        publish(first, "a")
    before = raw(path).execute("SELECT * FROM schema_migrations").fetchall()
    clock.advance(timedelta(days=1))
    with Ledger.open(path, clock) as again:
        assert again.states() == {"a": State.PUBLISHED}
    assert raw(path).execute("SELECT * FROM schema_migrations").fetchall() == before


def test_connection_settings(path: Path, ledger: Ledger) -> None:
    """The connection uses WAL, full sync, foreign keys and a busy timeout of seconds."""
    assert raw(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn = ledger._conn  # the per-connection settings can only be read on the connection itself
    assert conn is not None
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # 2 is FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)


def test_a_throwaway_ledger_skips_the_sync(path: Path, clock: FakeClock) -> None:
    """Only a ledger opened as not durable (the rehearsal's) commits without syncing."""
    with Ledger.open(path, clock, durable=False) as scratch:
        conn = scratch._conn
        assert conn is not None
        assert conn.execute("PRAGMA synchronous").fetchone() == (0,)  # 0 is OFF


def test_newer_schema_is_refused(path: Path, clock: FakeClock) -> None:
    """A ledger carrying a migration this code does not know asks for an upgrade."""
    Ledger.open(path, clock).close()
    raw(path).execute("INSERT INTO schema_migrations VALUES (99, '0099_future', 'x')")
    with pytest.raises(LedgerError, match="newer campaign-bot") as caught:
        Ledger.open(path, clock)
    assert str(caught.value).startswith(f"{path}: ")
    assert "upgrade campaign-bot" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_failed_migration_leaves_nothing_then_a_good_one_applies(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails is rolled back whole; a correct later migration applies on open."""
    Ledger.open(path, clock).close()
    broken = ("0099_broken", "CREATE TABLE extra (x); INSERT INTO nowhere VALUES (1);")
    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(LedgerError, match="no such table: nowhere"):
        Ledger.open(path, clock)
    names = [r[0] for r in raw(path).execute("SELECT name FROM schema_migrations")]
    assert names == [name for name, _ in MIGRATIONS]
    assert raw(path).execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchall() == []

    good = ("0099_extra", "CREATE TABLE extra (x);\nCREATE INDEX extra_x ON extra (x);")
    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*MIGRATIONS, good])
    Ledger.open(path, clock).close()
    names = [r[0] for r in raw(path).execute("SELECT name FROM schema_migrations ORDER BY 1")]
    assert names == [*(name for name, _ in MIGRATIONS), "0099_extra"]


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is a YAML file, not a database\n" * 200)


def _bad_header(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)


def _directory(path: Path) -> None:
    path.mkdir()


def _other_app(path: Path) -> None:
    raw(path).execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")


def _parent_is_file(path: Path) -> None:
    path.parent.rmdir()
    path.parent.write_text("a file where the data folder should be")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_garbage, "file is not a database"),
        (_bad_header, "file is not a database"),
        (_directory, "unable to open database file"),
        (_other_app, "not a campaign-bot ledger (it has tables photos)"),
        (_parent_is_file, "cannot open the ledger"),
    ],
)
def test_unusable_file_gives_one_line_error(
    path: Path, clock: FakeClock, make: Callable[[Path], None], says: str
) -> None:
    """A file that is no ledger is refused with one line naming the path and what to do."""
    path.parent.mkdir(parents=True)
    make(path)
    with pytest.raises(LedgerError) as caught:
        Ledger.open(path, clock)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert says in message
    assert "data_dir" in message
    assert "\n" not in message


def test_closed_ledger_refuses_use(ledger: Ledger) -> None:
    """Using a ledger after close is a LedgerError, and closing twice is harmless."""
    ledger.close()
    ledger.close()
    with pytest.raises(LedgerError, match="the ledger is closed"):
        ledger.states()


# --- records and times ----------------------------------------------------------------------


def test_begin_attempt_creates_the_row(ledger: Ledger, clock: FakeClock) -> None:
    """The first attempt creates the occurrence in `sending` with one attempt and an event."""
    record = ledger.begin_attempt("p@2030", "p", PLANNED, "sha256:ab")
    assert record.key == "p@2030"
    assert record.post_id == "p"
    assert record.planned_at == PLANNED
    assert record.state is State.SENDING
    assert record.attempts == 1
    assert record.content_hash == "sha256:ab"
    assert record.created_at == record.updated_at == record.first_attempt_at == START
    assert record.published_at is None
    assert record.last_error is None
    assert record.parts == ()
    assert ledger.get("p@2030") == record
    [event] = ledger.events("p@2030")
    assert (event.kind, event.at, event.part_index) == ("attempt", START, None)
    assert event.detail == "attempt 1, content sha256:ab"


def test_times_are_stored_as_utc_text(path: Path, ledger: Ledger) -> None:
    """Aware times in any zone are stored as UTC ISO text and read back equal; naive ones fail."""
    paris_summer = timezone(timedelta(hours=2))
    planned = datetime(2030, 7, 14, 10, 30, tzinfo=paris_summer)
    ledger.begin_attempt("k", "p", planned, "h")
    stored = raw(path).execute("SELECT planned_at FROM occurrences").fetchone()
    assert stored == ("2030-07-14T08:30:00.000000+00:00",)
    record = ledger.get("k")
    assert record is not None
    assert record.planned_at == planned
    assert record.planned_at.utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.begin_attempt("k", "p", datetime(2030, 7, 14, 10, 30), "h")  # noqa: DTZ001


def test_key_of_another_post_is_refused(ledger: Ledger) -> None:
    """An occurrence key stays tied to the post that created it."""
    ledger.begin_attempt("k", "p", PLANNED, "h")
    with pytest.raises(LedgerError, match="belongs to post 'p'"):
        ledger.begin_attempt("k", "q", PLANNED, "h")
    with pytest.raises(LedgerError, match="belongs to post 'p'"):
        ledger.mark_missed("k", "q", PLANNED, "x")


def test_unknown_key_is_refused(ledger: Ledger) -> None:
    """Changing an occurrence the ledger has never seen is an error, not a silent insert."""
    assert ledger.get("nope") is None
    with pytest.raises(LedgerError, match="no occurrence 'nope'"):
        ledger.mark_failed("nope", "x")


# --- state transitions ----------------------------------------------------------------------

ERR = None
ACTIONS: dict[str, Callable[[Ledger, str], object]] = {
    "begin_attempt": lambda lg, k: lg.begin_attempt(k, "p", PLANNED, "h2"),
    "mark_failed": lambda lg, k: lg.mark_failed(k, "boom"),
    "mark_pending_after_error": lambda lg, k: lg.mark_pending_after_error(k, "boom"),
    "mark_missed": lambda lg, k: lg.mark_missed(k, "p", PLANNED, "late"),
    "retry": lambda lg, k: lg.retry(k),
}
EVENT = {
    "begin_attempt": "attempt",
    "mark_failed": "failed",
    "mark_pending_after_error": "retry-later",
    "mark_missed": "missed",
    "retry": "retry",
}
# from-state -> the state each action leads to (ERR: refused). "same" marks an allowed repeat
# that changes nothing and logs nothing.
S = State
TABLE: dict[State, dict[str, State | str | None]] = {
    S.PENDING: {
        "begin_attempt": S.SENDING,
        "mark_failed": S.FAILED,
        "mark_pending_after_error": S.PENDING,
        "mark_missed": S.MISSED,
        "retry": ERR,
    },
    S.SENDING: {
        "begin_attempt": S.SENDING,
        "mark_failed": S.FAILED,
        "mark_pending_after_error": S.PENDING,
        "mark_missed": S.MISSED,
        "retry": ERR,
    },
    S.PUBLISHED: {
        "begin_attempt": ERR,
        "mark_failed": ERR,
        "mark_pending_after_error": ERR,
        "mark_missed": ERR,
        "retry": ERR,
    },
    S.FAILED: {
        "begin_attempt": S.SENDING,
        "mark_failed": S.FAILED,
        "mark_pending_after_error": ERR,
        "mark_missed": S.MISSED,
        "retry": S.PENDING,
    },
    S.MISSED: {
        "begin_attempt": ERR,
        "mark_failed": ERR,
        "mark_pending_after_error": ERR,
        "mark_missed": "same",
        "retry": S.PENDING,
    },
}


@pytest.mark.parametrize(
    ("start", "action", "expected"),
    [(start, action, to) for start, row in TABLE.items() for action, to in row.items()],
)
def test_state_transition(
    ledger: Ledger, clock: FakeClock, start: State, action: str, expected: State | str | None
) -> None:
    """Each change moves between the allowed states with its event, or is refused untouched."""
    bring_to(ledger, "k", start)
    before = ledger.get("k")
    events_before = kinds(ledger, "k")
    clock.advance(timedelta(minutes=5))
    if expected is ERR:
        with pytest.raises(LedgerError, match=f"it is {start.value}"):
            ACTIONS[action](ledger, "k")
        assert ledger.get("k") == before
        assert kinds(ledger, "k") == events_before
    elif expected == "same":
        ACTIONS[action](ledger, "k")
        assert ledger.get("k") == before
        assert kinds(ledger, "k") == events_before
    else:
        ACTIONS[action](ledger, "k")
        after = ledger.get("k")
        assert after is not None
        assert after.state is expected
        assert after.updated_at == START + timedelta(minutes=5)
        assert kinds(ledger, "k") == [*events_before, EVENT[action]]


def test_missed_creates_the_row(ledger: Ledger) -> None:
    """Marking an unseen occurrence missed creates it with no attempt."""
    state = State.MISSED
    ledger.mark_missed("p@x", "p", PLANNED, "the reason")
    record = ledger.get("p@x")
    assert record is not None
    assert (record.state, record.attempts, record.first_attempt_at) == (state, 0, None)
    [event] = ledger.events("p@x")
    assert (event.kind, event.detail) == (state.value, "the reason")


def test_errors_are_kept_and_attempts_counted(ledger: Ledger) -> None:
    """Failures keep their message as last_error; each attempt counts; retry keeps the count."""
    ledger.begin_attempt("k", "p", PLANNED, "h")
    ledger.mark_pending_after_error("k", "HTTP 503 Service Unavailable")
    ledger.begin_attempt("k", "p", PLANNED, "h")
    ledger.mark_failed("k", "HTTP 422: Validation failed: Text character limit of 500 exceeded")
    record = ledger.retry("k")
    assert record.state is State.PENDING
    assert record.attempts == 2
    assert record.last_error == "HTTP 422: Validation failed: Text character limit of 500 exceeded"
    assert kinds(ledger, "k") == ["attempt", "retry-later", "attempt", "failed", "retry"]
    assert [e.detail for e in ledger.events("k")] == [
        "attempt 1, content h",
        "HTTP 503 Service Unavailable",
        "attempt 2, content h",
        "HTTP 422: Validation failed: Text character limit of 500 exceeded",
        "was failed",
    ]


# --- parts ----------------------------------------------------------------------------------


def test_thread_is_published_part_by_part(ledger: Ledger, clock: FakeClock) -> None:
    """Intent then result for every part, then the whole occurrence is published."""
    ledger.begin_attempt("k", "p", PLANNED, "h")
    for i in range(3):
        clock.advance(timedelta(seconds=1))
        part = ledger.record_part_intent("k", i, f"idem-{i}")
        assert (part.index, part.idempotency_key, part.status_id) == (i, f"idem-{i}", None)
        assert part.first_attempt_at == clock.now()
        ledger.record_part_published("k", i, f"11{i}", f"https://social.test/@b/11{i}")
    ledger.mark_published("k")
    record = ledger.get("k")
    assert record is not None
    assert record.state is State.PUBLISHED
    assert record.published_at == START + timedelta(seconds=3)
    assert record.urls() == [f"https://social.test/@b/11{i}" for i in range(3)]
    part1 = record.part(1)
    assert part1 is not None
    assert part1.status_id == "111"
    assert record.part(3) is None
    events = ledger.events("k")
    assert [(e.kind, e.part_index) for e in events] == [
        ("attempt", None),
        ("part-sending", 0),
        ("part-published", 0),
        ("part-sending", 1),
        ("part-published", 1),
        ("part-sending", 2),
        ("part-published", 2),
        ("published", None),
    ]
    assert events[2].detail == "status 110 https://social.test/@b/110"
    assert events[-1].detail == " ".join(record.urls())


@pytest.mark.parametrize(("adopted", "kind"), [(False, "part-published"), (True, "part-adopted")])
def test_part_result_event_kind(ledger: Ledger, adopted: bool, kind: str) -> None:
    """A part found on the server by reconciliation is logged as adopted, not published."""
    ledger.begin_attempt("k", "p", PLANNED, "h")
    ledger.record_part_intent("k", 0, "idem")
    ledger.record_part_published("k", 0, "7", "https://social.test/@b/7", adopted=adopted)
    assert kinds(ledger, "k")[-1] == kind


def test_idempotency_key_cannot_change(ledger: Ledger, clock: FakeClock) -> None:
    """Re-sending a part must reuse its stored idempotency key; another key is refused."""
    ledger.begin_attempt("k", "p", PLANNED, "h")
    ledger.record_part_intent("k", 0, "idem-A")
    clock.advance(timedelta(minutes=1))
    again = ledger.record_part_intent("k", 0, "idem-A")
    assert again.first_attempt_at == START
    with pytest.raises(
        LedgerError,
        match="part 1 of 'k' was sent with idempotency key 'idem-A'; refusing to send it with "
        "'idem-B'",
    ):
        ledger.record_part_intent("k", 0, "idem-B")
    part = ledger.get("k").part(0)  # type: ignore[union-attr]
    assert part is not None
    assert part.idempotency_key == "idem-A"
    assert kinds(ledger, "k") == ["attempt", "part-sending", "part-sending"]


def test_part_rules(ledger: Ledger) -> None:
    """Intents need a sending occurrence, results need an intent, a part keeps one status."""
    ledger.mark_missed("m", "p", PLANNED, "late")
    with pytest.raises(LedgerError, match="cannot send part 1 of 'm': it is missed"):
        ledger.record_part_intent("m", 0, "idem")
    ledger.begin_attempt("k", "p", PLANNED, "h")
    with pytest.raises(LedgerError, match="part 1 of 'k' has no recorded send"):
        ledger.record_part_published("k", 0, "1", "u")
    ledger.record_part_intent("k", 0, "idem")
    ledger.record_part_published("k", 0, "1", "u")
    ledger.record_part_published("k", 0, "1", "u")  # the same result again changes nothing
    with pytest.raises(LedgerError, match="part 1 of 'k' is already status 1, not 2"):
        ledger.record_part_published("k", 0, "2", "u2")
    with pytest.raises(LedgerError, match="part 1 of 'k' is already published as status 1"):
        ledger.record_part_intent("k", 0, "idem")
    with pytest.raises(ValueError, match=r"^a part needs an index >= 0 and a non-empty idem"):
        ledger.record_part_intent("k", 1, "")
    assert kinds(ledger, "k") == ["attempt", "part-sending", "part-published"]


@pytest.mark.parametrize(
    ("published", "intents", "says"),
    [
        ([], [], "its parts [] are not all recorded as published from part 1 on (waiting: [])"),
        (
            [0],
            [0, 1],
            "its parts [1, 2] are not all recorded as published from part 1 on (waiting: [2])",
        ),
        ([1], [1], "its parts [2] are not all recorded as published from part 1 on (waiting: [])"),
    ],
)
def test_published_needs_every_part(
    ledger: Ledger, published: list[int], intents: list[int], says: str
) -> None:
    """An occurrence is published only when parts 0..n all have their status."""
    ledger.begin_attempt("k", "p", PLANNED, "h")
    for i in intents:
        ledger.record_part_intent("k", i, f"idem-{i}")
    for i in published:
        ledger.record_part_published("k", i, str(i), f"u{i}")
    with pytest.raises(LedgerError) as caught:
        ledger.mark_published("k")
    assert str(caught.value) == f"cannot mark 'k' published: {says}"
    assert ledger.states() == {"k": State.SENDING}


def test_published_cannot_be_begun_again(ledger: Ledger) -> None:
    """Once published, an occurrence can be neither sent again nor marked published twice."""
    publish(ledger, "k", parts=2)
    with pytest.raises(LedgerError, match="cannot send 'k': it is published"):
        ledger.begin_attempt("k", "p", PLANNED, "h")
    with pytest.raises(LedgerError, match="it is published"):
        ledger.mark_published("k")
    assert ledger.states() == {"k": State.PUBLISHED}


def test_crash_between_intent_and_result(path: Path, clock: FakeClock) -> None:
    """A process killed after committing an intent leaves the part with its key, no status."""
    Ledger.open(path, clock).close()
    script = """
import os, signal, sys
from datetime import UTC, datetime
from pathlib import Path
from bot.core.clock import FakeClock
from bot.storage.ledger import Ledger
ledger = Ledger.open(Path(sys.argv[1]), FakeClock(datetime(2030, 5, 1, 9, 0, tzinfo=UTC)))
ledger.begin_attempt("k", "p", datetime(2030, 5, 1, 12, 0, tzinfo=UTC), "h")
ledger.record_part_intent("k", 0, "idem-0")
ledger.record_part_published("k", 0, "100", "https://social.test/@b/100")
ledger.record_part_intent("k", 1, "idem-1")
os.kill(os.getpid(), signal.SIGKILL)
"""
    child = run_child(script, str(path))
    assert child.wait(timeout=60) == -signal.SIGKILL
    clock.advance(timedelta(hours=1))
    with Ledger.open(path, clock) as reopened:
        record = reopened.get("k")
        assert record is not None
        assert record.state is State.SENDING
        part0, part1 = record.parts
        assert (part0.idempotency_key, part0.status_id) == ("idem-0", "100")
        assert (part1.idempotency_key, part1.status_id, part1.url) == ("idem-1", None, None)
        assert [r.key for r in reopened.stuck(clock.now() - timedelta(minutes=10))] == ["k"]
        # Resuming reuses the stored key for the part that may already be on the server.
        assert reopened.begin_attempt("k", "p", PLANNED, "h").attempts == 2
        assert reopened.record_part_intent("k", 1, "idem-1").idempotency_key == "idem-1"


def test_stuck_lists_old_sending_only(ledger: Ledger, clock: FakeClock) -> None:
    """Only occurrences in `sending` untouched since the given time count as stuck."""
    ledger.begin_attempt("old", "p", PLANNED, "h")
    bring_to(ledger, "failed", State.FAILED)
    clock.advance(timedelta(minutes=30))
    ledger.begin_attempt("new", "p", PLANNED, "h")
    cutoff = clock.now() - timedelta(minutes=10)
    assert [r.key for r in ledger.stuck(cutoff)] == ["old"]
    ledger.record_part_intent("old", 0, "idem")  # activity refreshes the occurrence
    assert ledger.stuck(cutoff) == []


# --- queries, events, meta ------------------------------------------------------------------


def test_all_and_for_post_are_ordered(ledger: Ledger) -> None:
    """all() and for_post() list occurrences by planned time, then key, with their parts."""
    for key, post, hours in [("b@2", "b", 2), ("a@3", "a", 3), ("a@1", "a", 1), ("z@1", "z", 1)]:
        ledger.mark_missed(key, post, PLANNED + timedelta(hours=hours), "x")
    publish(ledger, "c", parts=2, post_id="c")
    assert [r.key for r in ledger.all()] == ["c", "a@1", "z@1", "b@2", "a@3"]
    assert [r.key for r in ledger.for_post("a")] == ["a@1", "a@3"]
    assert [len(r.parts) for r in ledger.for_post("c")] == [2]
    assert ledger.for_post("nobody") == []


def test_events_are_append_only_and_filterable(path: Path, ledger: Ledger) -> None:
    """Free events are appended in order, filtered by key, and can never be rewritten."""
    ledger.record_event("a", "note", "operator looked", part_index=2)
    ledger.record_event("b", "note")
    ledger.record_event("a", "warning", "slow server")
    assert [(e.id, e.occurrence_key, e.kind) for e in ledger.events()] == [
        (1, "a", "note"),
        (2, "b", "note"),
        (3, "a", "warning"),
    ]
    first = ledger.events("a")[0]
    assert (first.part_index, first.detail, first.at) == (2, "operator looked", START)
    for sql in ("UPDATE events SET kind = 'x'", "DELETE FROM events"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw(path).execute(sql)


def test_meta_values(ledger: Ledger) -> None:
    """Small facts are stored by name and overwritten in place."""
    assert ledger.get_meta("account_id") is None
    ledger.set_meta("account_id", "109384")
    ledger.set_meta("account_id", "109385")
    assert ledger.get_meta("account_id") == "109385"


def test_states_on_100k_rows(path: Path, ledger: Ledger) -> None:
    """states() returns every key and state of a 100,000-row ledger (bench/ledger_states.py
    measures how long it takes)."""
    states = list(State)
    rows = [
        (
            f"p{i % 50}@{i}",
            f"p{i % 50}",
            "2030-01-01T00:00:00.000000+00:00",
            states[i % len(states)].value,
        )
        for i in range(100_000)
    ]
    with raw(path) as conn:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO occurrences (key, post_id, planned_at, state, created_at, updated_at) "
            "VALUES (?, ?, ?3, ?, ?3, ?3)",
            rows,
        )
        conn.execute("COMMIT")
    result = ledger.states()
    assert len(result) == 100_000
    assert result["p45@12345"] is states[12345 % len(states)]


# --- concurrency and crashes ----------------------------------------------------------------


def test_reader_is_not_blocked_by_a_writer(path: Path, ledger: Ledger, clock: FakeClock) -> None:
    """While another connection holds the write lock, a second Ledger still reads at once."""
    publish(ledger, "done")
    writer = raw(path)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "INSERT INTO occurrences (key, post_id, planned_at, state, created_at, updated_at) "
        "VALUES ('uncommitted', 'p', 'x', 'pending', 'x', 'x')"
    )
    # With no busy timeout at all, a read that had to wait for the lock would fail.
    with Ledger.open(path, clock, busy_timeout=0) as reader:
        assert reader.states() == {"done": State.PUBLISHED}
        assert [r.key for r in reader.all()] == ["done"]
        assert [r.key for r in reader.for_post("p")] == ["done"]
        assert list(reader.views()) == ["done"]
        assert reader.stuck(START + timedelta(days=1)) == []
        assert reader.get("done") is not None
        assert kinds(reader, "done")[-1] == "published"
        assert reader.get_meta("nothing") is None
        assert reader.retried() == {}
        with pytest.raises(LedgerError, match="database is locked"):
            reader.set_meta("x", "y")
    writer.execute("COMMIT")
    assert ledger.states() == {"done": State.PUBLISHED, "uncommitted": State.PENDING}


def test_writer_waits_for_a_short_lock(path: Path, ledger: Ledger) -> None:
    """A write waits (busy timeout) for another process's short transaction instead of failing."""
    other = raw(path)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    releaser.start()
    ledger.set_meta("k", "v")
    releaser.join()
    assert ledger.get_meta("k") == "v"


HOLDS_THE_WRITE_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO meta (key, value) VALUES ('writer', 'other process')")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def _prepare_then_write(ledger: Ledger, operation: str) -> Callable[[], object]:
    """Put occurrence `k` where `operation` applies; return the operation (it reads first)."""
    if operation == "begin_attempt":
        return lambda: ledger.begin_attempt("k", "p", PLANNED, "h1")
    if operation == "mark_missed":
        return lambda: ledger.mark_missed("k", "p", PLANNED, "too late")
    if operation == "store":
        return lambda: _read_then_write(ledger)
    ledger.begin_attempt("k", "p", PLANNED, "h1")
    if operation == "record_part_intent":
        return lambda: ledger.record_part_intent("k", 0, "idem")
    if operation == "record_part_published":
        ledger.record_part_intent("k", 0, "idem")
        return lambda: ledger.record_part_published("k", 0, "1", "https://social.test/@b/1")
    if operation == "mark_published":
        ledger.record_part_intent("k", 0, "idem")
        ledger.record_part_published("k", 0, "1", "https://social.test/@b/1")
        return lambda: ledger.mark_published("k")
    if operation == "mark_failed":
        return lambda: ledger.mark_failed("k", "HTTP 422")
    ledger.mark_failed("k", "HTTP 422")
    return lambda: ledger.retry("k")


def _read_then_write(ledger: Ledger) -> None:
    """What a store keeping its own tables in the ledger does: read, then write what it read."""
    with ledger.transaction(write=True) as conn:
        count = conn.execute("SELECT count(*) FROM occurrences").fetchone()[0]
        conn.execute(
            "INSERT INTO occurrences (key, post_id, planned_at, state, created_at, updated_at) "
            "VALUES ('k', 'p', 'x', 'pending', 'x', 'x')"
        )
        conn.execute("INSERT INTO meta (key, value) VALUES ('seen', ?)", (str(count),))


@pytest.mark.parametrize(
    "operation",
    [
        "begin_attempt",
        "mark_missed",
        "mark_failed",
        "retry",
        "record_part_intent",
        "record_part_published",
        "mark_published",
        "store",
    ],
)
def test_a_write_that_reads_first_survives_another_process_committing_meanwhile(
    path: Path, ledger: Ledger, operation: str
) -> None:
    """Writes take the lock up front (BEGIN IMMEDIATE): one that reads before it writes waits
    for another process's commit instead of failing on a stale snapshot."""
    write = _prepare_then_write(ledger, operation)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDS_THE_WRITE_LOCK, str(path)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdin is not None
    assert other.stdout.readline() == "locked\n"
    stdin = other.stdin

    def release() -> None:
        stdin.write("commit\n")
        stdin.flush()

    # The release comes while the write waits; it reads the ledger before writing to it.
    releaser = threading.Timer(0.3, release)
    releaser.start()
    try:
        write()
    finally:
        releaser.join()
        assert other.wait(timeout=10) == 0
    assert "k" in ledger.states()
    assert ledger.get_meta("writer") == "other process"


def test_a_failed_commit_leaves_nothing_behind_and_the_ledger_usable(
    path: Path, ledger: Ledger
) -> None:
    """A COMMIT that fails is rolled back: nothing of it stays, and the next write works."""
    with raw(path) as conn:
        # A check that SQLite makes only at COMMIT: every new meta row adds a row whose
        # deferred foreign key points nowhere.
        conn.executescript(
            """
            CREATE TABLE commit_guard (
                key TEXT REFERENCES occurrences (key) DEFERRABLE INITIALLY DEFERRED
            );
            CREATE TRIGGER meta_guard AFTER INSERT ON meta WHEN NEW.key = 'doomed'
            BEGIN INSERT INTO commit_guard VALUES ('no such occurrence'); END;
            """
        )
    with pytest.raises(LedgerError, match="FOREIGN KEY constraint failed"):
        ledger.set_meta("doomed", "x")
    assert ledger.get_meta("doomed") is None
    ledger.set_meta("fine", "y")
    assert ledger.get_meta("fine") == "y"
    publish(ledger, "after")
    assert ledger.states() == {"after": State.PUBLISHED}


def test_reader_sees_whole_transactions(path: Path, ledger: Ledger, clock: FakeClock) -> None:
    """A second Ledger reading while the first writes never sees half of a change."""
    stop = threading.Event()

    def write() -> None:
        for n in range(150):
            publish(ledger, f"k{n}", parts=2)
        stop.set()

    thread = threading.Thread(target=write)
    thread.start()
    reads = 0
    with Ledger.open(path, clock) as reader:
        while not stop.is_set() or reads == 0:
            for record in reader.all():
                statuses = [p.status_id for p in record.parts]
                if record.state is State.PUBLISHED:
                    assert len(statuses) == 2
                    assert None not in statuses
                assert len(reader.events(record.key)) >= 1
            reads += 1
    thread.join()
    assert len(ledger.states()) == 150


def test_threads_share_one_ledger(ledger: Ledger) -> None:
    """Several threads writing through one Ledger lose nothing and interleave no transaction."""
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for n in range(25):
                publish(ledger, f"t{t}-{n}", parts=2)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread to fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(ledger.states().values()) == {State.PUBLISHED}
    assert len(ledger.states()) == 200
    assert [e.id for e in ledger.events()] == list(range(1, 200 * 6 + 1))
    for record in ledger.all():
        assert kinds(ledger, record.key) == [
            "attempt",
            "part-sending",
            "part-published",
            "part-sending",
            "part-published",
            "published",
        ]


WRITER = """
import itertools, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from bot.core.clock import SystemClock
from bot.storage.ledger import Ledger
ledger = Ledger.open(Path(sys.argv[1]), SystemClock())
run = sys.argv[2]
for n in itertools.count():
    key = f"r{run}-{n}"
    planned = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    ledger.begin_attempt(key, f"r{run}", planned, "h")
    for i in range(3):
        ledger.record_part_intent(key, i, f"{key}/{i}")
        ledger.record_part_published(key, i, f"{run}{n}{i}", f"https://social.test/@b/{key}/{i}")
    ledger.mark_published(key)
    if n == 3:
        print("writing", flush=True)
"""
FULL_HISTORY = [
    "attempt",
    "part-sending",
    "part-published",
    "part-sending",
    "part-published",
    "part-sending",
    "part-published",
    "published",
]


@pytest.mark.parametrize("rounds", [4])
def test_sigkill_while_writing_leaves_a_consistent_ledger(
    path: Path, clock: FakeClock, rounds: int
) -> None:
    """Killing a writing process at random moments never leaves a half-written change."""
    Ledger.open(path, clock).close()
    for run in range(rounds):
        child = run_child(WRITER, str(path), str(run))
        assert child.stdout is not None
        assert child.stdout.readline() == "writing\n"
        time.sleep(0.05 + 0.1 * run)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL

    check = raw(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    orphan = "SELECT count(*) FROM parts WHERE status_id IS NOT NULL AND idempotency_key IS NULL"
    assert check.execute(orphan).fetchone() == (0,)
    with Ledger.open(path, clock) as reopened:
        ids = [e.id for e in reopened.events()]
        assert ids == list(range(1, len(ids) + 1))
        unfinished = []
        for record in reopened.all():
            history = kinds(reopened, record.key)
            # Each write commits its row changes and its event together, so the history is a
            # prefix of the full one and matches the rows exactly.
            assert history == FULL_HISTORY[: len(history)]
            assert len(record.parts) == history.count("part-sending")
            assert sum(p.status_id is not None for p in record.parts) == history.count(
                "part-published"
            )
            if record.state is State.PUBLISHED:
                assert history == FULL_HISTORY
            else:
                assert record.state is State.SENDING
                unfinished.append(record.key)
        assert len(unfinished) <= rounds
        assert len(reopened.all()) >= 4 * rounds


def test_views_give_state_and_planned_time_of_every_occurrence(tmp_path: Path) -> None:
    """views() is the planner's light read: key -> (state, planned time), nothing else."""
    with Ledger.open(
        tmp_path / "ledger.sqlite3", FakeClock(datetime(2026, 6, 1, tzinfo=UTC))
    ) as ledger:
        planned = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)
        ledger.mark_missed("a", "a", planned, "late")
        ledger.begin_attempt("b", "b", planned + timedelta(hours=1), "hash")
        assert ledger.views() == {
            "a": (State.MISSED, planned),
            "b": (State.SENDING, planned + timedelta(hours=1)),
        }


def test_the_transition_table_is_the_ledgers_rule() -> None:
    """The ledger's refusals above are exactly the states table's, change by change."""
    by_action = {
        "begin_attempt": Change.SEND,
        "mark_failed": Change.FAIL,
        "mark_pending_after_error": Change.RETRY_LATER,
        "retry": Change.RETRY,
    }
    for action, change in by_action.items():
        allowed = {start for start, row in TABLE.items() if row[action] is not ERR}
        assert allowed == set(ALLOWED_FROM[change]), action


def test_an_event_without_detail_has_an_empty_one_and_one_needs_a_kind(ledger: Ledger) -> None:
    """A free-form event may leave out its detail (stored empty), never its kind."""
    ledger.record_event("token", "alerted")
    [event] = ledger.events("token")
    assert (event.kind, event.detail, event.part_index) == ("alerted", "", None)
    with pytest.raises(ValueError, match=r"^an event needs a kind$"):
        ledger.record_event("token", "")
