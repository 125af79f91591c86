"""What is due: the one timeline behind `run` and `plan`, and what `run` does with each entry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_planner import CATCH_UP, LONDON, SLOTS, post, utc

from bot.core.states import State
from bot.schedule.due import (
    RECURRING_LOOKBACK,
    Action,
    Timetable,
    action,
    timeline,
    unsettled,
    window,
)
from bot.schedule.planner import LedgerView

NOW = utc(2026, 12, 10, 12, 0)
TIMETABLE = Timetable(LONDON, SLOTS, CATCH_UP)


def campaign() -> list:
    return [
        post("long-ago", 0, at=NOW - timedelta(days=30)),
        post("missed", 1, at=NOW - timedelta(hours=5)),
        post("late", 2, at=NOW - timedelta(minutes=30)),
        post("soon", 3, at=NOW + timedelta(hours=1)),
        post("daily", 4, cron="0 9 * * *"),
        post("queued", 5),
    ]


@pytest.mark.parametrize("last_run_days", [None, 1, 3, 30])
@pytest.mark.parametrize("from_days", [0, 2, 5, 40])
def test_plan_shows_what_run_does(last_run_days: int | None, from_days: int) -> None:
    """`plan --from -Nd` lists exactly the unsettled occurrences `run` works on in that window,
    whenever the bot last ran, plus what the ledger settled."""
    last_run = None if last_run_days is None else NOW - timedelta(days=last_run_days)
    views = {"long-ago": LedgerView(State.PUBLISHED, NOW - timedelta(days=30))}
    start, end = NOW - timedelta(days=from_days), NOW + timedelta(days=3)
    shown = window(campaign(), views, TIMETABLE, now=NOW, start=start, end=end, last_run=last_run)
    run_sees = timeline(campaign(), views, TIMETABLE, now=NOW, until=end, last_run=last_run)
    expected = {o.key for o in unsettled(run_sees) if start <= o.planned_at}
    assert {o.key for o in unsettled(shown)} == expected
    assert ("long-ago" in {o.key for o in shown}) == (from_days >= 30)


def test_recurring_occurrences_before_the_look_back_are_not_shown_as_pending() -> None:
    """A daily post's occurrences older than the bot's look-back never go out, so `plan` does
    not list them as waiting."""
    shown = window(
        [post("daily", 0, cron="0 9 * * *")],
        {},
        TIMETABLE,
        now=NOW,
        start=NOW - timedelta(days=20),
        end=NOW,
        last_run=NOW - timedelta(days=20),
    )
    assert shown
    assert min(o.planned_at for o in shown) >= NOW - RECURRING_LOOKBACK


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("missed", Action.MISS),
        ("late", Action.CATCH_UP),
        ("soon", Action.WAIT),
    ],
)
def test_action_says_what_run_would_do(key: str, expected: Action) -> None:
    """Past and due posts are labelled as `run` treats them: missed past the window, caught up
    within it, waiting before their time."""
    found = timeline(
        campaign(), {}, TIMETABLE, now=NOW, until=NOW + timedelta(days=1), last_run=None
    )
    [occurrence] = [o for o in found if o.key == key]
    assert action(occurrence, NOW) is expected


def test_action_of_settled_and_in_flight_occurrences() -> None:
    """A settled occurrence needs nothing; one caught mid-send is finished even past its window."""
    views = {
        "missed": LedgerView(State.SENDING, NOW - timedelta(hours=5)),
        "late": LedgerView(State.PUBLISHED, NOW - timedelta(minutes=30)),
    }
    found = {
        o.key: o for o in timeline(campaign(), views, TIMETABLE, now=NOW, until=NOW, last_run=None)
    }
    assert action(found["missed"], NOW) is Action.FINISH
    assert action(found["late"], NOW) is Action.NONE
    assert action(found["late"], NOW - timedelta(hours=1)) is Action.NONE
