"""`rehearse`: the whole campaign, published to a local sandbox, shown as followers will see it."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
from typing import Any

from bot.campaign.mistakes import minutes_per_hour
from bot.cli.campaign_commands import parse_moment
from bot.cli.interrupt import stop_on_interrupt
from bot.core.timespec import to_zone
from bot.service.app import App
from bot.service.logs import configure
from bot.service.rehearsal import (
    MAX_REHEARSED_PER_POST,
    capped_end,
    describe_window,
    rehearsal_window,
    rehearse,
    sandbox,
    summarise,
)


def register(commands: Any) -> None:
    cmd = commands.add_parser(
        "rehearse", help="publish the whole campaign to a local sandbox, in seconds"
    )
    cmd.add_argument("--from", dest="start", metavar="T", help="start (default: now)")
    cmd.add_argument("--until", dest="end", metavar="T", help="end (default: last post)")
    cmd.add_argument(
        "--serve", action="store_true", help="keep the sandbox running to browse its timeline"
    )
    cmd.set_defaults(handler=run_rehearse)


def run_rehearse(args: argparse.Namespace) -> int:
    app: App = args.app
    out = sys.stdout
    if not args.debug:
        # The toots are the output; routine log lines would only interleave with them.
        configure(fmt=args.log_format, debug=False)
        logging.getLogger().setLevel(logging.ERROR)
    others = [n for n in app.settings.account_names() if n != app.settings.default_account]
    with sandbox(others=others if app.settings.several_accounts else ()) as box:
        target = app.settings.instance or "any Mastodon instance"
        print(
            f"Rehearsal on a local sandbox at {box.base_url}: nothing is sent to {target}, "
            f"and the real ledger ({app.settings.ledger_path}) is not touched.",
            file=out,
        )
        campaign = app.campaign(online=False)
        invalid = len({(p.file, p.where.split(".")[0]) for p in campaign.errors})
        for problem in campaign.errors:
            print(problem.render(), file=out)
        now = app.clock.now()
        start = parse_moment(args.start, app) if args.start else None
        end = parse_moment(args.end, app) if args.end else None
        start, end = rehearsal_window(campaign.posts, now, start, end)
        end, flooding = capped_end(app.settings, campaign.posts, start, end)
        for post in flooding:
            rate = minutes_per_hour(post.schedule.cron or "") or 1
            why = (
                f" (its cron {post.schedule.cron!r} fires {rate} times an hour)" if rate > 1 else ""
            )
            print(
                f"{post.id}: the rehearsal stops at {to_zone(end, app.settings.zone)}, after "
                f"{MAX_REHEARSED_PER_POST} toots of this post{why} — fix the cron, or choose "
                "the window with --from/--until",
                file=out,
            )
        print(
            f"Campaign time {describe_window(start, end, app.settings)}, "
            f"limits: {app.limits(online=False).source}",
            file=out,
        )
        result = rehearse(app.settings, campaign.posts, box, start=start, end=end, out=out)
        summarise(result, invalid, out)
        if args.serve:
            # The sandbox's web pages show no dates: list each toot with its planned time.
            print("\nEach toot at its planned time:", file=out)
            for occurrence, statuses in result.published:
                when = to_zone(occurrence.planned_at, app.settings.zone)
                for index, status in enumerate(statuses):
                    part = f" (reply {index})" if index else ""
                    print(f"  {when}  {occurrence.post.id}{part}  {status.url}", file=out)
            print(
                f"\nThe sandbox keeps running: browse the campaign at {box.base_url}/ (it opens "
                "the campaign account's timeline; each toot's address above opens it). "
                "Ctrl-C to stop.",
                file=out,
                flush=True,
            )
            stop_on_interrupt()
            with contextlib.suppress(KeyboardInterrupt):
                threading.Event().wait()
    return 0 if result.ok and not invalid else 1
