"""The plan: which occurrence of which post goes out when, as a pure function of its inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, Part, Schedule
from bot.core.states import State
from bot.core.timespec import to_zone
from bot.schedule.planner import LedgerView, Occurrence, capped, occurrence_key, plan
from bot.schedule.slots import parse_slot

LONDON = ZoneInfo("Europe/London")
CATCH_UP = timedelta(hours=2)
SLOTS = (parse_slot("mon-fri 12:30"), parse_slot("sat 10:00"))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def post(
    post_id: str,
    order: int,
    *,
    at: datetime | None = None,
    cron: str | None = None,
    start: datetime | None = None,
    until: datetime | None = None,
    not_after: timedelta | datetime | None = None,
) -> CampaignPost:
    part = Part(0, f"text of {post_id}", None, False, None, None, (), None, 12)
    schedule = Schedule(at=at, cron=cron, start=start, until=until)
    return CampaignPost(post_id, "posts/a.yaml", order + 1, order, schedule, not_after, (part,))


def planned(
    posts: list[CampaignPost],
    clock: FakeClock,
    *,
    ledger: dict[str, LedgerView] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    recurring_from: datetime | None = None,
) -> list[Occurrence]:
    now = clock.now()
    return plan(
        posts,
        ledger=ledger or {},
        now=now,
        start=start or now,
        end=end or now + timedelta(days=30),
        zone=LONDON,
        slots=SLOTS,
        catch_up=CATCH_UP,
        recurring_from=recurring_from,
    )


def rows(occurrences: list[Occurrence]) -> list[tuple[str, str]]:
    return [(to_zone(o.planned_at, LONDON), o.key) for o in occurrences]


def test_one_off_posts_in_time_order_within_the_window(clock: FakeClock) -> None:
    """One-off posts come out in time order; the window's ends are included."""
    posts = [
        post("late", 0, at=utc(2026, 12, 3, 18)),
        post("early", 1, at=utc(2026, 12, 1, 9, 30)),
        post("before", 2, at=utc(2026, 11, 30, 23, 59)),
        post("after", 3, at=utc(2026, 12, 3, 18, 1)),
    ]
    found = planned(posts, clock, start=utc(2026, 12, 1, 9, 30), end=utc(2026, 12, 3, 18))
    assert rows(found) == [
        ("2026-12-01 09:30 GMT", "early"),
        ("2026-12-03 18:00 GMT", "late"),
    ]
    assert all(o.state == "pending" and not o.settled for o in found)


def test_same_time_keeps_file_order(clock: FakeClock) -> None:
    """Posts planned for the same instant go out in file order."""
    at = utc(2026, 12, 1, 9, 30)
    posts = [post("second", 5, at=at), post("first", 2, at=at)]
    assert [o.key for o in planned(posts, clock)] == ["first", "second"]


def test_recurring_posts_expanded_with_utc_in_their_keys(clock: FakeClock) -> None:
    """A cron post gives one occurrence per firing, keyed by id and UTC time, within from/until."""
    weekly = post(
        "weekly",
        0,
        cron="0 12 * * sun",
        start=utc(2026, 12, 6),
        until=utc(2026, 12, 20, 23, 59),
        not_after=timedelta(hours=3),
    )
    found = planned([weekly], clock, end=utc(2027, 1, 31))
    assert rows(found) == [
        ("2026-12-06 12:00 GMT", "weekly@2026-12-06T12:00:00Z"),
        ("2026-12-13 12:00 GMT", "weekly@2026-12-13T12:00:00Z"),
        ("2026-12-20 12:00 GMT", "weekly@2026-12-20T12:00:00Z"),
    ]
    assert [o.deadline - o.planned_at for o in found] == [timedelta(hours=3)] * 3


