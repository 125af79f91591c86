"""The ledger's smaller promises, on a real file: what `retried` reports, how an error without a
message is named, how times and parts read back, and how opening meets another process's
migration."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.storage.ledger import Ledger
from bot.storage.migrations import MIGRATIONS, LedgerError, _statements
from bot.storage.records import PartRecord

START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
PLANNED = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite3"


@pytest.fixture
def ledger(path: Path, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(path, clock) as opened:
        yield opened


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def test_retried_names_each_occurrence_an_operator_put_back_and_when(
    ledger: Ledger, clock: FakeClock
) -> None:
    """Only occurrences put back by `retry` are listed, each with the time of its last retry."""
    ledger.mark_missed("missed", "p", PLANNED, "bot was down")
    ledger.begin_attempt("failed", "p", PLANNED, "h")
    ledger.mark_failed("failed", "HTTP 422")
    ledger.begin_attempt("sending", "p", PLANNED, "h")
    assert ledger.retried() == {}
    clock.advance(timedelta(hours=1))
    ledger.retry("missed")
    clock.advance(timedelta(hours=1))
    ledger.retry("failed")
    assert ledger.retried() == {
        "missed": START + timedelta(hours=1),
        "failed": START + timedelta(hours=2),
    }
    ledger.begin_attempt("failed", "p", PLANNED, "h")
    ledger.mark_failed("failed", "HTTP 422")
    clock.advance(timedelta(hours=1))
    ledger.retry("failed")
    assert ledger.retried()["failed"] == START + timedelta(hours=3)


def test_an_sqlite_error_without_a_message_is_named_by_its_kind(path: Path, ledger: Ledger) -> None:
    """SQLite can fail with an empty message (a trigger's RAISE with ''); the one-line error then
    names the kind of failure rather than ending in nothing."""
    raw(path).execute(
        "CREATE TRIGGER meta_silent BEFORE INSERT ON meta BEGIN SELECT RAISE(ABORT, ''); END"
    )
    with pytest.raises(LedgerError) as caught:
        ledger.set_meta("k", "v")
    assert str(caught.value) == f"{path}: ledger access failed: IntegrityError"


# --- times and records ----------------------------------------------------------------------


class _NoOffset(tzinfo):
    """A zone that cannot say its offset: a time in it is as naive as one without a zone."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


def test_a_time_whose_zone_gives_no_offset_is_refused(ledger: Ledger) -> None:
    """Only a time that knows its offset from UTC can be stored; the ledger stays untouched."""
    unknown = datetime(2030, 5, 1, 12, 0, tzinfo=_NoOffset())
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.begin_attempt("k", "p", unknown, "h")
    assert ledger.all() == []


@pytest.fixture
def machine_five_hours_behind_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "EST+05")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("machine_five_hours_behind_utc")
def test_times_are_stored_in_utc_whatever_the_machines_zone(path: Path, ledger: Ledger) -> None:
    """The stored text is UTC, not the machine's local time, so text order stays time order."""
    ledger.begin_attempt("k", "p", PLANNED, "h")
    row = raw(path).execute("SELECT planned_at, created_at FROM occurrences").fetchone()
    assert row == ("2030-05-01T12:00:00.000000+00:00", "2030-05-01T09:00:00.000000+00:00")


def test_a_part_reads_back_when_it_was_sent_and_published(ledger: Ledger, clock: FakeClock) -> None:
    """Each part keeps the time of its first send and of its publication, as recorded."""
    ledger.begin_attempt("k", "p", PLANNED, "h")
    clock.advance(timedelta(seconds=10))
    ledger.record_part_intent("k", 0, "idem")
    clock.advance(timedelta(seconds=20))
    ledger.record_part_published("k", 0, "1", "https://social.test/@b/1")
    record = ledger.get("k")
    assert record is not None
    assert record.parts == (
        PartRecord(
            index=0,
            idempotency_key="idem",
            status_id="1",
            url="https://social.test/@b/1",
            first_attempt_at=START + timedelta(seconds=10),
            published_at=START + timedelta(seconds=30),
        ),
    )


# --- opening and migrating ------------------------------------------------------------------


def test_a_foreign_sqlite_file_is_refused_naming_all_its_tables(
    path: Path, clock: FakeClock
) -> None:
    """Every table of another application's file is named, so the operator recognises it."""
    raw(path).executescript("CREATE TABLE photos (id); CREATE TABLE albums (id);")
    with pytest.raises(LedgerError, match=r"it has tables photos, albums\); point data_dir"):
        Ledger.open(path, clock)


def _ledger_of_the_first_migration(path: Path) -> None:
    conn = raw(path)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in _statements(MIGRATIONS[0][1]):
        conn.execute(statement)
    conn.execute(
        "CREATE TABLE schema_migrations (position INTEGER PRIMARY KEY, name TEXT NOT NULL "
        "UNIQUE, applied_at TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO schema_migrations VALUES (1, ?, 'then')", (MIGRATIONS[0][0],))
    conn.close()


class _ClockThatLetsTheOtherCommit(FakeClock):
    """Opening asks the time just before migrating: the other process commits a moment later,
    while this one waits for the write lock that the other holds."""

    def __init__(self, other: sqlite3.Connection) -> None:
        super().__init__(START)
        self._release = threading.Timer(0.3, lambda: other.execute("COMMIT"))

    def now(self) -> datetime:
        if not self._release.is_alive() and not self._release.finished.is_set():
            self._release.start()
        return super().now()

    def join(self) -> None:
        self._release.join()


def test_opening_applies_what_another_older_version_left_after_migrating_meanwhile(
    path: Path,
) -> None:
    """Another, older campaign-bot migrates the file while this one waits to: only the
    migrations still missing are applied then, and every one of them is."""
    _ledger_of_the_first_migration(path)
    other = raw(path)
    other.execute("BEGIN IMMEDIATE")
    for statement in _statements(MIGRATIONS[1][1]):
        other.execute(statement)
    other.execute("INSERT INTO schema_migrations VALUES (2, ?, 'meanwhile')", (MIGRATIONS[1][0],))
    clock = _ClockThatLetsTheOtherCommit(other)
    try:
        with Ledger.open(path, clock) as ledger:
            ledger.mark_missed("k", "p", PLANNED, "late")
            ledger.retry("k")
            assert ledger.retried() == {"k": START}
    finally:
        clock.join()
    rows = raw(path).execute("SELECT position, name, applied_at FROM schema_migrations")
    assert rows.fetchall() == [
        (1, MIGRATIONS[0][0], "then"),
        (2, MIGRATIONS[1][0], "meanwhile"),
        *(
            (i, name, START.isoformat(timespec="microseconds"))
            for i, (name, _) in enumerate(MIGRATIONS[2:], start=3)
        ),
    ]


def test_opening_refuses_what_a_newer_version_migrated_meanwhile(path: Path) -> None:
    """A newer campaign-bot migrates the file while this one waits to: it is refused, naming
    the file, and the newer schema is left as it is."""
    _ledger_of_the_first_migration(path)
    other = raw(path)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO schema_migrations VALUES (99, '0099_future', 'meanwhile')")
    clock = _ClockThatLetsTheOtherCommit(other)
    try:
        with pytest.raises(LedgerError) as caught:
            Ledger.open(path, clock)
    finally:
        clock.join()
    assert str(caught.value).startswith(f"{path}: this ledger was written by a newer")
    names = [row[0] for row in raw(path).execute("SELECT name FROM schema_migrations")]
    assert names == [MIGRATIONS[0][0], "0099_future"]
