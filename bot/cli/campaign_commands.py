"""`validate`, `plan` and `schema`: reading the campaign without publishing anything."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.campaign.loading import Campaign, display_name
from bot.campaign.mistakes import minutes_per_hour
from bot.campaign.schema import post_file_schema
from bot.cli.problem_formats import FORMATS, github_commands, sarif_log
from bot.core.errors import UsageError
from bot.core.states import State
from bot.core.timespec import TimeSpecError, format_duration, parse_duration, parse_time, to_zone
from bot.core.words import counted
from bot.publishing.runner import last_run, ledger_views
from bot.schedule.due import Action, actions, window
from bot.schedule.followups import only_copy
from bot.schedule.planner import MAX_OCCURRENCES_PER_POST, LedgerView, Occurrence, capped
from bot.service.app import App
from bot.service.linkcheck import check_links
from bot.service.living import drift_report

# What `plan` marks as due: what `run`, started now, would act on.
DUE_NOW = {Action.CATCH_UP, Action.MISS, Action.FINISH, Action.PUBLISH, Action.SKIP}


def register(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check post files and the config")
    validate.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders")
    validate.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default), json, github (GitHub Actions annotations) or sarif",
    )
    validate.add_argument("--json", action="store_true", help="the same as --format json")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    validate.add_argument("--offline", action="store_true", help="do not ask the instance")
    validate.add_argument(
        "--check-links",
        action="store_true",
        help="also fetch every link in the posts and warn about those that do not answer",
    )
    validate.set_defaults(handler=run_validate)

    plan_cmd = commands.add_parser("plan", help="show upcoming posts in time order")
    plan_cmd.add_argument(
        "--from", dest="start", metavar="T", help="start: a time, or a duration such as -2d"
    )
    plan_cmd.add_argument("--until", dest="end", metavar="T", help="end: a time, or e.g. 30d")
    plan_cmd.add_argument("--json", action="store_true", help="machine-readable output")
    plan_cmd.add_argument("--offline", action="store_true", help="do not ask the instance")
    plan_cmd.set_defaults(handler=run_plan)

    schema = commands.add_parser("schema", help="print the JSON Schema of post files")
    schema.set_defaults(handler=run_schema, needs_config=False)


def run_validate(args: argparse.Namespace) -> int:
    app: App = args.app
    campaign = app.campaign(args.paths or None, online=not args.offline, overdue=True)
    campaign.problems.extend(drift_report(app, campaign.posts)[1])
    if args.check_links:
        campaign.problems.extend(check_links(campaign.posts))
    report = app.limits(online=not args.offline)
    errors = len(campaign.errors) + (len(campaign.warnings) if args.strict else 0)
    fmt = output_format(args)
    if fmt == "json":
        body = {
            "valid": errors == 0,
            "posts": len(campaign.posts),
            "files": [display_name(f) for f in campaign.files],
            "limits": {"source": report.source, **asdict(report.limits)},
            "problems": [p.as_dict() for p in campaign.problems],
        }
        print(json.dumps(body, indent=2, ensure_ascii=False))
    elif fmt == "sarif":
        print(json.dumps(sarif_log(campaign.problems, strict=args.strict), indent=2))
    else:
        if fmt == "github":
            lines = github_commands(campaign.problems, strict=args.strict)
        else:
            lines = [problem.render() for problem in campaign.problems]
        for line in lines:
            print(line)
        summary = (
            f"{counted(len(campaign.posts), 'valid post')} in "
            f"{counted(len(campaign.files), 'file')}; {counted(len(campaign.errors), 'error')}, "
            f"{counted(len(campaign.warnings), 'warning')} (limits: {report.source})"
        )
        print(summary, file=sys.stderr)
    return 1 if errors else 0


def output_format(args: argparse.Namespace) -> str:
    """`--format`, where the older `--json` flag means `--format json`."""
    return "json" if getattr(args, "json", False) else str(getattr(args, "format", "text"))


def parse_moment(text: str, app: App, *, future: bool = True) -> datetime:
    """A time in the campaign's zone, or a duration from now (`30d`, `-2d`)."""
    now = app.clock.now()
    sign = -1 if text.startswith("-") else 1
    try:
        return now + sign * parse_duration(text.lstrip("+-"))
    except TimeSpecError:
        pass
    try:
        return parse_time(text, app.settings.zone)
    except TimeSpecError as exc:
        raise UsageError(f"{text!r}: {exc.message}; {exc.hint}, or a duration like `7d`") from None


def planned(
    app: App, start: datetime, end: datetime, *, online: bool, campaign: Campaign | None = None
) -> list[Occurrence]:
    """What `plan` shows (and `calendar` draws): the occurrences in [start, end], as `run`
    sees them now."""
    if campaign is None:
        campaign = app.campaign(online=online)
    views: dict[str, LedgerView] = {}
    last: datetime | None = None
    ledger = app.ledger_if_exists()
    if ledger is not None:
        with ledger:
            views, last = ledger_views(ledger), last_run(ledger)
    return window(
        campaign.posts,
        views,
        app.settings.timetable,
        now=app.clock.now(),
        start=start,
        end=end,
        last_run=last,
        limit_per_post=MAX_OCCURRENCES_PER_POST,
    )


