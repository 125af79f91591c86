"""Recurring posts: five-field cron expressions expanded in the campaign's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.schedule.recurrence import RecurrenceError, occurrences, parse_cron

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 12 * *", "'0 12 * *' has 4 fields, not 5"),
        ("0 12 * * sun 2026", "'0 12 * * sun 2026' has 6 fields, not 5"),
        ("61 12 * * *", "'61 12 * * *' is not a valid cron expression: "),
        ("0 12 * * funday", "'0 12 * * funday' is not a valid cron expression: "),
    ],
)
def test_a_bad_expression_says_what_is_wrong(expression: str, message: str) -> None:
    """A wrong number of fields, or a field out of range, is a RecurrenceError that names it."""
    with pytest.raises(RecurrenceError) as caught:
        parse_cron(expression, LONDON)
    assert str(caught.value).startswith(message)


@pytest.mark.usefixtures("machine_far_from_utc")
def test_firings_in_the_repeated_autumn_hour_happen_once() -> None:
    """`30 1 * * *` fires once on the day 01:30 happens twice, at the first of them."""
    found = list(
        occurrences(
            "30 1 * * *",
            LONDON,
            datetime(2026, 10, 24, tzinfo=UTC),
            datetime(2026, 10, 26, 12, tzinfo=UTC),
        )
    )
    assert all(str(moment.tzinfo) == "UTC" for moment in found)
    assert found == [
        datetime(2026, 10, 24, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
    ]


def test_every_quarter_hour_through_the_repeated_hour() -> None:
    """A quarter-hourly post fires at each local quarter once, the repeated hour included once."""
    found = list(
        occurrences(
            "*/15 * * * *",
            LONDON,
            datetime(2026, 10, 24, 23, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
        )
    )
    local = [moment.astimezone(LONDON).strftime("%H:%M %Z") for moment in found]
    assert local == [
        "00:30 BST",
        "00:45 BST",
        "01:00 BST",
        "01:15 BST",
        "01:30 BST",
        "01:45 BST",
        "02:00 GMT",
    ]


def test_the_window_is_inclusive_at_both_ends() -> None:
    """A firing exactly at `start` or at `end` is in the window; one a microsecond out is not."""
    start = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    end = datetime(2026, 6, 12, 8, 0, tzinfo=UTC)
    daily = list(occurrences("0 9 * * *", LONDON, start, end))
    assert daily == [
        datetime(2026, 6, 10, 8, 0, tzinfo=UTC),
        datetime(2026, 6, 11, 8, 0, tzinfo=UTC),
        datetime(2026, 6, 12, 8, 0, tzinfo=UTC),
    ]
    later = start.replace(microsecond=1)
    assert list(occurrences("0 9 * * *", LONDON, later, end)) == daily[1:]


def test_a_limit_stops_the_expansion() -> None:
    """At most `limit` firings are given, however long the window."""
    found = occurrences(
        "* * * * *",
        LONDON,
        datetime(2026, 6, 10, tzinfo=UTC),
        datetime(2027, 6, 10, tzinfo=UTC),
        limit=3,
    )
    assert len(list(found)) == 3
