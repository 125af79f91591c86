"""The ledger file itself: what the integrity check says about each kind of damage, how a new
ledger is made, and the daily copies in data_dir/backups/ and putting one back — on real files."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.core.states import State
from bot.storage import integrity
from bot.storage.backups import (
    back_up,
    back_up_if_due,
    backup_dir,
    backup_job,
    backups,
    daily_backup,
    restore,
    taken_at,
)
from bot.storage.ledger import Ledger, LedgerError

START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def path(data_dir: Path) -> Path:
    return data_dir / "ledger.sqlite3"


def publish(ledger: Ledger, key: str) -> None:
    ledger.begin_attempt(key, key, START, "h")
    ledger.record_part_intent(key, 0, f"idem-{key}")
    ledger.record_part_published(key, 0, f"s-{key}", f"https://social.test/@alice/{key}")
    ledger.mark_published(key)


def sqlite_file(path: Path, *statements: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()
    return path


# --- what the integrity check says ----------------------------------------------------------


def test_each_kind_of_damage_is_named(tmp_path: Path, path: Path, clock: FakeClock) -> None:
    """A folder, an SQLite file without tables, one with only some of the ledger's tables,
    and a file that is not SQLite at all each get their own sentence."""
    assert integrity.problem(tmp_path) == "is a folder, not a file"
    empty = sqlite_file(tmp_path / "empty.sqlite3", "PRAGMA user_version = 7")
    assert integrity.problem(empty) == (
        "holds no ledger (an SQLite file without the ledger's tables)"
    )
    half = sqlite_file(
        tmp_path / "half.sqlite3", "CREATE TABLE occurrences (k)", "CREATE TABLE notes (n)"
    )
    assert integrity.problem(half) == (
        "is not a campaign-bot ledger (it has tables notes, occurrences)"
    )
    text = tmp_path / "text.sqlite3"
    text.write_text("these are notes, not a database\n" * 200, encoding="utf-8")
    assert integrity.problem(text) == "is damaged or not a ledger (file is not a database)"
    Ledger.open(path, clock).close()
    assert integrity.problem(path) is None


def test_a_damaged_ledger_names_the_first_three_findings(path: Path, clock: FakeClock) -> None:
    """SQLite's check finds four missing values; the problem quotes the first three."""
    Ledger.open(path, clock).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE notes (a, b, c, d)")
    conn.execute("INSERT INTO notes VALUES (NULL, NULL, NULL, NULL)")
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "UPDATE sqlite_master SET sql = 'CREATE TABLE notes (a NOT NULL, b NOT NULL, "
        "c NOT NULL, d NOT NULL)' WHERE name = 'notes'"
    )
    conn.close()
    assert integrity.problem(path) == (
        "is damaged (SQLite's check says: NULL value in notes.a; NULL value in notes.b; "
        "NULL value in notes.c)"
    )
    assert integrity.problem(path, thorough=False) is None


def test_check_refuses_a_damaged_file_and_passes_a_sound_one(path: Path, clock: FakeClock) -> None:
    """`check` raises with the file, what is wrong and what to do; a sound ledger passes."""
    Ledger.open(path, clock).close()
    integrity.check(path)
    path.write_bytes(b"")
    with pytest.raises(integrity.LedgerDamaged) as caught:
        integrity.check(path)
    assert str(caught.value) == (
        f"{path}: the ledger is empty (zero bytes): its records are gone; {integrity.WHAT_TO_DO}"
    )


def test_an_error_without_words_is_named_by_its_kind() -> None:
    assert integrity.one_line(sqlite3.OperationalError()) == "OperationalError"
    assert integrity.one_line(OSError("disk\n  full")) == "disk full"


# --- making and opening the ledger ----------------------------------------------------------


def test_a_new_ledger_is_made_in_folders_that_do_not_exist_yet(
    tmp_path: Path, clock: FakeClock
) -> None:
    deep = tmp_path / "srv" / "campaign" / "data" / "ledger.sqlite3"
    with Ledger.open(deep, clock) as ledger:
        publish(ledger, "a")
    assert integrity.problem(deep) is None


def test_a_ledger_another_process_made_first_is_kept(path: Path, clock: FakeClock) -> None:
    """Two starts at once: the one that links second leaves the first one's ledger alone."""
    with Ledger.open(path, clock) as ledger:
        publish(ledger, "a")
    integrity.create_atomically(path, clock)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite3"]
    with Ledger.open(path, clock) as ledger:
        assert ledger.states() == {"a": State.PUBLISHED}


def test_a_connection_syncs_every_commit_unless_told_otherwise(
    path: Path, clock: FakeClock
) -> None:
    """Unless the ledger is a throwaway one, each commit reaches the disk (synchronous FULL)."""
    conn = integrity.connect(path, clock, busy_timeout=1.0, create=True)
    try:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    conn = integrity.connect(path, clock, busy_timeout=1.0, create=False, durable=False)
    try:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 0
    finally:
        conn.close()


def test_a_ledger_that_cannot_be_opened_says_what_to_do(
    tmp_path: Path, path: Path, clock: FakeClock
) -> None:
    (tmp_path / "taken").write_text("a file where a folder should be", encoding="utf-8")
    with pytest.raises(LedgerError) as caught:
        Ledger.open(tmp_path / "taken" / "ledger.sqlite3", clock)
    assert "cannot open the ledger (" in str(caught.value)
    assert str(caught.value).endswith(
        "; restore it from a backup or point data_dir at the folder that holds the ledger"
    )
    with pytest.raises(LedgerError) as missing:
        Ledger.open(path, clock, create=False)
    assert str(missing.value) == (
        f"{path}: there is no ledger; if the bot has published before, it is lost: "
        "`campaign-bot ledger restore` or `ledger rebuild` bring it back"
    )