def cap_notes(occurrences: list[Occurrence], limit: int = MAX_OCCURRENCES_PER_POST) -> list[str]:
    """One line for each recurring post cut short at the limit, saying why and what to do."""
    notes = []
    posts = {o.post.id: o.post for o in occurrences}
    for post_id, count in capped(occurrences, limit).items():
        cron = posts[post_id].schedule.cron or ""
        rate = minutes_per_hour(cron) or 1
        why, fix = "", "narrow the window with --until"
        if rate > 1:
            why = f": its cron {cron!r} fires {rate} times an hour"
            fix = "run `campaign-bot validate`, fix the cron, or " + fix
        notes.append(f"{post_id}: only its first {count:,} occurrences are shown{why} — {fix}")
    return notes


def run_plan(args: argparse.Namespace) -> int:
    app: App = args.app
    now = app.clock.now()
    start = parse_moment(args.start, app) if args.start else now
    end = parse_moment(args.end, app) if args.end else now + timedelta(days=60)
    campaign = app.campaign(online=not args.offline, overdue=True)
    # A post whose time has passed may lie outside the window: said once, whatever the window.
    for problem in campaign.overdue:
        print(problem.render(), file=sys.stderr)
    occurrences = planned(app, start, end, online=not args.offline, campaign=campaign)
    changed = drift_report(app, campaign.posts)[1]
    by_account = {n: r.limits for n, r in app.account_limits(online=not args.offline).items()}
    default = app.settings.default_account

    def limit_of(o: Occurrence) -> int:
        return by_account[o.post.account or default].max_characters

    zone = app.settings.zone
    doing = actions(occurrences, now)
    if args.json:
        rows = [
            {
                "key": o.key,
                "id": o.post.id,
                "at": o.planned_at.isoformat(),
                "local_time": to_zone(o.planned_at, zone),
                "state": o.state,
                "run_would": doing[o.key].name.lower(),
                # A boost's or quote's window opens when its post went out: not known here.
                "deadline": None if o.post.follows else o.deadline.isoformat(),
                "first_words": o.post.first_words,
                "characters": o.post.parts[0].characters,
                "limit": limit_of(o),
                "account": o.post.account or default,
                "follows": {
                    "kind": str(o.post.follows.kind),
                    "of": o.post.follows.shared_key(o.key),
                    "of_account": o.post.follows.of_account or default,
                    "copies": list(o.post.follows.of_copies),
                    "after": format_duration(o.post.follows.after),
                }
                if o.post.follows
                else None,
                "media": sum(len(p.media) for p in o.post.parts),
                "parts": len(o.post.parts),
                "file": o.post.file,
                "line": o.post.line,
            }
            for o in occurrences
        ]
        body = {
            "zone": zone.key,
            "occurrences": rows,
            "changed_after_publishing": [p.as_dict() for p in changed],
            "capped": capped(occurrences, MAX_OCCURRENCES_PER_POST),
        }
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0
    print(f"Posts from {to_zone(start, zone)} to {to_zone(end, zone)} ({zone.key}):")
    if not occurrences:
        print("  nothing planned in this window (try --from=-30d or --until 365d)")
    several = app.settings.several_accounts
    for o in occurrences:
        who = f"@{o.post.account or default} " if several else ""
        follows = o.post.follows
        if follows is not None:
            of = follows.shared_key(o.key)
            what = "boost" if follows.kind == "boost" else "quote"
            chars = f"{o.post.parts[0].characters}/{limit_of(o)}" if what == "quote" else what
            marks: list[str] = [o.state] if o.state is not State.PENDING else []
            if doing[o.key] in DUE_NOW:
                marks.append(f"due: {doing[o.key]}")
            print(
                f"  {to_zone(o.planned_at, zone):22} {who + o.post.id:28} {chars:>8}  "
                f"↳ {what} of {of}, {format_duration(follows.after)} after it goes out"
                + only_copy(follows)
                + (f" [{', '.join(marks)}]" if marks else "")
            )
            continue
        chars = f"{o.post.parts[0].characters}/{limit_of(o)}"
        extras = []
        media = sum(len(p.media) for p in o.post.parts)
        if media:
            extras.append(f"{media} media")
        if len(o.post.parts) > 1:
            extras.append(f"thread of {len(o.post.parts)}")
        if o.post.parts[0].poll:
            extras.append("poll")
        if o.state is not State.PENDING:
            extras.append(o.state)
        if doing[o.key] in DUE_NOW:
            extras.append(f"due: {doing[o.key]}")
        late = o.deadline - o.planned_at
        extra = f" [{', '.join(extras)}]" if extras else ""
        print(
            f"  {to_zone(o.planned_at, zone):22} {who + o.post.id:28} {chars:>8}  "
            f"{o.post.first_words}{extra}  (late by up to {format_duration(late)})"
        )
    for problem in changed:
        print(problem.render())
    for note in cap_notes(occurrences):
        print(note, file=sys.stderr)
    return 0


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(post_file_schema(), indent=2, ensure_ascii=False))
    return 0
