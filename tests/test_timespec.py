"""Times, durations, weekly slots and cron schedules, across both daylight-saving changes.

Europe/London in the years used here: the clocks go forward at 01:00 UTC on 2027-03-28 (01:00 to
02:00 local does not exist) and back at 01:00 UTC on 2026-10-25 (01:00 to 02:00 local happens
twice, first in BST, then in GMT).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from bot.core.timespec import (
    TimeSpecError,
    format_duration,
    load_zone,
    localize,
    parse_duration,
    parse_time,
    to_zone,
)
from bot.schedule.recurrence import RecurrenceError, occurrences, parse_cron
from bot.schedule.slots import Slot, SlotError, parse_slot, slot_times

LONDON = ZoneInfo("Europe/London")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def local(moments: list[datetime]) -> list[str]:
    return [to_zone(m, LONDON) for m in moments]


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1w 2d 3h 4m 5s", timedelta(days=9, hours=3, minutes=4, seconds=5)),
        (" 45s ", timedelta(seconds=45)),
        (90, timedelta(seconds=90)),
        (0, timedelta(0)),
    ],
)
def test_parse_duration(text: object, expected: timedelta) -> None:
    """Durations are written with units; a bare number is seconds."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "'' is not a duration"),
        ("soon", "'soon' is not a duration"),
        ("2 hours", "'2 hours' is not a duration"),
        ("1.5h", "'1.5h' is not a duration"),
        ("30m2h", "'30m2h' is not a duration"),
        (-5, "-5 is negative"),
        (True, "True is not a duration"),
        ("9999999999999d", "'9999999999999d' is too long"),
        (10**20, "100000000000000000000 is too long"),
    ],
)
def test_bad_durations(value: object, message: str) -> None:
    """Anything else is refused with a message naming the value."""
    with pytest.raises(TimeSpecError) as caught:
        parse_duration(value)
    assert caught.value.message == message
    assert caught.value.hint


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=2, seconds=5), "2d5s"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    """Durations print the way they are written."""
    assert format_duration(delta) == text
    assert parse_duration(text) == delta


# --- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01 09:30", utc(2026, 12, 1, 9, 30)),
        ("2026-12-01T09:30", utc(2026, 12, 1, 9, 30)),
        ("2026-12-01 9:30:15", utc(2026, 12, 1, 9, 30, 15)),
        ("2026-07-01 09:30", utc(2026, 7, 1, 8, 30)),
        ("2026-12-01", utc(2026, 12, 1, 0, 0)),
        ("2026-12-01T09:30:00+01:00", utc(2026, 12, 1, 8, 30)),
        ("2026-12-01T09:30:00Z", utc(2026, 12, 1, 9, 30)),
        ("2026-10-25T01:30+01:00", utc(2026, 10, 25, 0, 30)),
        ("2026-10-25T01:30+00:00", utc(2026, 10, 25, 1, 30)),
        ("2027-03-28T01:30+00:00", utc(2027, 3, 28, 1, 30)),
        ("2026-10-25 00:59", utc(2026, 10, 24, 23, 59)),
        ("2026-10-25 02:00", utc(2026, 10, 25, 2, 0)),
        ("2027-03-28 00:59", utc(2027, 3, 28, 0, 59)),
        ("2027-03-28 02:00", utc(2027, 3, 28, 1, 0)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    """Local times are read in the campaign's zone, times with an offset as written."""
    parsed = parse_time(text, LONDON)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "2027-03-28 01:30",
            "2027-03-28 01:30 does not exist in Europe/London: the clocks jump forward that day "
            "(offset changes from +0000 to +0100)",
            "pick a time outside the daylight-saving gap",
        ),
        (
            "2027-03-28 01:00",
            "2027-03-28 01:00 does not exist in Europe/London: the clocks jump forward that day "
            "(offset changes from +0000 to +0100)",
            "pick a time outside the daylight-saving gap",
        ),
        (
            "2026-10-25 01:30",
            "2026-10-25 01:30 happens twice in Europe/London: the clocks go back that day",
            "add the offset you mean, e.g. `2026-10-25T01:30+01:00` or `2026-10-25T01:30+00:00`",
        ),
        (
            "2026-10-25 01:00",
            "2026-10-25 01:00 happens twice in Europe/London: the clocks go back that day",
            "add the offset you mean, e.g. `2026-10-25T01:00+01:00` or `2026-10-25T01:00+00:00`",
        ),
        (
            "2026-13-01 09:30",
            "'2026-13-01 09:30' is not a date and time: month must be in 1..12",
            "write it as `2026-12-01 09:30` (campaign time zone) or `2026-12-01T09:30:00+01:00`",
        ),
        (
            "1 December",
            "'1 December' is not a date and time",
            "write it as `2026-12-01 09:30` (campaign time zone) or `2026-12-01T09:30:00+01:00`",
        ),
    ],
)
def test_unclear_or_bad_times(text: str, message: str, hint: str) -> None:
    """A time the clocks skip or repeat is an error, never a guess; so is a non-time."""
    with pytest.raises(TimeSpecError) as caught:
        parse_time(text, LONDON)
    assert (caught.value.message, caught.value.hint) == (message, hint)