def test_recurring_across_the_autumn_change() -> None:
    """`30 9 * * *` stays 09:30 local across the change; its keys show the UTC shift."""
    daily = post("daily", 0, cron="30 9 * * *")
    found = planned([daily], FakeClock(utc(2026, 10, 23)), end=utc(2026, 10, 26, 12))
    assert rows(found) == [
        ("2026-10-23 09:30 BST", "daily@2026-10-23T08:30:00Z"),
        ("2026-10-24 09:30 BST", "daily@2026-10-24T08:30:00Z"),
        ("2026-10-25 09:30 GMT", "daily@2026-10-25T09:30:00Z"),
        ("2026-10-26 09:30 GMT", "daily@2026-10-26T09:30:00Z"),
    ]


def test_recurring_from_limits_how_far_back(clock: FakeClock) -> None:
    """`recurring_from` drops firings before it, even inside the window."""
    daily = post("daily", 0, cron="0 8 * * *")
    found = planned(
        [daily],
        clock,
        start=utc(2026, 11, 1),
        end=utc(2026, 11, 22),
        recurring_from=utc(2026, 11, 19),
    )
    assert [o.key for o in found] == [
        "daily@2026-11-19T08:00:00Z",
        "daily@2026-11-20T08:00:00Z",
        "daily@2026-11-21T08:00:00Z",
    ]


def test_occurrence_keys() -> None:
    """One-off and queued posts are keyed by id alone; recurring ones by id and UTC time."""
    at = datetime(2026, 12, 6, 12, 0, tzinfo=LONDON)
    assert occurrence_key(post("a", 0, at=at), at) == "a"
    assert occurrence_key(post("q", 0), at) == "q"
    assert occurrence_key(post("r", 0, cron="0 12 * * *"), at) == "r@2026-12-06T12:00:00Z"


def test_queued_posts_fill_free_slots_in_file_order(clock: FakeClock) -> None:
    """Queued posts take the next slots in file order, skipping one a timed post holds."""
    posts = [
        post("q-first", 1),
        post("timed", 2, at=utc(2026, 11, 23, 12, 30)),  # Monday's slot
        post("q-second", 3),
        post("q-third", 4),
    ]
    assert rows(planned(posts, clock)) == [
        ("2026-11-20 12:30 GMT", "q-first"),
        ("2026-11-21 10:00 GMT", "q-second"),
        ("2026-11-23 12:30 GMT", "timed"),
        ("2026-11-24 12:30 GMT", "q-third"),
    ]


def test_a_slot_used_by_a_recurring_post_is_not_free(clock: FakeClock) -> None:
    """A queued post does not go out at the same instant as a recurring post."""
    posts = [post("weekday-lunch", 0, cron="30 12 * * mon-fri"), post("queued", 1)]
    found = planned(posts, clock, end=utc(2026, 11, 23, 23))
    assert rows(found) == [
        ("2026-11-20 12:30 GMT", "weekday-lunch@2026-11-20T12:30:00Z"),
        ("2026-11-21 10:00 GMT", "queued"),
        ("2026-11-23 12:30 GMT", "weekday-lunch@2026-11-23T12:30:00Z"),
    ]


def test_recent_slot_is_caught_up(clock: FakeClock) -> None:
    """A slot less than `catch_up` ago is still handed out (the runner publishes it late)."""
    clock.set(utc(2026, 11, 20, 13, 0))
    found = planned([post("q", 0)], clock, start=clock.now() - CATCH_UP)
    assert rows(found) == [("2026-11-20 12:30 GMT", "q")]
    assert found[0].deadline == utc(2026, 11, 20, 14, 30)


def test_settled_queued_posts_keep_their_slot(clock: FakeClock) -> None:
    """A queued post the ledger settled (or is sending) keeps its slot; the rest move on."""
    posts = [post("q1", 1), post("q2", 2), post("q3", 3)]
    ledger = {
        "q1": LedgerView(State("published"), utc(2026, 11, 20, 12, 30)),
        "q2": LedgerView(State("sending"), utc(2026, 11, 21, 10, 0)),
    }
    found = planned(posts, clock, ledger=ledger)
    assert [(o.key, o.state, o.settled) for o in found] == [
        ("q1", "published", True),
        ("q2", "sending", False),
        ("q3", "pending", False),
    ]
    assert [o.planned_at for o in found] == [
        utc(2026, 11, 20, 12, 30),
        utc(2026, 11, 21, 10, 0),
        utc(2026, 11, 23, 12, 30),
    ]