# --- copies and restore ---------------------------------------------------------------------


def test_the_first_copy_is_made_in_a_new_folder_and_others_files_are_left_alone(
    tmp_path: Path, path: Path, clock: FakeClock
) -> None:
    """With no copy yet, one is due at once, made in data_dir/backups/ even if data_dir does
    not exist yet; files there that are not copies are neither listed nor rotated away."""
    elsewhere = tmp_path / "other" / "data"
    with Ledger.open(path, clock) as ledger:
        publish(ledger, "a")
        made = back_up_if_due(ledger, elsewhere)
        assert made is not None and made.parent == backup_dir(elsewhere)
        strays = ["notes.sqlite3", "ledger-notes.txt", "ledger-20300101T000000Z.sqlite3-wal"]
        for name in strays:
            (backup_dir(elsewhere) / name).write_text("mine", encoding="utf-8")
        for _ in range(3):
            clock.advance(timedelta(days=1))
            back_up(ledger, elsewhere, keep=2)
        newest = [clock.now() - timedelta(days=n) for n in (0, 1)]
    assert [p.name for p in backups(elsewhere)] == [
        f"ledger-{t:%Y%m%dT%H%M%SZ}.sqlite3" for t in newest
    ]
    assert all((backup_dir(elsewhere) / name).exists() for name in strays)


@pytest.mark.usefixtures("machine_far_from_utc")
def test_copies_and_moved_files_are_named_in_utc(path: Path, data_dir: Path) -> None:
    """The stamp in a copy's name, and in the name of the file a restore moves aside, is UTC."""
    clock = FakeClock(START)
    with Ledger.open(path, clock) as ledger:
        publish(ledger, "a")
        copy = back_up(ledger, data_dir)
    assert copy.name == "ledger-20300501T090000Z.sqlite3"
    assert taken_at(copy) == START
    moved = restore(path, copy, START + timedelta(hours=1))
    assert moved is not None and moved.name == "ledger.sqlite3.replaced-20300501T100000Z"


def test_restore_moves_the_old_files_write_ahead_log_aside_with_it(
    path: Path, data_dir: Path, clock: FakeClock
) -> None:
    """The replaced ledger's -wal and -shm files go with it, so none is read as the restored
    file's; with no ledger left, strays of a lost one are moved aside too."""
    with Ledger.open(path, clock) as ledger:
        publish(ledger, "a")
        copy = back_up(ledger, data_dir)
    stamp = "20300501T090000Z"
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).write_bytes(b"old " + suffix.encode())
    moved = restore(path, copy, START)
    assert moved == path.with_name(f"ledger.sqlite3.replaced-{stamp}")
    assert path.with_name(f"ledger.sqlite3.replaced-{stamp}-wal").read_bytes() == b"old -wal"
    assert path.with_name(f"ledger.sqlite3.replaced-{stamp}-shm").read_bytes() == b"old -shm"
    assert not path.with_name("ledger.sqlite3-wal").exists()
    assert not path.with_name("ledger.sqlite3-shm").exists()

    path.unlink()
    path.with_name("ledger.sqlite3-wal").write_bytes(b"lost")
    assert restore(path, copy, START) is None
    assert path.with_name(f"ledger.sqlite3.stray-{stamp}-wal").read_bytes() == b"lost"
    with Ledger.open(path, clock) as ledger:
        assert ledger.states() == {"a": State.PUBLISHED}


def test_the_daily_job_makes_a_copy_when_due_and_logs_what_went_wrong(
    path: Path, data_dir: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.storage.backups")
    with Ledger.open(path, clock) as ledger:
        job = backup_job(ledger, data_dir)
        job()
        (copy,) = backups(data_dir)
        assert [r.getMessage() for r in caplog.records] == [f"ledger backed up to {copy}"]
        caplog.clear()
        daily_backup(ledger, data_dir)  # not due yet: nothing made, nothing said
        assert backups(data_dir) == [copy] and caplog.records == []
        clock.advance(timedelta(days=1))
        blocked = data_dir / "blocked"
        blocked.write_text("a file where the backups folder should be", encoding="utf-8")
        daily_backup(ledger, blocked)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith(f"cannot back up the ledger to {blocked}: ")
    assert "Not a directory" in record.getMessage()  # what the system said


def test_a_ledger_in_a_folder_named_with_uri_characters_is_sound(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Tried: with data_dir `campaign #2`, the check called the sound ledger one that "holds
    no ledger" (the `#` cut its name short), so the bot would not publish and no copy could be
    restored. `#`, `?` and `%` in the folder's name are now just characters."""
    data_dir = tmp_path / "campaign #2?%41"
    path = data_dir / "ledger.sqlite3"
    with Ledger.open(path, clock) as ledger:
        publish(ledger, "a")
        copy = back_up(ledger, data_dir)
    assert integrity.problem(path) is None
    integrity.check(path)
    assert integrity.problem(copy) is None
    restore(path, copy, clock.now())
    with Ledger.open(path, clock) as ledger:
        assert ledger.states() == {"a": State.PUBLISHED}
