"""`report`: how every published post did; `report collect`: count once (for cron setups)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from typing import Any

from bot.cli.campaign_commands import parse_moment
from bot.core.timespec import to_zone
from bot.service.app import App
from bot.service.engagement import Collector
from bot.service.reporting import GroupRow, PostRow, by_hashtag, by_time, post_rows
from bot.storage.amendments import Amendments
from bot.storage.engagement import Counts

logger = logging.getLogger(__name__)

GROUPINGS = ("post", "hashtag", "weekday", "hour")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def register(commands: Any) -> None:
    report = commands.add_parser("report", help="favourites, boosts, replies and quotes per post")
    report.add_argument(
        "action",
        nargs="?",
        choices=("collect",),
        help="`collect`: count the published posts due for a count now, then exit",
    )
    report.add_argument("--since", metavar="T", help="published from: a time, or e.g. --since=-7d")
    report.add_argument("--until", metavar="T", help="published until: a time or a duration")
    report.add_argument(
        "--by", choices=GROUPINGS, help="only one table: per post, hashtag, weekday or hour"
    )
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output")
    output.add_argument("--csv", action="store_true", help="a table for spreadsheets")
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    app: App = args.app
    if args.action == "collect":
        with app.ledger() as ledger:
            collected = Collector(app.client(), ledger, app.clock).collect()
        print(collected.line())
        return 1 if collected.error else 0
    since = parse_moment(args.since, app) if args.since else None
    until = parse_moment(args.until, app) if args.until else None
    existing = app.ledger_if_exists()
    if existing is None:
        print("nothing is published yet: there is nothing to report")
        return 0
    with existing as ledger:
        rows = post_rows(ledger, Amendments(ledger, app.clock), since, until)
    zone = app.settings.zone
    tables: dict[str, list[Any]] = {
        "post": rows,
        "hashtag": by_hashtag(rows),
        "weekday": by_time(rows, zone, "weekday"),
        "hour": by_time(rows, zone, "hour"),
    }
    chosen = [args.by] if args.by else list(GROUPINGS)
    if args.csv:
        print(_csv(args.by or "post", tables[args.by or "post"], app), end="")
    elif args.json:
        body = {
            f"{name}s" if name != "hour" else "hours": _json(tables[name], app) for name in chosen
        }
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        for name in chosen:
            for line in _text(name, tables[name], app):
                print(line)
    return 0


def _numbers(counts: Counts | None) -> dict[str, int | None]:
    if counts is None:
        return {"favourites": None, "boosts": None, "replies": None, "quotes": None}
    return {
        "favourites": counts.favourites,
        "boosts": counts.boosts,
        "replies": counts.replies,
        "quotes": counts.quotes,
    }


def _json(rows: list[Any], app: App) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in rows:
        if isinstance(row, PostRow):
            out.append(
                {
                    "key": row.key,
                    "id": row.post_id,
                    "published_at": row.published_at.isoformat(),
                    "local_time": to_zone(row.published_at, app.settings.zone),
                    "state": row.state.value,
                    "hashtags": list(row.hashtags),
                    **_numbers(row.counts if row.counted else None),
                    "growth": _numbers(row.growth),
                    "deleted_on_instance": row.counts.gone,
                    "parts": [
                        {
                            "part": p.number,
                            "status_id": p.status_id,
                            "url": p.url,
                            **_numbers(p.counts),
                            "growth": _numbers(p.growth),
                            "counted_at": p.counted_at.isoformat() if p.counted_at else None,
                            "deleted_on_instance": bool(p.counts and p.counts.gone),
                        }
                        for p in row.parts
                    ],
                }
            )
        else:
            assert isinstance(row, GroupRow)
            out.append(
                {"group": row.label, "posts": row.posts, "average": round(row.average, 2)}
                | _numbers(row.counts)
            )
    return out


def _count_text(counts: Counts, growth: Counts | None) -> str:
    def one(name: str, now: int | None, grown: int | None) -> str:
        if now is None:
            return ""
        return f"{name} {now}" + (f" ({grown:+d})" if grown is not None else "")

    g = growth
    pieces = [
        one("favourites", counts.favourites, g.favourites if g else None),
        one("boosts", counts.boosts, g.boosts if g else None),
        one("replies", counts.replies, g.replies if g else None),
        one("quotes", counts.quotes, g.quotes if g else None),
    ]
    return ", ".join(p for p in pieces if p)


def _text(name: str, rows: list[Any], app: App) -> list[str]:
    zone = app.settings.zone
    titles = {
        "post": "Posts (latest counts; in brackets, the growth since the count before)",
        "hashtag": "Hashtags (totals of their posts)",
        "weekday": "Weekdays, best first (average per post)",
        "hour": "Hours, best first (average per post)",
    }
    lines = [f"{titles[name]}:"]
    if not rows:
        lines.append("  nothing published in this window")
    for row in rows:
        if isinstance(row, PostRow):
            when = to_zone(row.published_at, zone)
            if not row.counted:
                lines.append(f"  {when:22} {row.key}: not counted yet")
                continue
            gone = " [deleted on the instance]" if row.counts.gone else ""
            withdrawn = " [withdrawn]" if row.state.value == "withdrawn" else ""
            text = _count_text(row.counts, row.growth)
            lines.append(f"  {when:22} {row.key}: {text}{gone}{withdrawn}")
            if len(row.parts) > 1:
                for part in row.parts:
                    if part.counts is None:
                        continue
                    note = " [deleted on the instance]" if part.counts.gone else ""
                    detail = _count_text(part.counts, part.growth)
                    lines.append(f"      part {part.number}: {detail}{note}  {part.url}")
        else:
            lines.append(
                f"  {row.label:16} {row.posts} posts, average {row.average:.1f}: "
                + _count_text(row.counts, None)
            )
    return lines


def _cell(value: object) -> object:
    # A text cell starting like a formula would be run by the spreadsheet.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _csv(name: str, rows: list[Any], app: App) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    numbers = ["favourites", "boosts", "replies", "quotes"]
    if name == "post":
        writer.writerow(
            ["post", "key", "part", "published", "url", *numbers, "total"]
            + [f"{n} growth" for n in numbers]
            + ["deleted on the instance"]
        )
        for row in rows:
            assert isinstance(row, PostRow)
            local = row.published_at.astimezone(app.settings.zone).strftime("%Y-%m-%d %H:%M")
            for part in row.parts:
                counts, grown = _numbers(part.counts), _numbers(part.growth)
                total = part.counts.total if part.counts else None
                gone = "yes" if part.counts and part.counts.gone else "no"
                cells = [row.post_id, row.key, part.number, local, part.url]
                cells += [counts[n] for n in numbers] + [total] + [grown[n] for n in numbers]
                writer.writerow([_cell(c) for c in [*cells, gone]])
    else:
        writer.writerow([name, "posts", *numbers, "total", "average per post"])
        for group in rows:
            assert isinstance(group, GroupRow)
            counts = _numbers(group.counts)
            cells = [group.label, group.posts, *(counts[n] for n in numbers)]
            cells += [group.counts.total, f"{group.average:.2f}"]
            writer.writerow([_cell(c) for c in cells])
    # The byte order mark tells spreadsheets the file is UTF-8 (accented hashtags, emoji).
    return "\ufeff" + out.getvalue()