def test_settled_slot_outside_the_window(clock: FakeClock) -> None:
    """A queued post settled last week is not shown, and its old slot does not hold up others."""
    posts = [post("old", 1), post("new", 2)]
    ledger = {"old": LedgerView(State("missed"), utc(2026, 11, 13, 12, 30))}
    assert rows(planned(posts, clock, ledger=ledger)) == [("2026-11-20 12:30 GMT", "new")]


def test_failed_queued_post_is_not_placed_again(clock: FakeClock) -> None:
    """A pending queued post is placed again; a failed one stays where it failed."""
    posts = [post("q1", 1), post("q2", 2)]
    ledger = {
        "q1": LedgerView(State("pending"), utc(2026, 11, 18, 12, 30)),
        "q2": LedgerView(State("failed"), utc(2026, 11, 20, 12, 30)),
    }
    found = planned(posts, clock, ledger=ledger)
    assert [(o.key, o.state) for o in found] == [("q2", "failed"), ("q1", "pending")]
    assert found[1].planned_at == utc(2026, 11, 21, 10, 0)


@pytest.mark.parametrize(
    ("not_after", "deadline"),
    [
        (None, utc(2026, 12, 1, 11, 30)),  # the config's catch_up
        (timedelta(minutes=30), utc(2026, 12, 1, 10, 0)),
        (timedelta(0), utc(2026, 12, 1, 9, 30)),
        (utc(2026, 12, 2, 8, 0), utc(2026, 12, 2, 8, 0)),
        (utc(2026, 12, 1, 8, 0), utc(2026, 12, 1, 9, 30)),  # before the planned time: on time only
    ],
)
def test_deadlines(
    clock: FakeClock, not_after: timedelta | datetime | None, deadline: datetime
) -> None:
    """The deadline is the planned time plus not_after (or catch_up), or not_after itself."""
    (found,) = planned([post("p", 0, at=utc(2026, 12, 1, 9, 30), not_after=not_after)], clock)
    assert found.deadline == deadline


def test_ledger_state_is_reported(clock: FakeClock) -> None:
    """Each occurrence carries what the ledger says about it."""
    posts = [post("a", 0, at=utc(2026, 12, 1, 9, 30)), post("r", 1, cron="0 12 * * tue")]
    ledger = {
        "a": LedgerView(State("published"), utc(2026, 12, 1, 9, 30)),
        "r@2026-11-24T12:00:00Z": LedgerView(State("missed"), utc(2026, 11, 24, 12)),
    }
    found = planned(posts, clock, ledger=ledger, end=utc(2026, 12, 2))
    assert [(o.key, o.state) for o in found] == [
        ("r@2026-11-24T12:00:00Z", "missed"),
        ("a", "published"),
        ("r@2026-12-01T12:00:00Z", "pending"),
    ]


def test_plan_is_pure(clock: FakeClock) -> None:
    """The same inputs give the same plan, and the inputs are left as they were."""
    posts = [
        post("q1", 0),
        post("a", 1, at=utc(2026, 11, 23, 12, 30)),
        post("r", 2, cron="30 12 * * mon-fri", start=utc(2026, 11, 25)),
        post("q2", 3),
    ]
    ledger = {"q1": LedgerView(State("published"), utc(2026, 11, 20, 12, 30))}
    snapshot = (list(posts), dict(ledger))
    first = planned(posts, clock, ledger=ledger)
    second = planned(posts, clock, ledger=ledger)
    assert first == second
    assert (posts, ledger) == snapshot
    assert clock.now() == utc(2026, 11, 20, 12)


def test_a_settled_queued_post_at_either_end_of_the_window_is_shown(clock: FakeClock) -> None:
    """A queued post settled exactly at `start` or exactly at `end` is in the plan."""
    posts = [post("first", 1), post("last", 2)]
    start, end = utc(2026, 11, 20, 12, 30), utc(2026, 11, 23, 12, 30)
    ledger = {
        "first": LedgerView(State("published"), start),
        "last": LedgerView(State("failed"), end),
    }
    found = planned(posts, clock, ledger=ledger, start=start, end=end)
    assert [(o.key, o.planned_at) for o in found] == [("first", start), ("last", end)]


