"""`ledger backup`, `ledger restore`, `ledger rebuild` and `ledger rebind`: looking after the
ledger, the bot's memory of what it published. Each takes the run lock, so none changes the
ledger under a running bot."""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.core.errors import CampaignBotError, UsageError
from bot.core.timespec import to_zone
from bot.publishing.rebuild import rebuild
from bot.service.app import App
from bot.service.guard import lock_data_dir
from bot.storage import integrity
from bot.storage.backups import back_up, backup_dir, backups, restore, taken_at
from bot.storage.binding import Binding, read_binding, write_binding

logger = logging.getLogger(__name__)


def register(commands: Any) -> None:
    ledger = commands.add_parser("ledger", help="back up, restore, rebuild or rebind the ledger")
    actions = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    backup = actions.add_parser("backup", help="write a copy of the ledger to data_dir/backups/")
    backup.set_defaults(handler=run_backup)
    put_back = actions.add_parser("restore", help="put a copy of the ledger back")
    put_back.add_argument(
        "file", metavar="FILE", nargs="?", type=Path, help="default: the newest backup"
    )
    put_back.set_defaults(handler=run_restore)
    again = actions.add_parser(
        "rebuild", help="recover a lost ledger's records from the account's own posts"
    )
    again.set_defaults(handler=run_rebuild)
    rebind = actions.add_parser(
        "rebind", help="move the ledger to the account of the current access token"
    )
    rebind.set_defaults(handler=run_rebind)


def run_backup(args: argparse.Namespace) -> int:
    app: App = args.app
    with lock_data_dir(app, "ledger backup"):
        integrity.check(app.settings.ledger_path)
        with app.ledger() as ledger:
            target = back_up(ledger, app.settings.data_dir)
    print(f"ledger copied to {target}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    app: App = args.app
    data_dir = app.settings.data_dir
    source: Path | None = args.file
    if source is None:
        copies = backups(data_dir)
        if not copies:
            raise UsageError(
                f"no backups in {backup_dir(data_dir)}: name the file to restore "
                "(`campaign-bot ledger restore FILE`), or use `ledger rebuild`"
            )
        source = copies[0]
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    with lock_data_dir(app, "ledger restore"):
        moved = restore(app.settings.ledger_path, source, app.clock.now())
    when = taken_at(source)
    print(
        f"restored the ledger from {source}"
        + (f" (copied {to_zone(when, app.settings.zone)})" if when else "")
    )
    if moved is not None:
        print(f"the file it replaced is kept as {moved}")
    print(
        "posts published after that copy was made are not in it: run `campaign-bot ledger "
        "rebuild` to add them from the account's posts before the bot runs again"
    )
    return 0


def run_rebuild(args: argparse.Namespace) -> int:
    app: App = args.app
    path = app.settings.ledger_path
    with lock_data_dir(app, "ledger rebuild"):
        found = integrity.problem(path) if path.exists() else None
        if found is not None:
            aside = path.with_name(f"{path.name}.damaged-{app.clock.now():%Y%m%dT%H%M%SZ}")
            for suffix in ("", "-wal", "-shm"):
                old = path.with_name(path.name + suffix)
                if old.exists():
                    old.replace(aside.with_name(aside.name + suffix))
            print(f"the ledger {found}; moved aside to {aside}; rebuilding a new one")
        campaign = app.campaign(online=False)
        if campaign.errors:
            logger.warning(
                "%d problems in post files: posts left out by them are not looked for",
                len(campaign.errors),
            )
        client = app.client()
        account = client.verify_credentials()
        served_at = client.server_date()
        skew = app.clock.now() - served_at if served_at is not None else timedelta(0)
        assert app.settings.instance
        current = Binding(app.settings.instance, account.id, account.acct)
        with app.ledger() as ledger:
            bound = read_binding(ledger)
            if bound is not None and not bound.same_account(current):
                raise CampaignBotError(
                    f"this ledger belongs to {bound.describe()}, not {current.describe()}: "
                    "rebuild it with that account's token (or `ledger rebind` first)"
                )
            write_binding(ledger, current)
            report = rebuild(
                ledger,
                client,
                instance=app.settings.instance,
                account_id=account.id,
                posts=campaign.posts,
                settings=app.settings,
                skew=skew,
            )
    zone = app.settings.zone
    since = f", back to {to_zone(report.oldest, zone)}" if report.oldest else ""
    print(f"looked at the latest {report.looked_at} posts of @{account.acct}{since}")
    for match in report.matched:
        state = "published" if match.complete else "partly published"
        parts = len(match.occurrence.post.parts)
        print(
            f"  matched {match.occurrence.key}: {state} ({len(match.statuses)} of {parts} "
            f"parts) {match.statuses[0].url}"
        )
    for key in report.already_known:
        print(f"  already in the ledger: {key}")
    for occurrence in report.unmatched:
        print(
            f"  not found: {occurrence.key} (planned {to_zone(occurrence.planned_at, zone)}) — "
            "the next run publishes it if still within its window, else records it missed"
        )
    partial = sum(1 for m in report.matched if not m.complete)
    print(
        f"{len(report.matched)} matched ({partial} threads partly out: the next run posts "
        f"the rest), {len(report.unmatched)} due but not found"
    )
    return 0


def run_rebind(args: argparse.Namespace) -> int:
    app: App = args.app
    with lock_data_dir(app, "ledger rebind"):
        integrity.check(app.settings.ledger_path)
        client = app.client()
        account = client.verify_credentials()
        assert app.settings.instance
        current = Binding(app.settings.instance, account.id, account.acct)
        with app.ledger() as ledger:
            before = read_binding(ledger)
            write_binding(ledger, current)
            ledger.record_event(
                "ledger",
                "rebound",
                f"from {before.describe() if before else 'no account'} to {current.describe()}",
            )
    was = before.describe() if before else "no account yet"
    print(f"the ledger now belongs to {current.describe()} (it belonged to {was})")
    return 0
