"""What is due: the one timeline behind `run` and `plan`, and what `run` does with each entry."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

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
from bot.schedule.planner import LedgerView, Occurrence, occurrence_key

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


def _at(planned_at: datetime, state: State = State.PENDING) -> Occurrence:
    return Occurrence("p", post("p", 0, at=planned_at), planned_at, planned_at + CATCH_UP, state)


@pytest.mark.parametrize(
    ("late", "expected"),
    [
        (timedelta(seconds=-1), Action.WAIT),
        (timedelta(0), Action.PUBLISH),
        (timedelta(minutes=1), Action.PUBLISH),
        (timedelta(minutes=1, seconds=1), Action.CATCH_UP),
        (CATCH_UP, Action.CATCH_UP),
        (CATCH_UP + timedelta(seconds=1), Action.MISS),
    ],
)
def test_action_at_the_edges_is_what_run_does(late: timedelta, expected: Action) -> None:
    """As `run` does: a post goes out from its planned moment on, counts as caught up only when
    more than a minute late, and is missed only once past its deadline, not at it."""
    planned_at = NOW - late
    assert action(_at(planned_at), NOW) is expected


def test_the_window_includes_both_its_ends() -> None:
    """`plan --from A --until B` lists a post planned exactly at A or at B."""
    posts = [
        post("first", 0, at=NOW + timedelta(hours=1)),
        post("last", 1, at=NOW + timedelta(hours=5)),
    ]
    shown = window(
        posts,
        {},
        TIMETABLE,
        now=NOW,
        start=NOW + timedelta(hours=1),
        end=NOW + timedelta(hours=5),
        last_run=None,
    )
    assert [o.key for o in shown] == ["first", "last"]


def test_a_listing_caps_a_recurring_post_from_the_start_of_the_window() -> None:
    """With a limit, a recurring post shows its first occurrences in the window, however many
    fired between now and the window's start."""
    start = NOW + timedelta(days=1)
    shown = window(
        [post("hourly", 0, cron="0 * * * *")],
        {},
        TIMETABLE,
        now=NOW,
        start=start,
        end=start + timedelta(days=1),
        last_run=None,
        limit_per_post=5,
    )
    assert [o.planned_at for o in shown] == [start + timedelta(hours=h) for h in range(5)]


BERLIN = ZoneInfo("Europe/Berlin")


def test_the_ledgers_records_before_the_look_back_are_shown() -> None:
    """`plan --from -30d` shows what the ledger recorded of a recurring post weeks ago, in the
    campaign's zone, with its recorded state, though `run` no longer looks that far back."""
    daily = post("daily", 0, cron="0 9 * * *")
    sent_at = utc(2026, 11, 20, 8, 0)  # 09:00 in Berlin
    key = occurrence_key(daily, sent_at)
    views = {key: LedgerView(State.PUBLISHED, sent_at)}
    timetable = Timetable(BERLIN, SLOTS, CATCH_UP)
    shown = window(
        [daily], views, timetable, now=NOW, start=NOW - timedelta(days=30), end=NOW, last_run=None
    )
    assert [(o.key, o.state) for o in shown] == [(key, State.PUBLISHED)]


def test_the_ledgers_records_before_the_look_back_are_capped_too() -> None:
    """A listing with a limit shows a recurring post's old records only up to that limit,
    counted from the window's start, so a cron that fired every minute stays a short list."""
    every_minute = post("often", 0, cron="* * * * *")
    start = NOW - timedelta(days=20)
    sent = [start + timedelta(minutes=m) for m in range(10)]
    views = {occurrence_key(every_minute, t): LedgerView(State.PUBLISHED, t) for t in sent}
    shown = window(
        [every_minute],
        views,
        TIMETABLE,
        now=NOW,
        start=start,
        end=NOW,
        last_run=None,
        limit_per_post=3,
    )
    assert [o.planned_at for o in shown if o.settled] == sent[:3]


def test_plan_lists_no_pending_record_that_run_would_not_send() -> None:
    """Before the look-back `plan` adds only what the ledger settled. Here a queued post the
    ledger holds as pending has no free slot (a cron firing every minute takes them all), so
    `run` does not send it; `plan --from -2d` must not list it as going out at 12:30 either."""
    now = utc(2026, 12, 10, 12, 45)  # a Thursday, just after the 12:30 slot
    posts = [post("often", 0, cron="* * * * *"), post("queued", 1)]
    views = {"queued": LedgerView(State.PENDING, now)}
    start, end = now - timedelta(days=2), now + timedelta(hours=1)
    shown = window(
        posts, views, TIMETABLE, now=now, start=start, end=end, last_run=None, limit_per_post=2000
    )
    run_sees = timeline(posts, views, TIMETABLE, now=now, until=end, last_run=None)
    assert "queued" not in {o.key for o in run_sees}
    assert {o.key for o in unsettled(shown)} == {o.key for o in unsettled(run_sees)}