def test_a_free_slot_exactly_at_start_is_taken(clock: FakeClock) -> None:
    """A queued post takes the slot at the very instant the window starts."""
    start = utc(2026, 11, 20, 12, 30)  # Friday 12:30, a slot
    found = planned([post("q", 1)], clock, start=start)
    assert [(o.key, o.planned_at) for o in found] == [("q", start)]


@pytest.mark.usefixtures("machine_far_from_utc")
def test_keys_and_times_do_not_depend_on_the_machines_zone(clock: FakeClock) -> None:
    """On a machine set to another zone, recurring keys still carry UTC and times stay put."""
    weekly = post("weekly", 0, cron="0 12 * * sun")
    queued = post("q", 1)
    found = planned([weekly, queued], clock, end=utc(2026, 11, 30))
    assert [(o.key, o.planned_at) for o in found] == [
        ("q", utc(2026, 11, 20, 12, 30)),
        ("weekly@2026-11-22T12:00:00Z", utc(2026, 11, 22, 12)),
        ("weekly@2026-11-29T12:00:00Z", utc(2026, 11, 29, 12)),
    ]
    assert occurrence_key(weekly, utc(2026, 11, 22, 12)) == "weekly@2026-11-22T12:00:00Z"


@pytest.mark.parametrize("minutes_after", [30, 120], ids=["inside catch_up", "at its edge"])
def test_a_slot_a_recurring_post_used_in_the_catch_up_window_stays_taken(
    minutes_after: int,
) -> None:
    """A recurring post that fired at a slot time up to catch_up ago keeps that slot, so a
    queued post waits for the next free one instead of being dropped into the past."""
    weekly = post("weekly", 0, cron="30 12 * * fri")
    fired = utc(2026, 11, 20, 12, 30)  # a Friday, on the mon-fri 12:30 slot
    clock = FakeClock(fired + timedelta(minutes=minutes_after))
    found = planned([weekly, post("q", 1)], clock, end=utc(2026, 11, 25))
    assert [(o.key, o.planned_at) for o in found if o.key == "q"] == [
        ("q", utc(2026, 11, 21, 10, 0))
    ]


def test_a_recurring_post_whose_from_and_until_are_one_firing_fires_once(clock: FakeClock) -> None:
    """`from` and `until` on the same instant, a firing time: exactly that occurrence."""
    at = utc(2026, 11, 23, 9, 0)
    once = post("once", 0, cron="0 9 * * *", start=at, until=at)
    assert [o.key for o in planned([once], clock)] == ["once@2026-11-23T09:00:00Z"]


def test_a_limit_per_post_cuts_a_recurring_post_short_and_says_which(clock: FakeClock) -> None:
    """With `limit_per_post=3`, an hourly post lists its first 3 occurrences; `capped` names it
    at that limit and not at a higher one; one-off posts are never cut."""
    hourly = post("hourly", 0, cron="0 * * * *")
    once = post("once", 1, at=utc(2026, 11, 20, 18))
    found = plan(
        [hourly, once],
        ledger={},
        now=clock.now(),
        start=clock.now(),
        end=clock.now() + timedelta(days=1),
        zone=LONDON,
        slots=(),
        catch_up=CATCH_UP,
        limit_per_post=3,
    )
    assert [o.key for o in found] == [
        "hourly@2026-11-20T12:00:00Z",
        "hourly@2026-11-20T13:00:00Z",
        "hourly@2026-11-20T14:00:00Z",
        "once",
    ]
    assert capped(found, 3) == {"hourly": 3}
    assert capped(found, 4) == {}


