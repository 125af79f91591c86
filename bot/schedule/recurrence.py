"""Recurring posts: five-field cron expressions, expanded in the campaign's time zone.

APScheduler's CronTrigger does the arithmetic, so a post at `30 9 * * *` in Europe/London goes out
at 09:30 local time on both sides of a daylight-saving change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger


class RecurrenceError(ValueError):
    hint = "use five fields: minute hour day-of-month month day-of-week, e.g. `30 9 * * mon-fri`"


def parse_cron(expression: str, zone: ZoneInfo) -> CronTrigger:
    fields = expression.split()
    if len(fields) != 5:
        raise RecurrenceError(f"{expression!r} has {len(fields)} fields, not 5")
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except (ValueError, KeyError, TypeError) as exc:
        raise RecurrenceError(f"{expression!r} is not a valid cron expression: {exc}") from None


def occurrences(
    expression: str,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    *,
    limit: int = 100_000,
) -> Iterator[datetime]:
    """Every firing time (UTC) of the expression in [start, end]."""
    trigger = parse_cron(expression, zone)
    previous: datetime | None = None
    latest_wall_clock: datetime | None = None
    cursor = (start - timedelta(microseconds=1)).astimezone(UTC)
    for _ in range(limit):
        moment = trigger.get_next_fire_time(previous, cursor)
        if moment is None or moment.astimezone(UTC) > end:
            return
        moment_utc = moment.astimezone(UTC)
        wall_clock = moment.replace(tzinfo=None)
        # When the clocks go back, wall-clock times repeat; cron fires once for each, so do we.
        if latest_wall_clock is None or wall_clock > latest_wall_clock:
            if moment_utc >= start:
                yield moment_utc
            latest_wall_clock = wall_clock
        previous = moment
        # Advance in UTC: adding to a local time inside the repeated hour lands before it again.
        cursor = moment_utc + timedelta(seconds=1)
