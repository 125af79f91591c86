"""Rotating, consistent copies of the ledger in `data_dir/backups/`, and putting one back.

Copies are made with SQLite's online backup, so they are whole even while the bot writes. The
daemon makes one a day and keeps the newest `KEEP`. A restore never deletes the file it replaces:
that is moved aside, named after the time, for whoever wants to look at it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.storage import integrity
from bot.storage.ledger import Ledger
from bot.storage.migrations import LedgerError

logger = logging.getLogger(__name__)

BACKUP_DIR = "backups"
KEEP = 7
EVERY = timedelta(days=1)
CHECK_EVERY = timedelta(hours=1)  # how often the daemon asks whether a copy is due
_PREFIX = "ledger-"
_SUFFIX = ".sqlite3"
_STAMP = "%Y%m%dT%H%M%SZ"


def backup_dir(data_dir: Path) -> Path:
    return data_dir / BACKUP_DIR


def backups(data_dir: Path) -> list[Path]:
    """The copies in data_dir/backups/, newest first."""
    folder = backup_dir(data_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(_PREFIX) and p.suffix == _SUFFIX]
    return sorted(found, key=lambda p: p.name, reverse=True)


def taken_at(path: Path) -> datetime | None:
    try:
        stamp = path.name.removeprefix(_PREFIX).removesuffix(_SUFFIX)
        return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def back_up(ledger: Ledger, data_dir: Path, *, keep: int = KEEP) -> Path:
    """Write a consistent copy of the ledger into data_dir/backups/; keep the newest `keep`."""
    now = ledger.now().astimezone(UTC)
    folder = backup_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{_PREFIX}{now.strftime(_STAMP)}{_SUFFIX}"
    tmp = folder / f".{target.name}.tmp"
    tmp.unlink(missing_ok=True)
    copy = sqlite3.connect(tmp)
    try:
        with ledger.transaction(write=False) as conn:
            conn.backup(copy)
    finally:
        copy.close()
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    for old in backups(data_dir)[keep:]:
        old.unlink(missing_ok=True)
    return target


def back_up_if_due(ledger: Ledger, data_dir: Path) -> Path | None:
    """A new copy when the newest is a day old (or there is none); the daemon calls this."""
    newest = next((taken_at(p) for p in backups(data_dir)), None)
    if newest is not None and ledger.now() - newest < EVERY:
        return None
    return back_up(ledger, data_dir)


def daily_backup(ledger: Ledger, data_dir: Path) -> None:
    """The daemon's job: a copy when one is due, a log line either way it goes wrong or right."""
    try:
        made = back_up_if_due(ledger, data_dir)
    except (OSError, sqlite3.Error, LedgerError) as exc:
        logger.error("cannot back up the ledger to %s: %s", data_dir, exc)
        return
    if made is not None:
        logger.info("ledger backed up to %s", made)


def backup_job(ledger: Ledger, data_dir: Path) -> Callable[[], None]:
    """`daily_backup` of this ledger, as the daemon schedules it."""
    return lambda: daily_backup(ledger, data_dir)


def restore(ledger_path: Path, source: Path, now: datetime) -> Path | None:
    """Put the copy `source` in place of the ledger; returns where the replaced file was moved
    (None if there was none). The caller holds the run lock: no bot writes meanwhile."""
    found = integrity.problem(source)
    if found is not None:
        raise LedgerError(f"{source}: cannot restore from it: the file {found}")
    stamp = now.astimezone(UTC).strftime(_STAMP)
    tmp = ledger_path.with_name(f".{ledger_path.name}.restoring")
    tmp.unlink(missing_ok=True)
    _copy(source, tmp)
    moved: Path | None = None
    if ledger_path.exists():
        moved = ledger_path.with_name(f"{ledger_path.name}.replaced-{stamp}")
    # The old file's write-ahead log and index go with it: left behind, they would be read as
    # part of the restored file.
    aside = moved or ledger_path.with_name(f"{ledger_path.name}.stray-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        old = ledger_path.with_name(ledger_path.name + suffix)
        if old.exists():
            os.replace(old, aside.with_name(aside.name + suffix))
    os.replace(tmp, ledger_path)
    return moved


def _copy(source: Path, target: Path) -> None:
    """A consistent copy through SQLite (it reads the source's write-ahead log too)."""
    src = sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())
