"""Weekly posting slots (`mon-fri 09:30`, `daily 18:00`) for posts without a time of their own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.core.timespec import TimeSpecError, localize

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAMED = {"daily": set(range(7)), "weekdays": set(range(5)), "weekends": {5, 6}}
_SLOT = re.compile(r"^\s*(?P<days>[a-z,\-]+)\s+(?P<h>\d{1,2}):(?P<m>\d{2})\s*$")
_HINT = "write it like `mon-fri 09:30`, `daily 18:00`, `weekends 11:00` or `tue,thu 12:15`"


class SlotError(ValueError):
    hint = _HINT


@dataclass(frozen=True, slots=True)
class Slot:
    weekdays: frozenset[int]
    at: time


def parse_slot(text: str) -> Slot:
    match = _SLOT.match(str(text).lower())
    if not match:
        raise SlotError(f"{text!r} is not a slot")
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23 or minute > 59:
        raise SlotError(f"{text!r} has no such time of day")
    days: set[int] = set()
    for chunk in match["days"].split(","):
        if chunk in _NAMED:
            days |= _NAMED[chunk]
        elif "-" in chunk:
            first, _, last = chunk.partition("-")
            if first not in DAYS or last not in DAYS:
                raise SlotError(f"{text!r}: unknown day in {chunk!r}")
            start, end = DAYS.index(first), DAYS.index(last)
            days |= {d % 7 for d in range(start, end + 1 if end >= start else end + 8)}
        elif chunk in DAYS:
            days.add(DAYS.index(chunk))
        else:
            raise SlotError(f"{text!r}: unknown day {chunk!r}")
    return Slot(frozenset(days), time(hour, minute))


def slot_times(slots: tuple[Slot, ...], start: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """Every slot instant (UTC) at or after `start`, in order, forever.

    A slot that falls in a daylight-saving gap that day is left out; in an overlap, the first.
    """
    if not slots:
        return
    day: date = start.astimezone(zone).date()
    while True:
        todays = sorted({s.at for s in slots if day.weekday() in s.weekdays})
        for at in todays:
            naive = datetime.combine(day, at)
            moment: datetime | None
            try:
                moment = localize(naive, zone)
            except TimeSpecError:
                moment = _first_of_overlap(naive, zone)
            if moment is not None and moment >= start:
                yield moment
        day += timedelta(days=1)


def _first_of_overlap(naive: datetime, zone: ZoneInfo) -> datetime | None:
    early = naive.replace(tzinfo=zone, fold=0)
    if early.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != naive:
        return None  # a gap: this wall-clock time does not exist today
    return early.astimezone(ZoneInfo("UTC"))
