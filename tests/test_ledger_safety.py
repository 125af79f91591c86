"""What keeps the ledger whole and the bot's only one: the run lock, the integrity check, the
account binding, media ids, backups and restore — on real files and real processes."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.core.states import State
from bot.storage import integrity
from bot.storage.backups import back_up, back_up_if_due, backups, restore, taken_at
from bot.storage.binding import (
    AccountMismatch,
    Binding,
    check_binding,
    read_binding,
)
from bot.storage.ledger import Ledger, LedgerError
from bot.storage.lock import AlreadyRunning, RunLock, held_by_another
from bot.storage.media import (
    MEDIA_KEPT,
    forget_uploads,
    record_upload,
    uploads_since,
    usable_uploads,
)
from bot.storage.migrations import MIGRATIONS, _statements

START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]
ALICE = Binding("https://social.test", "101", "alice")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


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


# --- the run lock ---------------------------------------------------------------------------


def test_second_lock_is_refused_naming_the_first(data_dir: Path) -> None:
    """A second taker is refused at once with the holder's pid, host and start time."""
    with RunLock.acquire(data_dir, "run", START):
        with pytest.raises(AlreadyRunning) as caught:
            RunLock.acquire(data_dir, "run --once", START)
        holder = held_by_another(data_dir)
    message = str(caught.value)
    assert f"campaign-bot process {os.getpid()} on {socket.gethostname()} (`run`)" in message
    assert "running since 2030-05-01T09:00:00+00:00" in message
    assert holder is not None and holder.pid == os.getpid()
    assert held_by_another(data_dir) is None
    RunLock.acquire(data_dir, "run", START).release()  # free again once released


