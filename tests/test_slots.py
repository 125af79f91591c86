"""Weekly posting slots: how `mon-fri 09:30` is read, and the instants the slots give."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.schedule.slots import Slot, SlotError, parse_slot, slot_times

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("text", "days", "at"),
    [
        ("mon-fri 09:30", {0, 1, 2, 3, 4}, time(9, 30)),
        ("wed-fri 00:00", {2, 3, 4}, time(0, 0)),
        ("wed-wed 12:00", {2}, time(12, 0)),
        ("fri-mon 18:15", {4, 5, 6, 0}, time(18, 15)),
        ("sun-tue 08:00", {6, 0, 1}, time(8, 0)),
        ("mon,wed-fri 23:59", {0, 2, 3, 4}, time(23, 59)),
        ("mon,weekends 7:05", {0, 5, 6}, time(7, 5)),
        ("weekends,mon 10:00", {0, 5, 6}, time(10, 0)),
        ("tue,thu 12:15", {1, 3}, time(12, 15)),
        ("daily 18:00", set(range(7)), time(18, 0)),
        ("weekdays 09:00", set(range(5)), time(9, 0)),
        ("  SAT  11:00 ", {5}, time(11, 0)),
    ],
)
def test_a_slot_names_its_weekdays_and_time(text: str, days: set[int], at: time) -> None:
    """Ranges (also across the weekend), lists, names and any capitals give these days."""
    assert parse_slot(text) == Slot(frozenset(days), at)


def test_named_day_sets_are_not_changed_by_reading_a_slot() -> None:
    """Reading `weekends,mon` leaves `weekends` meaning Saturday and Sunday only."""
    parse_slot("weekends,mon 10:00")
    assert parse_slot("weekends 10:00").weekdays == {5, 6}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("at noon", "'at noon' is not a slot"),
        ("mon 9", "'mon 9' is not a slot"),
        ("mon 24:00", "'mon 24:00' has no such time of day"),
        ("mon 09:60", "'mon 09:60' has no such time of day"),
        ("mon-xyz 09:00", "'mon-xyz 09:00': unknown day in 'mon-xyz'"),
        ("xyz-mon 09:00", "'xyz-mon 09:00': unknown day in 'xyz-mon'"),
        ("mon,funday 09:00", "'mon,funday 09:00': unknown day 'funday'"),
        ("mon,wed 9:00,", "'mon,wed 9:00,' is not a slot"),
    ],
)
def test_a_slot_that_cannot_be_read_says_why(text: str, message: str) -> None:
    """Each mistake is a SlotError naming the slot and what is wrong with it."""
    with pytest.raises(SlotError) as caught:
        parse_slot(text)
    assert str(caught.value) == message


def test_the_last_minute_of_the_day_is_a_time() -> None:
    """23:59 is the latest slot time there is."""
    assert parse_slot("daily 23:59").at == time(23, 59)
    assert parse_slot("daily 23:00").at == time(23, 0)


def take(slots: tuple[Slot, ...], start: datetime, zone: ZoneInfo, n: int) -> list[datetime]:
    return list(itertools.islice(slot_times(slots, start, zone), n))


def test_slot_times_start_at_start_inclusive_in_order() -> None:
    """A slot exactly at `start` is the first; then every slot in time order, in UTC."""
    slots = (parse_slot("mon,wed 12:30"), parse_slot("wed 09:00"))
    start = datetime(2026, 6, 10, 11, 30, tzinfo=UTC)  # Wednesday 12:30 in London
    found = take(slots, start, LONDON, 4)
    assert found == [
        datetime(2026, 6, 10, 11, 30, tzinfo=UTC),
        datetime(2026, 6, 15, 11, 30, tzinfo=UTC),
        datetime(2026, 6, 17, 8, 0, tzinfo=UTC),
        datetime(2026, 6, 17, 11, 30, tzinfo=UTC),
    ]
    assert all(moment.utcoffset() == timedelta(0) for moment in found)


@pytest.mark.usefixtures("machine_far_from_utc")
def test_slot_times_count_days_in_the_campaigns_zone() -> None:
    """At 19:00 in Los Angeles it is already tomorrow in UTC; that evening's slot still counts."""
    zone = ZoneInfo("America/Los_Angeles")
    start = datetime(2026, 6, 11, 2, 0, tzinfo=UTC)  # Wednesday 19:00 in Los Angeles
    found = take((parse_slot("daily 20:00"),), start, zone, 2)
    assert found == [
        datetime(2026, 6, 11, 3, 0, tzinfo=UTC),
        datetime(2026, 6, 12, 3, 0, tzinfo=UTC),
    ]


@pytest.mark.usefixtures("machine_far_from_utc")
def test_a_slot_in_the_repeated_hour_is_its_first_one_in_the_gap_is_left_out() -> None:
    """01:30 in London happens twice on 25 October 2026 (the first, BST, is taken) and not at all
    on 29 March 2026 (no slot that day)."""
    slots = (parse_slot("daily 01:30"),)
    autumn = take(slots, datetime(2026, 10, 24, 12, tzinfo=UTC), LONDON, 2)
    assert autumn == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]
    spring = take(slots, datetime(2026, 3, 28, 12, tzinfo=UTC), LONDON, 2)
    assert all(str(moment.tzinfo) == "UTC" for moment in autumn + spring)
    assert spring == [
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 0, 30, tzinfo=UTC),
    ]


def test_no_slots_give_no_times() -> None:
    """Without slots there is nothing to wait for."""
    assert list(slot_times((), datetime(2026, 6, 10, tzinfo=UTC), LONDON)) == []