@pytest.mark.parametrize(
    ("not_after", "deadline"),
    [
        (None, utc(2026, 11, 20, 14)),  # catch_up counts from the retry
        (timedelta(minutes=30), utc(2026, 11, 20, 12, 30)),  # so does the post's own window
        (utc(2026, 11, 20, 15), utc(2026, 11, 20, 15)),  # a later fixed limit still holds
        (utc(2026, 11, 19, 10), utc(2026, 11, 20, 14)),  # an earlier one: catch_up from the retry
    ],
)
def test_a_retried_occurrence_gets_its_window_again_from_the_retry(
    clock: FakeClock, not_after: timedelta | datetime | None, deadline: datetime
) -> None:
    """After `retry`, a post long past its window may go out until the retry plus its window
    (`not_after` as a duration, else catch_up), or its fixed `not_after` if that is later."""
    at = utc(2026, 11, 18, 9, 30)
    retried = clock.now()  # 2026-11-20 12:00, two days after its planned time
    ledger = {"p": LedgerView(State("pending"), at, retried_at=retried)}
    (found,) = planned(
        [post("p", 0, at=at, not_after=not_after)], clock, ledger=ledger, start=utc(2026, 11, 18)
    )
    assert (found.planned_at, found.deadline) == (at, deadline)


def staggered(post_id: str, order: int, offset: timedelta, **schedule: object) -> CampaignPost:
    """One account's copy of a post from several accounts, going out `offset` later."""
    part = Part(0, f"text of {post_id}", None, False, None, None, (), None, 12)
    sched = Schedule(offset=offset, **schedule)  # type: ignore[arg-type]
    return CampaignPost(post_id, "posts/a.yaml", order + 1, order, sched, None, (part,))


@pytest.mark.parametrize("with_from_and_until", [False, True], ids=["open", "from-until"])
def test_a_staggered_cron_copy_is_in_the_window_by_its_own_time(with_from_and_until: bool) -> None:
    """A copy `stagger`ed 10 minutes after a 12:00 cron time goes out at 12:10: it is in a
    window from 12:05 to 12:15 (though 12:00 is not), and out of one that ends at 12:05."""
    bounds: dict[str, object] = (
        {"start": utc(2026, 11, 1), "until": utc(2027, 1, 1)} if with_from_and_until else {}
    )
    copy = staggered("tick~partner", 0, timedelta(minutes=10), cron="0 12 * * *", **bounds)
    catch_up = timedelta(hours=2)

    def window(start: datetime, end: datetime) -> list[str]:
        found = plan(
            [copy],
            ledger={},
            now=start + catch_up,  # as `run` plans: from now - catch_up on
            start=start,
            end=end,
            zone=LONDON,
            slots=(),
            catch_up=catch_up,
        )
        return [o.key for o in found]

    assert window(utc(2026, 11, 20, 12, 5), utc(2026, 11, 20, 12, 15)) == [
        "tick~partner@2026-11-20T12:10:00Z"
    ]
    assert window(utc(2026, 11, 20, 11), utc(2026, 11, 20, 12, 5)) == []


def test_a_staggered_slot_copy_follows_its_first_copy() -> None:
    """The second copy goes out `stagger` after the slot its first copy takes — also when the
    queue runs past the window, and when that moment is exactly the window's start."""
    lead = staggered("joint~lead", 0, timedelta(0))
    follower = staggered("joint~partner", 1, timedelta(minutes=15), after_copy="joint~lead")
    later = staggered("later", 2, timedelta(0))
    clock = FakeClock(utc(2026, 11, 20, 12))
    # Friday 12:30 and 12:45; `later` would take Saturday 10:00, past the window's end.
    found = planned([lead, follower, later], clock, end=utc(2026, 11, 20, 18))
    assert rows(found) == [
        ("2026-11-20 12:30 GMT", "joint~lead"),
        ("2026-11-20 12:45 GMT", "joint~partner"),
    ]
    # The first copy was sent at 12:30; a window from 12:45 shows the second copy at 12:45.
    ledger = {"joint~lead": LedgerView(State("published"), utc(2026, 11, 20, 12, 30))}
    found = planned(
        [lead, follower],
        clock,
        ledger=ledger,
        start=utc(2026, 11, 20, 12, 45),
        end=utc(2026, 11, 21),
    )
    assert rows(found) == [("2026-11-20 12:45 GMT", "joint~partner")]