def test_localize_in_new_york() -> None:
    """The gap and overlap are found in any zone, with that zone's offsets."""
    assert localize(datetime.fromisoformat("2027-03-14T03:30"), ZoneInfo("America/New_York")) == (
        utc(2027, 3, 14, 7, 30)
    )
    zone = ZoneInfo("America/New_York")
    with pytest.raises(TimeSpecError, match=r"offset changes from -0500 to -0400"):
        parse_time("2027-03-14 02:30", zone)
    with pytest.raises(TimeSpecError) as caught:
        parse_time("2026-11-01 01:30", zone)
    assert "`2026-11-01T01:30-04:00` or `2026-11-01T01:30-05:00`" in caught.value.hint


def test_load_zone() -> None:
    """IANA names load; anything else says what to write."""
    assert load_zone("Europe/London") == LONDON
    for bad in ("Europe/Londn", "BST", "../etc/passwd", ""):
        with pytest.raises(TimeSpecError) as caught:
            load_zone(bad)
        assert caught.value.message == f"unknown time zone {bad!r}"


def test_to_zone() -> None:
    """Instants print in local time with the zone's abbreviation for that date."""
    assert to_zone(utc(2026, 7, 1, 8, 30), LONDON) == "2026-07-01 09:30 BST"
    assert to_zone(utc(2026, 12, 1, 9, 30), LONDON) == "2026-12-01 09:30 GMT"


# --- weekly slots -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "at"),
    [
        ("mon-fri 09:30", {0, 1, 2, 3, 4}, time(9, 30)),
        ("daily 18:00", set(range(7)), time(18, 0)),
        ("weekdays 7:05", set(range(5)), time(7, 5)),
        ("weekends 11:00", {5, 6}, time(11, 0)),
        ("tue,thu 12:15", {1, 3}, time(12, 15)),
        ("fri-mon 20:00", {4, 5, 6, 0}, time(20, 0)),
        ("Sat 10:00", {5}, time(10, 0)),
        ("mon,wed-thu 23:59", {0, 2, 3}, time(23, 59)),
    ],
)
def test_parse_slot(text: str, days: set[int], at: time) -> None:
    """Days are names, ranges (wrapping past Sunday) or lists; the time is 24-hour."""
    assert parse_slot(text) == Slot(frozenset(days), at)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon-fri", "'mon-fri' is not a slot"),
        ("mon-fri 9", "'mon-fri 9' is not a slot"),
        ("funday 10:00", "'funday 10:00': unknown day 'funday'"),
        ("mon-fun 10:00", "'mon-fun 10:00': unknown day in 'mon-fun'"),
        ("mon 24:00", "'mon 24:00' has no such time of day"),
        ("mon 10:60", "'mon 10:60' has no such time of day"),
    ],
)
def test_bad_slots(text: str, message: str) -> None:
    """A slot that cannot be read says which part is wrong."""
    with pytest.raises(SlotError) as caught:
        parse_slot(text)
    assert str(caught.value) == message
    assert "mon-fri 09:30" in caught.value.hint


def test_slot_times_in_order_from_start() -> None:
    """Slots come in time order from the start, merging days of several slots."""
    slots = (parse_slot("mon-fri 12:30"), parse_slot("sat 10:00"), parse_slot("mon 09:00"))
    found = islice(slot_times(slots, utc(2026, 11, 20, 12, 30), LONDON), 5)
    assert local(list(found)) == [
        "2026-11-20 12:30 GMT",
        "2026-11-21 10:00 GMT",
        "2026-11-23 09:00 GMT",
        "2026-11-23 12:30 GMT",
        "2026-11-24 12:30 GMT",
    ]


def test_slot_times_skip_the_gap_hour() -> None:
    """A slot inside the spring gap is left out that day; the days around it keep their time."""
    found = islice(slot_times((parse_slot("daily 01:30"),), utc(2027, 3, 27), LONDON), 3)
    assert local(list(found)) == [
        "2027-03-27 01:30 GMT",
        "2027-03-29 01:30 BST",
        "2027-03-30 01:30 BST",
    ]


