"""`run`, `publish`, `status` and `retry`: publishing, and what the ledger says about it."""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from bot.cli import living_commands
from bot.core.errors import TRY_AGAIN_LATER, CampaignBotError, UsageError
from bot.core.states import ALLOWED_FROM, Change, Result, State
from bot.core.timespec import to_zone
from bot.core.words import counted
from bot.publishing.drift import removed_from_files
from bot.publishing.manual import chosen_occurrence
from bot.publishing.outage import OUTAGE_META, Outage
from bot.schedule.followups import account_of_key
from bot.schedule.planner import occurrence_key
from bot.service.app import App
from bot.service.daemon import run_daemon
from bot.service.guard import start_publishing
from bot.service.living import drift_report
from bot.storage import control
from bot.storage.records import OccurrenceRecord

logger = logging.getLogger(__name__)


def register(commands: Any) -> None:
    run = commands.add_parser("run", help="publish posts at their planned times")
    run.add_argument("--once", action="store_true", help="publish what is due now, then exit")
    run.add_argument(
        "--dry-run", action="store_true", help="do everything but talk to Mastodon or the ledger"
    )
    run.add_argument(
        "--fresh-ledger",
        action="store_true",
        help="start on an empty ledger although the account already has posts of the campaign "
        "(they may go out again)",
    )
    run.set_defaults(handler=run_run)

    publish = commands.add_parser("publish", help="publish one post now, whatever its schedule")
    publish.add_argument("post_id", metavar="ID")
    publish.add_argument("--force", action="store_true", help="publish even while paused")
    publish.set_defaults(handler=run_publish)

    status = commands.add_parser("status", help="what has been published, failed or missed")
    status.add_argument("post_id", nargs="?", metavar="ID", help="one post, with its history")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=run_status)

    retry = commands.add_parser("retry", help="put a failed or missed post back in the queue")
    retry.add_argument("post_id", metavar="ID", help="a post id, or an occurrence key")
    retry.set_defaults(handler=run_retry)


def run_run(args: argparse.Namespace) -> int:
    app: App = args.app
    fresh = bool(getattr(args, "fresh_ledger", False))
    if args.dry_run:
        # A dry run writes nothing and sends nothing: it may run beside a bot.
        return run_daemon(app, dry_run=True) if not args.once else _run_once(app, dry_run=True)
    with start_publishing(app, "run --once" if args.once else "run", fresh_ledger=fresh):
        return _run_once(app, dry_run=False) if args.once else run_daemon(app)


def _run_once(app: App, *, dry_run: bool) -> int:
    if not dry_run and control.is_paused(app.settings.data_dir):
        logger.warning(
            "paused: nothing is published (%s); `campaign-bot resume` to publish again",
            control.pause_reason(app.settings.data_dir),
        )
        return 0
    posts = app.valid_posts(online=not dry_run)
    with app.ledger_for(dry_run=dry_run) as ledger:
        # The outage is kept in the ledger: `status` shows it, the next run knows it.
        watch = app.instance_watch(ledger, dry_run=dry_run)
        publisher = app.publisher(ledger, dry_run=dry_run, watch=watch)
        # Connecting has just checked the token with the instance: the next send decides
        # whether an outage recorded by an earlier run is over.
        watch.probe_passed()
        runner = app.runner(ledger, publisher, dry_run=dry_run, watch=watch)
        summary = runner.run_due(posts)
        watch.settle_probe()
    logger.info("done: %s", summary.line())
    if summary.failed:
        return 1
    if summary.waiting:
        logger.warning(
            "%d posts could not be sent now and stay pending (the instance is unavailable, or "
            "they wait for their own next try); run again later (exit code %d)",
            summary.waiting,
            TRY_AGAIN_LATER,
        )
        return TRY_AGAIN_LATER
    return 0


def run_publish(args: argparse.Namespace) -> int:
    app: App = args.app
    posts = {p.id: p for p in app.valid_posts()}
    post = posts.get(args.post_id.split("@", 1)[0])
    if post is None:
        raise UsageError(
            f"no valid post with id {args.post_id!r} (see `campaign-bot validate` and `plan`)"
        )
    data_dir = app.settings.data_dir
    if control.is_paused(data_dir):
        if not getattr(args, "force", False):
            raise CampaignBotError(
                f"publishing is paused ({control.pause_reason(data_dir)}): `campaign-bot resume` "
                f"first, or `campaign-bot publish {post.id} --force` to publish it anyway"
            )
        logger.warning("paused, but publishing %s now because of --force", post.id)
    with start_publishing(app, f"publish {post.id}"), app.ledger() as ledger:
        record = ledger.get(post.id)
        if record is not None and record.state is State.PUBLISHED:
            raise CampaignBotError(f"{post.id} is already published: {' '.join(record.urls())}")
        at = chosen_occurrence(post, app.settings, ledger, app.clock.now(), args.post_id)
        if at is not None:
            logger.info(
                "publishing the occurrence planned for %s (%s)",
                to_zone(at, app.settings.zone),
                occurrence_key(post, at),
                extra={"post_id": post.id},
            )
        outcome = app.runner(ledger, app.publisher(ledger)).publish_now(post, at)
    if outcome.result in {Result.PUBLISHED, Result.ALREADY_PUBLISHED}:
        print(" ".join(outcome.urls))
        return 0
    raise CampaignBotError(f"{post.id}: {outcome.result}: {outcome.error}")


