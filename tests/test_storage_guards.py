"""The storage guards in detail: what the run lock writes and says, how the account binding is
read and compared, and what a record rebuilt from the instance holds — on real files."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.core.states import State
from bot.storage.binding import (
    AccountMismatch,
    Binding,
    check_binding,
    read_binding,
    write_binding,
)
from bot.storage.ledger import Ledger
from bot.storage.lock import AlreadyRunning, Holder, RunLock, held_by_another, read_holder
from bot.storage.migrations import LedgerError
from bot.storage.recovery import FoundPart, record_found

START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
ALICE = Binding("https://social.test", "101", "alice")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


# --- the run lock ---------------------------------------------------------------------------


def test_the_lock_file_names_this_process_and_is_emptied_on_release(tmp_path: Path) -> None:
    """The file says pid, host, start and command as JSON; a released lock names no one."""
    data_dir = tmp_path / "deep" / "data"  # made with its parents
    path = data_dir / "bot.lock"
    previous = os.umask(0o022)
    try:
        lock = RunLock.acquire(data_dir, "run --once", START)
    finally:
        os.umask(previous)
    body = json.loads(path.read_text(encoding="utf-8"))
    assert body == {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": "2030-05-01T09:00:00+00:00",
        "command": "run --once",
    }
    assert path.read_text(encoding="utf-8").endswith("}\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    lock.release()
    assert path.read_bytes() == b""
    lock.release()  # twice is harmless
    assert held_by_another(data_dir) is None


def test_a_longer_stale_lock_file_is_replaced_not_overwritten_in_part(tmp_path: Path) -> None:
    """A file left by an earlier bot is emptied before this bot writes itself into it."""
    tmp_path.joinpath("bot.lock").write_text(json.dumps({"command": "x" * 500}), encoding="utf-8")
    with RunLock.acquire(tmp_path, "run", START) as lock:
        assert lock.data_dir == tmp_path
        holder = read_holder(tmp_path)
        assert holder.command == "run"
        assert holder.pid == os.getpid()


def test_a_second_taker_is_told_exactly_who_holds_the_lock(tmp_path: Path) -> None:
    with RunLock.acquire(tmp_path, "run", START), pytest.raises(AlreadyRunning) as caught:
        RunLock.acquire(tmp_path, "publish", START)
    assert str(caught.value) == (
        f"another bot is already publishing from {tmp_path}: campaign-bot process "
        f"{os.getpid()} on {socket.gethostname()} (`run`), running since "
        "2030-05-01T09:00:00+00:00; only one may run per ledger — stop it first (two would post "
        "twice), or use `campaign-bot status` and `health` beside it"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_refused_or_failed_takers_leave_no_descriptor_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RunLock.acquire(tmp_path, "run", START):
        before = open_descriptors()
        for _ in range(5):
            with pytest.raises(AlreadyRunning):
                RunLock.acquire(tmp_path, "run", START)
        assert open_descriptors() == before

    def broken(fd: int, operation: int) -> None:
        raise OSError(9, "bad file descriptor")

    monkeypatch.setattr(fcntl, "flock", broken)
    before = open_descriptors()
    with pytest.raises(OSError, match="bad file descriptor"):
        RunLock.acquire(tmp_path, "run", START)
    assert open_descriptors() == before


def test_the_lock_is_let_go_even_when_its_file_cannot_be_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = RunLock.acquire(tmp_path, "run", START)

    def full_disk(fd: int, length: int) -> None:
        raise OSError(28, "no space left on device")

    monkeypatch.setattr(os, "ftruncate", full_disk)
    lock.release()
    monkeypatch.undo()
    assert held_by_another(tmp_path) is None
    RunLock.acquire(tmp_path, "run", START).release()


def test_a_process_the_bot_starts_does_not_inherit_the_lock(tmp_path: Path) -> None:
    """A child started while the lock is held must not keep it once the bot lets go."""
    lock = RunLock.acquire(tmp_path, "run", START)
    child = subprocess.Popen(
        [sys.executable, "-c", "print('started', flush=True); import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        close_fds=False,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "started"
        lock.release()
        assert held_by_another(tmp_path) is None
        RunLock.acquire(tmp_path, "run", START).release()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()


def test_who_holds_the_lock_is_said_as_far_as_it_is_known() -> None:
    assert Holder(None, "h", "s", "c").describe() == (
        "another campaign-bot process (it has not said which yet)"
    )
    assert Holder(12, None, None, None).describe() == "campaign-bot process 12"
    assert Holder(12, "box", "2030-05-01T09:00:00+00:00", "run").describe() == (
        "campaign-bot process 12 on box (`run`), running since 2030-05-01T09:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", Holder(None, None, None, None)),
        ("not json", Holder(None, None, None, None)),
        ("[1, 2]", Holder(None, None, None, None)),
        ('{"pid": "12", "host": "", "started": null}', Holder(None, None, None, None)),
        (
            '{"pid": 12, "host": "box", "started": "today", "command": "run"}',
            Holder(12, "box", "today", "run"),
        ),
        ('{"pid": 7, "host": 5}', Holder(7, "5", None, None)),
    ],
)
def test_the_holder_is_read_from_whatever_the_lock_file_holds(
    tmp_path: Path, content: str, expected: Holder
) -> None:
    tmp_path.joinpath("bot.lock").write_text(content, encoding="utf-8")
    assert read_holder(tmp_path) == expected


def test_no_lock_file_means_no_holder(tmp_path: Path) -> None:
    assert held_by_another(tmp_path / "missing") is None
    assert read_holder(tmp_path / "missing") == Holder(None, None, None, None)


# --- the account binding --------------------------------------------------------------------


def test_the_same_account_is_recognised_however_its_instance_is_spelt(ledger: Ledger) -> None:
    check_binding(ledger, ALICE)
    check_binding(ledger, Binding("HTTPS://Social.Test//", "101", "alice"))
    with pytest.raises(AccountMismatch):
        check_binding(ledger, Binding("https://social.test", "1010", "alice"))
    with pytest.raises(AccountMismatch) as caught:
        check_binding(ledger, Binding("https://social.example", "101", "alice"))
    assert str(caught.value).startswith(
        f"{ledger.path}: this ledger belongs to @alice (account id 101) on "
        "HTTPS://Social.Test//, but the access token is for @alice (account id 101) on "
        "https://social.example; nothing is published. Use the token of @alice, or"
    )


def test_a_trailing_slash_or_capitals_on_either_side_are_the_same_instance(
    ledger: Ledger,
) -> None:
    check_binding(ledger, Binding("https://Social.TX/", "101", "alice"))
    check_binding(ledger, Binding("https://social.tx", "101", "alice"))
    assert read_binding(ledger) == Binding("https://social.tx", "101", "alice")
    check_binding(ledger, Binding("HTTPS://SOCIAL.TX//", "101", "alice"))
    with pytest.raises(AccountMismatch):
        check_binding(ledger, Binding("https://social.t", "101", "alice"))


def test_the_refusal_of_another_account_says_what_to_do(ledger: Ledger) -> None:
    check_binding(ledger, ALICE)
    with pytest.raises(AccountMismatch) as caught:
        check_binding(ledger, Binding("https://social.test", "202", "bob"))
    assert str(caught.value) == (
        f"{ledger.path}: this ledger belongs to @alice (account id 101) on https://social.test, "
        "but the access token is for @bob (account id 202) on https://social.test; nothing is "
        "published. Use the token of @alice, or, if the campaign has really moved to the new "
        "account, run `campaign-bot ledger rebind` (its records stay, and say what the old "
        "account posted)"
    )


def test_an_account_other_than_the_default_is_bound_and_renamed_under_its_own_name(
    ledger: Ledger,
) -> None:
    check_binding(ledger, ALICE)
    carol = Binding("https://social.test", "303", "carol")
    check_binding(ledger, carol, "third")
    assert read_binding(ledger, "third") == carol
    check_binding(ledger, Binding("https://social.test", "303", "carol_new"), "third")
    assert read_binding(ledger, "third") == Binding("https://social.test", "303", "carol_new")
    assert read_binding(ledger) == ALICE


def test_an_unchanged_binding_is_not_written_again(ledger: Ledger) -> None:
    """The stored binding is left as it is when the same account comes back unchanged."""
    check_binding(ledger, ALICE)
    stored = '{"instance": "https://social.test", "account_id": "101", "acct": "alice", "x": 1}'
    ledger.set_meta("account:default", stored)
    check_binding(ledger, ALICE)
    assert ledger.get_meta("account:default") == stored


def test_bindings_are_kept_per_account_name(ledger: Ledger) -> None:
    bob = Binding("https://social.test", "202", "bob")
    write_binding(ledger, bob, "second")
    assert read_binding(ledger, "second") == bob
    assert read_binding(ledger) is None
    check_binding(ledger, ALICE)
    check_binding(ledger, bob, "second")
    with pytest.raises(AccountMismatch):
        check_binding(ledger, ALICE, "second")
    assert json.loads(ledger.get_meta("account:second") or "") == {
        "instance": "https://social.test",
        "account_id": "202",
        "acct": "bob",
    }


@pytest.mark.parametrize(
    "stored", ["not json", "[1, 2]", '{"instance": "https://social.test", "acct": "alice"}']
)
def test_a_damaged_binding_reads_as_none(ledger: Ledger, stored: str) -> None:
    ledger.set_meta("account:default", stored)
    ledger.set_meta("account", "alice 101 on https://social.test")
    assert read_binding(ledger) is None


@pytest.mark.parametrize(
    "legacy", ["alice on https://social.test", "alice 101 on ", "101 on https://social.test"]
)
def test_an_incomplete_account_line_of_an_older_ledger_binds_nothing(
    ledger: Ledger, legacy: str
) -> None:
    ledger.set_meta("account", legacy)
    assert read_binding(ledger) is None


def test_the_older_account_line_binds_only_the_default_account(ledger: Ledger) -> None:
    ledger.set_meta("account", "alice 101 on https://social.test")
    assert read_binding(ledger) == ALICE
    assert read_binding(ledger, "second") is None


# --- records found on the instance ----------------------------------------------------------


def found(index: int, minutes: int) -> FoundPart:
    return FoundPart(
        index,
        f"idem-{index}",
        f"s{index}",
        f"https://social.test/@alice/s{index}",
        START + timedelta(minutes=minutes),
    )


def test_a_whole_thread_found_on_the_instance_is_published(
    ledger: Ledger, clock: FakeClock
) -> None:
    clock.advance(timedelta(hours=3))
    record_found(
        ledger,
        key="p@1",
        post_id="p",
        planned_at=START,
        content_hash="h1",
        parts=[found(0, 1), found(1, 2)],
        complete=True,
    )
    record = ledger.get("p@1")
    assert record is not None
    assert (record.post_id, record.planned_at, record.state) == ("p", START, State.PUBLISHED)
    assert (record.attempts, record.content_hash, record.last_error) == (1, "h1", None)
    assert record.created_at == record.updated_at == clock.now()
    assert record.first_attempt_at == START + timedelta(minutes=1)
    assert record.published_at == START + timedelta(minutes=2)
    assert [
        (p.index, p.idempotency_key, p.status_id, p.url, p.first_attempt_at, p.published_at)
        for p in record.parts
    ] == [
        (i, f"idem-{i}", f"s{i}", f"https://social.test/@alice/s{i}", at, at)
        for i, at in [(0, START + timedelta(minutes=1)), (1, START + timedelta(minutes=2))]
    ]
    (event,) = ledger.events("p@1")
    assert (event.at, event.kind, event.part_index) == (clock.now(), "rebuilt", None)
    assert event.detail == "found on the instance: part 0: status s0, part 1: status s1"


def test_a_thread_found_in_part_is_left_sending_for_the_next_run(ledger: Ledger) -> None:
    record_found(
        ledger,
        key="p@1",
        post_id="p",
        planned_at=START,
        content_hash="h1",
        parts=[found(0, 1)],
        complete=False,
    )
    record = ledger.get("p@1")
    assert record is not None
    assert record.state is State.SENDING
    assert record.published_at is None
    assert record.first_attempt_at == START + timedelta(minutes=1)
    assert [p.status_id for p in record.parts] == ["s0"]


@pytest.mark.parametrize("indexes", [[], [1], [0, 2], [1, 0]])
def test_found_parts_must_start_at_the_post_and_have_no_gap(
    ledger: Ledger, indexes: list[int]
) -> None:
    with pytest.raises(ValueError) as caught:
        record_found(
            ledger,
            key="p@1",
            post_id="p",
            planned_at=START,
            content_hash="h",
            parts=[found(i, i) for i in indexes],
            complete=True,
        )
    assert str(caught.value) == "found parts must run from part 0 without a gap"
    assert ledger.get("p@1") is None


def test_an_occurrence_already_in_the_ledger_is_not_written_over(ledger: Ledger) -> None:
    ledger.begin_attempt("p@1", "p", START, "h")
    with pytest.raises(LedgerError, match="occurrence 'p@1' is already in the ledger"):
        record_found(
            ledger,
            key="p@1",
            post_id="p",
            planned_at=START,
            content_hash="h",
            parts=[found(0, 1)],
            complete=True,
        )
    record = ledger.get("p@1")
    assert record is not None and record.state is State.SENDING and record.parts == ()
    assert "rebuilt" not in [e.kind for e in ledger.events("p@1")]


def test_a_thread_found_whole_is_published_when_its_last_part_was(ledger: Ledger) -> None:
    record_found(
        ledger,
        key="p@1",
        post_id="p",
        planned_at=START,
        content_hash="h",
        parts=[found(0, 1), found(1, 2), found(2, 7)],
        complete=True,
    )
    record = ledger.get("p@1")
    assert record is not None
    assert record.published_at == START + timedelta(minutes=7)


def test_a_record_found_while_another_process_writes_is_still_written(
    ledger: Ledger,
) -> None:
    """record_found checks the key is free before it writes: it holds the write lock from the
    start, so another writer's commit in between cannot make it fail."""
    other = sqlite3.connect(ledger.path, timeout=0, isolation_level=None)
    started: list[bool] = []

    def on_statement(sql: str) -> None:
        if started or not sql.lstrip().upper().startswith("INSERT"):
            return
        started.append(True)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO meta (key, value) VALUES ('other', 'writer')")
            other.execute("COMMIT")
        except sqlite3.OperationalError:  # the ledger holds the write lock: the other waits
            pass

    assert ledger._conn is not None
    ledger._conn.set_trace_callback(on_statement)
    try:
        record_found(
            ledger,
            key="p@1",
            post_id="p",
            planned_at=START,
            content_hash="h",
            parts=[found(0, 1)],
            complete=True,
        )
    finally:
        ledger._conn.set_trace_callback(None)
        other.close()
    assert ledger.states() == {"p@1": State.PUBLISHED}