LOCKER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from bot.storage.lock import RunLock
lock = RunLock.acquire(Path(sys.argv[1]), "run", datetime.now(UTC))
print("locked", flush=True)
sys.stdin.read()
"""


def test_lock_of_a_killed_process_does_not_block(data_dir: Path) -> None:
    """SIGKILL leaves the lock file behind, but not the lock: a restart takes it at once."""
    child = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(data_dir)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,  # where the project's settings are (also in a mutation-testing copy)
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning, match=f"campaign-bot process {child.pid} "):
            RunLock.acquire(data_dir, "run", START)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert (data_dir / "bot.lock").exists()
    RunLock.acquire(data_dir, "run", START).release()


# --- integrity ------------------------------------------------------------------------------


def test_zero_byte_ledger_is_refused_not_recreated(path: Path, clock: FakeClock) -> None:
    """Tried: `: > ledger.sqlite3` made the bot start over and post everything again. Opening
    it is now refused as damaged, and the file stays as it was."""
    with Ledger.open(path, clock) as ledger:
        publish(ledger, "a")
    for extra in path.parent.glob("ledger.sqlite3-*"):
        extra.unlink()
    path.write_bytes(b"")
    with pytest.raises(integrity.LedgerDamaged) as caught:
        Ledger.open(path, clock)
    assert "the ledger is empty (zero bytes)" in str(caught.value)
    assert "`campaign-bot ledger restore`" in str(caught.value)
    assert path.stat().st_size == 0
    assert integrity.problem(path) == "is empty (zero bytes): its records are gone"


def test_sqlite_file_without_the_schema_is_damaged(path: Path, clock: FakeClock) -> None:
    """An SQLite file with no tables where the ledger should be is not silently migrated."""
    path.parent.mkdir(parents=True)
    sqlite3.connect(path).execute("PRAGMA user_version = 7").connection.close()
    assert path.stat().st_size > 0
    with pytest.raises(integrity.LedgerDamaged, match="holds no ledger"):
        Ledger.open(path, clock)
    assert integrity.problem(path) is not None


def test_missing_ledger_is_created_only_when_asked(path: Path, clock: FakeClock) -> None:
    """create=False refuses a missing ledger; creating one leaves no temporary file behind."""
    with pytest.raises(LedgerError, match="there is no ledger"):
        Ledger.open(path, clock, create=False)
    assert not path.exists()
    Ledger.open(path, clock).close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite3"]
    assert integrity.problem(path) is None


def test_quick_check_finds_a_damaged_page(path: Path, clock: FakeClock) -> None:
    """A file whose pages were overwritten fails the thorough check."""
    with Ledger.open(path, clock) as ledger:
        for _ in range(300):
            ledger.record_event("k", "note", "x" * 200)
    raw = bytearray(path.read_bytes())
    raw[4096 * 2 : 4096 * 4] = b"\x07" * (4096 * 2)
    path.write_bytes(bytes(raw))
    assert integrity.problem(path) is not None


def test_the_second_migration_upgrades_an_older_ledger(path: Path, clock: FakeClock) -> None:
    """A ledger made with only the first migration gains the media table and keeps its rows."""
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(MIGRATIONS[0][1]):
        conn.execute(statement)
    conn.execute(
        "CREATE TABLE schema_migrations (position INTEGER PRIMARY KEY, name TEXT NOT NULL "
        "UNIQUE, applied_at TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO schema_migrations VALUES (1, ?, 'x')", (MIGRATIONS[0][0],))
    conn.execute(
        "INSERT INTO occurrences (key, post_id, planned_at, state, created_at, updated_at) "
        "VALUES ('a', 'a', 'x', 'pending', 'x', 'x')"
    )
    conn.close()
    with Ledger.open(path, clock) as ledger:
        assert ledger.states() == {"a": State.PENDING}
        record_upload(ledger, "a", 0, 0, "m1")
        assert list(usable_uploads(ledger, "a", 0)) == [0]


# --- the account binding --------------------------------------------------------------------


def test_binding_is_written_once_and_refuses_another_account(path: Path, clock: FakeClock) -> None:
    with Ledger.open(path, clock) as ledger:
        check_binding(ledger, ALICE)
        assert read_binding(ledger) == ALICE
        assert ledger.get_meta("account:default") is not None
        check_binding(ledger, Binding("https://social.test/", "101", "alice_renamed"))
        assert read_binding(ledger) == Binding("https://social.test/", "101", "alice_renamed")
        with pytest.raises(AccountMismatch) as caught:
            check_binding(ledger, Binding("https://social.test", "202", "bob"))
        assert read_binding(ledger) == Binding("https://social.test/", "101", "alice_renamed")
    message = str(caught.value)
    assert "belongs to @alice_renamed (account id 101)" in message
    assert "the access token is for @bob (account id 202)" in message
    assert "`campaign-bot ledger rebind`" in message


def test_binding_of_an_older_ledger_is_read_from_its_account_line(
    path: Path, clock: FakeClock
) -> None:
    with Ledger.open(path, clock) as ledger:
        ledger.set_meta("account", "alice 101 on https://social.test")
        assert read_binding(ledger) == ALICE
        with pytest.raises(AccountMismatch):
            check_binding(ledger, Binding("https://other.test", "101", "alice"))


# --- media ids ------------------------------------------------------------------------------


def test_uploads_are_kept_until_the_instance_would_have_removed_them(
    path: Path, clock: FakeClock
) -> None:
    with Ledger.open(path, clock) as ledger:
        record_upload(ledger, "a", 1, 0, "m0")
        record_upload(ledger, "a", 1, 1, "m1")
        assert {p: m.media_id for p, m in usable_uploads(ledger, "a", 1).items()} == {
            0: "m0",
            1: "m1",
        }
        assert usable_uploads(ledger, "a", 0) == {}
        clock.advance(MEDIA_KEPT + timedelta(seconds=1))
        assert usable_uploads(ledger, "a", 1) == {}
        record_upload(ledger, "a", 1, 0, "m2")
        assert usable_uploads(ledger, "a", 1)[0].media_id == "m2"
        forget_uploads(ledger, "a", 1, "404")
        assert usable_uploads(ledger, "a", 1) == {}
        kinds = [e.kind for e in ledger.events("a")]
        assert kinds == ["media-uploaded"] * 3 + ["media-forgotten"]
        # Pacing counts every upload, even one later forgotten.
        assert uploads_since(ledger, START + MEDIA_KEPT) == [clock.now()]
        assert len(uploads_since(ledger, START - timedelta(seconds=1))) == 3


# --- backups and restore --------------------------------------------------------------------


def test_backups_rotate_and_restore_moves_the_old_file_aside(
    path: Path, data_dir: Path, clock: FakeClock
) -> None:
    with Ledger.open(path, clock) as ledger:
        publish(ledger, "first")
        first = back_up(ledger, data_dir)
        assert back_up_if_due(ledger, data_dir) is None
        publish(ledger, "second")
        for _ in range(8):
            clock.advance(timedelta(days=1))
            assert back_up_if_due(ledger, data_dir) is not None
        copies = backups(data_dir)
        assert len(copies) == 7
        assert first not in copies
        assert taken_at(copies[0]) == clock.now()
    path.write_bytes(b"")
    moved = restore(path, copies[-1], clock.now())
    assert moved is not None and moved.read_bytes() == b""
    with Ledger.open(path, clock) as ledger:
        assert ledger.states() == {"first": State.PUBLISHED, "second": State.PUBLISHED}


def test_restore_refuses_a_damaged_copy(path: Path, tmp_path: Path, clock: FakeClock) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"")
    with pytest.raises(LedgerError, match="cannot restore from it: the file is empty"):
        restore(path, bad, clock.now())
    assert not path.exists()


def test_a_copy_made_while_another_connection_writes_is_whole(
    path: Path, data_dir: Path, clock: FakeClock
) -> None:
    with Ledger.open(path, clock) as ledger, Ledger.open(path, clock) as writer:
        for i in range(50):
            publish(writer, f"k{i}")
        copy = back_up(ledger, data_dir)
    assert integrity.problem(copy) is None
    with Ledger.open(copy, clock) as restored:
        assert len(restored.states()) == 50
