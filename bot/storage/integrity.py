"""Is the ledger file a whole, readable campaign-bot ledger? Checked before publishing, so a
damaged or emptied file stops the bot instead of making it post everything again."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from bot.core.clock import Clock
from bot.storage.migrations import LedgerError, migrate
from bot.storage.records import to_text

WHAT_TO_DO = (
    "publishing is stopped so that nothing is posted twice; put a good copy back with "
    "`campaign-bot ledger restore` (copies are kept in data_dir/backups/), or rebuild it from "
    "the account's posts with `campaign-bot ledger rebuild`"
)


class LedgerDamaged(LedgerError):
    """The ledger file exists but is not a whole ledger."""


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def problem(path: Path, *, thorough: bool = True) -> str | None:
    """What is wrong with the ledger file at `path` (which must exist), or None if it is sound.

    A zero-byte file, a file that is not SQLite, one without the ledger's schema, or (with
    `thorough`) one that fails SQLite's quick_check is damaged.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if path.is_dir():
        return "is a folder, not a file"
    if size == 0:
        return "is empty (zero bytes): its records are gone"
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        return f"cannot be opened ({one_line(exc)})"
    try:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if "schema_migrations" not in tables or "occurrences" not in tables:
            if tables:
                return f"is not a campaign-bot ledger (it has tables {', '.join(sorted(tables))})"
            return "holds no ledger (an SQLite file without the ledger's tables)"
        if thorough:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check")]
            if rows != ["ok"]:
                return f"is damaged (SQLite's check says: {'; '.join(rows[:3])})"
    except sqlite3.Error as exc:
        return f"is damaged or not a ledger ({one_line(exc)})"
    finally:
        conn.close()
    return None


def check(path: Path) -> None:
    """Raise LedgerDamaged, with what to do, when the existing file at `path` is not sound."""
    found = problem(path)
    if found is not None:
        raise LedgerDamaged(f"{path}: the ledger {found}; {WHAT_TO_DO}")


def has_schema(conn: sqlite3.Connection) -> bool:
    """Whether the file has any table: an empty SQLite file is no ledger (`migrate` tells a
    foreign one apart)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    return row is not None


def create_atomically(path: Path, clock: Clock) -> None:
    """Create a new, migrated ledger at `path`, which must not exist: built under another name
    and linked into place whole, so a crash never leaves an empty or half-made ledger there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        migrate(conn, path, to_text(clock.now()))
    finally:
        conn.close()
    try:
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # link, unlike rename, fails if another process created the ledger meanwhile.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)


def connect(
    path: Path, clock: Clock, *, busy_timeout: float, create: bool, durable: bool = True
) -> sqlite3.Connection:
    """A connection to the ledger at `path`, migrated (see `Ledger.open`)."""
    hint = "restore it from a backup or point data_dir at the folder that holds the ledger"
    try:
        if not path.exists():
            if not create:
                raise LedgerError(
                    f"{path}: there is no ledger; if the bot has published before, it is "
                    "lost: `campaign-bot ledger restore` or `ledger rebuild` bring it back"
                )
            create_atomically(path, clock)
        elif path.is_file() and path.stat().st_size == 0:
            raise LedgerDamaged(f"{path}: the ledger is empty (zero bytes); {WHAT_TO_DO}")
        # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE below).
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise LedgerError(f"{path}: cannot open the ledger ({one_line(exc)}); {hint}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not has_schema(conn):
            raise LedgerDamaged(
                f"{path}: the file holds no ledger (an SQLite file without the ledger's "
                f"tables); {WHAT_TO_DO}"
            )
        # WAL lets `campaign-bot status` read while the daemon writes; FULL syncs every
        # commit in WAL mode too, so a committed intent survives a power cut.
        conn.execute("PRAGMA journal_mode = WAL")
        # A throwaway ledger (the rehearsal's) skips the sync: nothing outlives it.
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
        migrate(conn, path, to_text(clock.now()))
    except sqlite3.Error as exc:
        conn.close()
        raise LedgerError(
            f"{path}: not a usable campaign-bot ledger ({one_line(exc)}); {hint}"
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn
