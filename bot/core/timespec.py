"""Times and durations as campaigners write them, turned into exact instants.

Times are `YYYY-MM-DD HH:MM[:SS]` in the campaign's zone, or ISO 8601 with an offset.
Durations are `30m`, `2h`, `1d`, `1w` (and combinations such as `1h30m`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(
    r"^\s*(?:(?P<w>\d+)\s*w)?\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?"
    r"\s*(?:(?P<m>\d+)\s*m)?\s*(?:(?P<s>\d+)\s*s)?\s*$"
)
_LOCAL_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$")
_TIME_FORMATS_HINT = (
    "write it as `2026-12-01 09:30` (campaign time zone) or `2026-12-01T09:30:00+01:00`"
)


class TimeSpecError(ValueError):
    """A time, duration or zone that cannot be used; `hint` says how to write it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_duration(value: object) -> timedelta:
    """`30m` → 30 minutes. A bare integer is read as seconds."""
    if isinstance(value, bool):
        raise TimeSpecError(
            f"{value!r} is not a duration", "write a duration like `30m`, `2h`, `1d`"
        )
    if isinstance(value, int):
        if value < 0:
            raise TimeSpecError(f"{value} is negative", "durations must be positive")
        parts = {"s": value}
    else:
        text = str(value)
        match = _DURATION.match(text)
        if not text.strip() or match is None or not any(match.groupdict().values()):
            raise TimeSpecError(
                f"{text!r} is not a duration", "write it like `30m`, `2h`, `1d`, `1w` or `1h30m`"
            )
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
    try:
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    except OverflowError:  # timedelta stops at 999,999,999 days
        raise TimeSpecError(f"{value!r} is too long", "write a shorter duration") from None


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"


def load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeSpecError(
            f"unknown time zone {name!r}",
            "use an IANA zone name such as `Europe/London` or `America/New_York`",
        ) from exc


def parse_time(value: object, zone: ZoneInfo) -> datetime:
    """A campaigner's time → an aware UTC datetime, refusing times a DST change makes unclear."""
    text = str(value).strip()
    match = _LOCAL_TIME.match(text)
    if match:
        day, hour, minute, second = match.groups(default="00")
        try:
            # fromisoformat (Python 3.11) wants a two-digit hour; campaigners write `9:30`.
            naive = datetime.fromisoformat(f"{day}T{hour:0>2}:{minute}:{second}")
        except ValueError as exc:  # the right shape but no such day or time, e.g. 2026-02-30
            raise TimeSpecError(
                f"{text!r} is not a date and time: {exc}", _TIME_FORMATS_HINT
            ) from None
        return localize(naive, zone)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TimeSpecError(f"{text!r} is not a date and time", _TIME_FORMATS_HINT) from None
    if parsed.tzinfo is None:
        return localize(parsed, zone)
    return parsed.astimezone(UTC)


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Wall-clock time in `zone` → UTC; a time in a DST gap or overlap is an error, not a guess."""
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    shown = naive.strftime("%Y-%m-%d %H:%M")
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        # zoneinfo returns a time in a gap unchanged; the round trip exposes it.
        before = (early.astimezone(UTC) - timedelta(hours=1)).astimezone(zone)
        raise TimeSpecError(
            f"{shown} does not exist in {zone.key}: the clocks jump forward that day "
            f"(offset changes from {before.strftime('%z')} to {late.strftime('%z')})",
            "pick a time outside the daylight-saving gap",
        )
    if early.utcoffset() != late.utcoffset():
        raise TimeSpecError(
            f"{shown} happens twice in {zone.key}: the clocks go back that day",
            f"add the offset you mean, e.g. `{naive.strftime('%Y-%m-%dT%H:%M')}{_offset(early)}` "
            f"or `{naive.strftime('%Y-%m-%dT%H:%M')}{_offset(late)}`",
        )
    return early.astimezone(UTC)


def _offset(moment: datetime) -> str:
    raw = moment.strftime("%z")
    return f"{raw[:3]}:{raw[3:]}"


def to_zone(moment: datetime, zone: ZoneInfo) -> str:
    """How a campaigner reads an instant: local time with the zone's abbreviation."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