def _record_json(record: OccurrenceRecord, app: App) -> dict[str, Any]:
    return {
        "key": record.key,
        "id": record.post_id,
        "state": record.state.value,
        "planned_at": record.planned_at.isoformat(),
        "local_time": to_zone(record.planned_at, app.settings.zone),
        "attempts": record.attempts,
        "urls": record.urls(),
        "status_ids": [p.status_id for p in record.parts if p.status_id],
        "last_error": record.last_error,
        "published_at": record.published_at.isoformat() if record.published_at else None,
    }


def run_status(args: argparse.Namespace) -> int:
    app: App = args.app
    campaign = app.campaign(online=False)
    ledger = app.ledger_if_exists()
    records = []
    outage_text = None
    if ledger is not None:
        with ledger:
            records = ledger.all()
            outage_text = ledger.get_meta(OUTAGE_META)
    if args.post_id:
        return living_commands.show_history(app, args.post_id, records, as_json=args.json)
    seen = {r.post_id for r in records}
    waiting = [p for p in campaign.posts if p.id not in seen]
    changed = drift_report(app, campaign.posts)[1]
    gone = {r.key for r in removed_from_files(campaign.posts, records)}
    owners = {p.id: p.account for p in campaign.posts}

    def account(record: OccurrenceRecord) -> str:
        return account_of_key(record.key, record.post_id, owners, app.settings.default_account)

    held = set(campaign.held_back)
    now = app.clock.now()
    outage = Outage.from_json(outage_text)
    unavailable = None
    if outage is not None:
        due = sum(1 for r in records if not r.state.settled and r.planned_at <= now)
        unavailable = f"{outage.summary(app.settings.zone)}, {due} posts waiting"
    if args.json:
        body: dict[str, Any] = {
            "instance": unavailable or "available",
            "occurrences": [
                {
                    **_record_json(r, app),
                    "in_files": r.key not in gone,
                    "held_back": r.post_id in held,
                    "account": account(r),
                }
                for r in records
            ],
            "not_yet_attempted": [p.id for p in waiting],
            "held_back": campaign.held_back,
            "changed_after_publishing": [p.as_dict() for p in changed],
        }
        if app.settings.several_accounts:
            # Grouped by account, in the config's order: each one's occurrences and counts.
            body["accounts"] = {
                name: {
                    "instance": app.instance_of(name),
                    "occurrences": [r.key for r in records if account(r) == name],
                    "states": dict(Counter(str(r.state) for r in records if account(r) == name)),
                }
                for name in app.settings.account_names()
            }
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0
    zone = app.settings.zone
    if unavailable:
        print(unavailable)
    if app.settings.several_accounts:
        # Grouped by account, in the config's order; within each, in the ledger's order.
        order = {name: i for i, name in enumerate(app.settings.account_names())}
        records = sorted(records, key=lambda r: order.get(account(r), len(order)))
    shown: str | None = None
    for record in records:
        if app.settings.several_accounts and account(record) != shown:
            shown = account(record)
            print(f"@{shown}:")
        state = "published, no longer in the files" if record.key in gone else str(record.state)
        if record.post_id in held and not record.state.settled:
            state = "held back"
        when = to_zone(record.planned_at, zone)
        if record.state is State.PUBLISHED and record.published_at is not None:
            when += f", published {to_zone(record.published_at, zone)}"
        print(f"{record.key:40} {state:10} {when}")
        for url in record.urls():
            print(f"    {url}")
        if record.last_error and record.state is not State.PUBLISHED:
            print(f"    last error: {record.last_error}")
    if held:
        print(
            f"{len(held)} posts held back as invalid (see `campaign-bot validate`): "
            + ", ".join(campaign.held_back)
        )
    if waiting:
        print(
            f"{counted(len(waiting), 'post')} not attempted yet (see `campaign-bot plan`): "
            + ", ".join(p.id for p in waiting[:10])
            + (" …" if len(waiting) > 10 else "")
        )
    for problem in changed:
        print(problem.render())
    if not records and not waiting and not held:
        print("nothing in the ledger yet")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    app: App = args.app
    # Only the ledger changes (no post is sent here), so this works beside a running bot.
    with app.ledger(create=False) as ledger:
        record = ledger.get(args.post_id)
        if record is None:
            candidates = [
                r for r in ledger.for_post(args.post_id) if r.state in ALLOWED_FROM[Change.RETRY]
            ]
            if len(candidates) != 1:
                raise UsageError(
                    f"no single failed or missed occurrence named {args.post_id!r}; "
                    "see `campaign-bot status` for the exact key"
                )
            record = candidates[0]
        ledger.retry(record.key)
    # A running bot looks at the ledger again within seconds.
    control.nudge(app.settings.data_dir)
    now = app.clock.now()
    post = app.campaign(online=False).by_id().get(record.post_id)
    limit = post.not_after if post is not None else None
    window = limit if isinstance(limit, timedelta) else app.settings.catch_up
    zone = app.settings.zone
    print(
        f"{record.key} is pending again, with a new window from now ({to_zone(now, zone)}): it "
        f"goes out at the next run (or re-plan of a running bot) if that is before "
        f"{to_zone(now + window, zone)}, else it is recorded as missed again"
    )
    return 0
