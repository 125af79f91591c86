"""`calendar`: the plan as a web page, a month grid and every post as a toot card."""

from __future__ import annotations

import argparse
import contextlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.calendar.model import CalendarPage, Engagement, Sources, engagement_of
from bot.calendar.serve import CalendarServer
from bot.calendar.site import SiteOptions, write_site
from bot.cli.campaign_commands import cap_notes, parse_moment, planned
from bot.cli.interrupt import stop_on_interrupt
from bot.core.errors import CampaignBotError
from bot.core.timespec import to_zone
from bot.core.words import counted
from bot.service.app import App
from bot.service.living import drift_report
from bot.storage.engagement import read_snapshots

DEFAULT_OUT = Path("calendar")
DEFAULT_PORT = 8000


def register(commands: Any) -> None:
    cmd = commands.add_parser("calendar", help="write the plan as a web page: month grid, toots")
    cmd.add_argument(
        "--from", dest="start", metavar="T", help="start: a time, or a duration such as -7d"
    )
    cmd.add_argument("--until", dest="end", metavar="T", help="end: a time, or e.g. 90d")
    cmd.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="folder to write (calendar/)"
    )
    cmd.add_argument(
        "--serve", action="store_true", help="serve it on 127.0.0.1, rebuilt when posts change"
    )
    cmd.add_argument(
        "--port", type=int, default=DEFAULT_PORT, metavar="N", help="port for --serve (8000)"
    )
    cmd.add_argument("--offline", action="store_true", help="do not ask the instance")
    cmd.set_defaults(handler=run_calendar)


def build_calendar(
    app: App, start: datetime, end: datetime, out: Path, *, online: bool
) -> CalendarPage:
    """Load, plan (as `plan` does), read the ledger, and write the site to `out`."""
    # The page is the plan: its cards carry what `plan` says of a post whose time has passed.
    campaign = app.campaign(online=online, overdue=True)
    occurrences = planned(app, start, end, online=online, campaign=campaign)
    records = {}
    engagement: dict[str, Engagement] = {}
    account = None
    ledger = app.ledger_if_exists()
    if ledger is not None:
        with ledger:
            records = {r.key: r for r in ledger.all()}
            engagement = engagement_of(records, read_snapshots(ledger))
            meta = ledger.get_meta("account")
        account = "@" + meta.split()[0] if meta else None
    # As `plan` says them: posts changed after publishing, and repeats cut short.
    changed = drift_report(app, campaign.posts)[1]
    report = app.limits(online=online)
    options = SiteOptions(
        zone=app.settings.zone,
        start=start,
        end=end,
        generated=app.clock.now(),
        max_characters=report.limits.max_characters,
        limits_source=report.source,
        instance=app.settings.instance,
        account=account,
        notes=tuple(cap_notes(occurrences)),
    )
    problems = [*campaign.problems, *changed]
    sources = Sources(occurrences, records, campaign.posts, problems, engagement)
    return write_site(sources, options, out)


def run_calendar(args: argparse.Namespace) -> int:
    app: App = args.app
    now = app.clock.now()
    start = parse_moment(args.start, app) if args.start else now
    end = parse_moment(args.end, app) if args.end else now + timedelta(days=60)
    out: Path = args.out
    online = not args.offline

    def build() -> CalendarPage:
        page = build_calendar(app, start, end, out, online=online)
        zone = app.settings.zone
        print(
            f"Wrote {out / 'index.html'}: {counted(page.cards, 'post')} from "
            f"{to_zone(start, zone)} to {to_zone(end, zone)}, "
            f"{counted(len(page.problems), 'problem')} outside the plan",
            flush=True,
        )
        return page

    build()
    if not args.serve:
        return 0
    settings = app.settings
    try:
        server = CalendarServer(
            out,
            args.port,
            rebuild=build,
            watched=lambda: [settings.posts_dir, settings.ledger_path],
            clock=app.clock,
        )
    except OSError as exc:
        raise CampaignBotError(
            f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}; "
            "pick another port with --port N (0 takes any free one)"
        ) from None
    stop_on_interrupt()
    server.start()
    print(
        f"Serving the calendar at {server.url} ; rebuilt when {settings.posts_dir} changes "
        "(Ctrl-C to stop)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    server.stop()
    return 0
