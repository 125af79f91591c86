"""Before a command publishes: it is the only bot on this ledger, and the ledger is whole.

`run`, `run --once` and `publish` take the run lock for their whole life, then check the ledger
file: a damaged one stops them with what to do; a missing one while backups exist says the ledger
was lost. `ledger restore`, `rebuild` and `rebind` take the same lock, so they never change the
ledger under a running bot.
"""

from __future__ import annotations

import logging

from bot.service.app import App
from bot.storage import integrity
from bot.storage.backups import backup_dir, backups
from bot.storage.lock import RunLock
from bot.storage.migrations import LedgerError
from bot.storage.recovery import ORIGIN

logger = logging.getLogger(__name__)


def lock_data_dir(app: App, command: str) -> RunLock:
    """The run lock of the app's data_dir, or AlreadyRunning naming the bot that has it."""
    return RunLock.acquire(app.settings.data_dir, command, app.clock.now())


def check_ledger_file(app: App, *, fresh_ledger: bool = False) -> None:
    """Refuse a damaged ledger; refuse a missing one when backups show there was one."""
    path = app.settings.ledger_path
    if path.exists():
        integrity.check(path)
        return
    copies = backups(app.settings.data_dir)
    if copies and not fresh_ledger:
        raise LedgerError(
            f"{path}: the ledger is missing, but {backup_dir(app.settings.data_dir)} holds "
            f"{len(copies)} copies of one (newest: {copies[0].name}): it was lost, and "
            "publishing from a new one would post again what is already out. Put one back with "
            "`campaign-bot ledger restore` (then `ledger rebuild` adds what was posted since), "
            "or start over on purpose with `campaign-bot run --fresh-ledger`"
        )


def start_publishing(app: App, command: str, *, fresh_ledger: bool = False) -> RunLock:
    """Take the run lock and check the ledger file; the caller releases the lock at the end."""
    lock = lock_data_dir(app, command)
    try:
        check_ledger_file(app, fresh_ledger=fresh_ledger)
        if fresh_ledger:
            confirm_fresh_ledger(app)
    except BaseException:
        lock.release()
        raise
    return lock


def confirm_fresh_ledger(app: App) -> None:
    """`--fresh-ledger`: the operator says an empty ledger is meant to start from nothing."""
    with app.ledger() as ledger:
        if ledger.states():
            logger.warning("--fresh-ledger: the ledger is not empty; it is used as it is")
            return
        when = app.clock.now().isoformat(timespec="seconds")
        ledger.set_meta(ORIGIN, f"new; started on purpose with --fresh-ledger at {when}")
        logger.warning(
            "--fresh-ledger: starting from an empty ledger; posts already on the account may "
            "go out again"
        )