def test_slot_times_take_the_first_of_a_repeated_hour() -> None:
    """A slot in the autumn's repeated hour happens once, at its first (summer time) instant."""
    found = list(islice(slot_times((parse_slot("daily 01:30"),), utc(2026, 10, 24), LONDON), 3))
    assert found == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_slot_times_stay_local_across_the_change() -> None:
    """A 12:00 slot is 12:00 local on both sides of the change, so 11:00 then 12:00 UTC."""
    found = list(islice(slot_times((parse_slot("daily 12:00"),), utc(2026, 10, 24), LONDON), 2))
    assert found == [utc(2026, 10, 24, 11), utc(2026, 10, 25, 12)]


def test_no_slots_no_times() -> None:
    """Without slots there is nothing to hand out."""
    assert list(slot_times((), utc(2026, 1, 1), LONDON)) == []


# --- cron ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("30 9 * *", "'30 9 * *' has 4 fields, not 5"),
        ("0 30 9 * * *", "'0 30 9 * * *' has 6 fields, not 5"),
        ("", "'' has 0 fields, not 5"),
        (
            "61 9 * * *",
            "'61 9 * * *' is not a valid cron expression: Error validating expression '61': the "
            "last value (61) is higher than the maximum value (59)",
        ),
        (
            "30 9 * * funday",
            "'30 9 * * funday' is not a valid cron expression: Invalid weekday name \"funday\"",
        ),
    ],
)
def test_bad_cron(expression: str, message: str) -> None:
    """A cron expression must have five fields that parse."""
    with pytest.raises(RecurrenceError) as caught:
        parse_cron(expression, LONDON)
    assert str(caught.value) == message
    assert "five fields" in caught.value.hint


def test_cron_keeps_local_time_in_spring() -> None:
    """`30 9 * * *` is 09:30 local before and after the clocks go forward."""
    found = list(occurrences("30 9 * * *", LONDON, utc(2027, 3, 27), utc(2027, 3, 30)))
    assert found == [utc(2027, 3, 27, 9, 30), utc(2027, 3, 28, 8, 30), utc(2027, 3, 29, 8, 30)]
    assert local(found) == [
        "2027-03-27 09:30 GMT",
        "2027-03-28 09:30 BST",
        "2027-03-29 09:30 BST",
    ]


def test_cron_keeps_local_time_in_autumn() -> None:
    """`30 9 * * *` is 09:30 local before and after the clocks go back."""
    found = list(occurrences("30 9 * * *", LONDON, utc(2026, 10, 24), utc(2026, 10, 27)))
    assert found == [utc(2026, 10, 24, 8, 30), utc(2026, 10, 25, 9, 30), utc(2026, 10, 26, 9, 30)]


def test_cron_in_the_repeated_hour_fires_once() -> None:
    """`30 1 * * *` fires once on the autumn day, at the first 01:30 (BST)."""
    found = list(occurrences("30 1 * * *", LONDON, utc(2026, 10, 24), utc(2026, 10, 27)))
    assert found == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_cron_every_half_hour_through_the_repeated_hour() -> None:
    """Each wall-clock time fires once, even where the clock shows it twice."""
    found = occurrences("*/30 0-2 * * *", LONDON, utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert local(list(found)) == [
        "2026-10-25 00:00 BST",
        "2026-10-25 00:30 BST",
        "2026-10-25 01:00 BST",
        "2026-10-25 01:30 BST",
        "2026-10-25 02:00 GMT",
        "2026-10-25 02:30 GMT",
    ]


def test_cron_in_the_gap_moves_past_it() -> None:
    """`30 1 * * *` on the spring day goes out once, just after the gap, at 02:30 BST."""
    found = list(occurrences("30 1 * * *", LONDON, utc(2027, 3, 27), utc(2027, 3, 30)))
    assert local(found) == [
        "2027-03-27 01:30 GMT",
        "2027-03-28 02:30 BST",
        "2027-03-29 01:30 BST",
    ]


def test_cron_window_is_inclusive() -> None:
    """Occurrences exactly at the start and the end of the window are included."""
    found = list(occurrences("0 12 * * *", LONDON, utc(2026, 12, 1, 12), utc(2026, 12, 3, 12)))
    assert found == [utc(2026, 12, 1, 12), utc(2026, 12, 2, 12), utc(2026, 12, 3, 12)]
