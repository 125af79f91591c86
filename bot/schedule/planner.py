"""The plan: which occurrence of which post goes out when. A pure function of the campaign, what
the ledger says, the time and the zone, so `plan` prints exactly what `run` will do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.posts import CampaignPost, ScheduleKind
from bot.core.states import State
from bot.schedule.followups import follow_up_times
from bot.schedule.recurrence import occurrences
from bot.schedule.slots import Slot, slot_times

# What `plan`, `calendar` and `rehearse` expand of one recurring post at most: an hourly post
# over `plan`'s 60 days (1,440) fits; `* * * * *` (86,400 in 60 days) does not.
MAX_OCCURRENCES_PER_POST = 2_000


@dataclass(frozen=True, slots=True)
class LedgerView:
    """What the planner needs to know of an occurrence the ledger has seen."""

    state: State
    planned_at: datetime
    # When an operator put it back with `retry`: its catch-up window counts from then.
    retried_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    key: str
    post: CampaignPost
    planned_at: datetime
    deadline: datetime  # after this it is missed, not published late
    state: State  # the ledger's state, or pending if the ledger has not seen it

    @property
    def settled(self) -> bool:
        return self.state.settled


def occurrence_key(post: CampaignPost, planned_at: datetime) -> str:
    if post.schedule.kind is not ScheduleKind.CRON:
        return post.id
    return f"{post.id}@{planned_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def plan(
    posts: Iterable[CampaignPost],
    *,
    ledger: Mapping[str, LedgerView],
    now: datetime,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    slots: tuple[Slot, ...],
    catch_up: timedelta,
    recurring_from: datetime | None = None,
    limit_per_post: int | None = None,
    count_from: datetime | None = None,
) -> list[Occurrence]:
    """Every occurrence planned in [start, end], in the order they go out.

    Slot-queued posts take, in file order, the free slots from `now - catch_up` on; a queued post
    the ledger has already settled keeps the slot it had. With `limit_per_post`, a recurring
    post stops after that many occurrences from `count_from` (default: `start`) on (see
    `capped`), so a cron typo that fires every minute cannot make a listing of tens of thousands.
    """
    out: list[Occurrence] = []
    queued: list[CampaignPost] = []
    taken: set[datetime] = set()
    for post in posts:
        kind = post.schedule.kind
        if kind is ScheduleKind.AT:
            at = post.schedule.at
            assert at is not None
            taken.add(at)
            if start <= at <= end:
                out.append(_occurrence(post, at, ledger, catch_up))
        elif kind is ScheduleKind.CRON:
            first = max(start, recurring_from) if recurring_from else start
            # Slots are handed out from `now - catch_up` on; one a recurring post uses is not free.
            listed = 0
            for occurrence in _recurring(
                post, ledger, zone, min(first, now - catch_up), end, catch_up
            ):
                if limit_per_post is not None and listed >= limit_per_post:
                    break
                if occurrence.planned_at >= now - catch_up:
                    taken.add(occurrence.planned_at)
                if occurrence.planned_at >= first:
                    out.append(occurrence)
                    if occurrence.planned_at >= (count_from or first):
                        listed += 1
        else:
            queued.append(post)
    out.extend(_fill_slots(queued, ledger, now, start, end, zone, slots, catch_up, taken))
    # Boosts and quotes by other accounts follow the posts they share.
    out.extend(Occurrence(*f) for f in follow_up_times(list(out), ledger, start, end, catch_up))
    out.sort(key=lambda o: (o.planned_at, o.post.order))
    return out


def capped(occurrences: Iterable[Occurrence], limit: int) -> dict[str, int]:
    """The recurring posts that reached the limit of a plan made with `limit_per_post`."""
    counts = Counter(o.post.id for o in occurrences if o.post.schedule.kind is ScheduleKind.CRON)
    return {post_id: count for post_id, count in counts.items() if count >= limit}


def _occurrence(
    post: CampaignPost, at: datetime, ledger: Mapping[str, LedgerView], catch_up: timedelta
) -> Occurrence:
    key = occurrence_key(post, at)
    seen = ledger.get(key)
    limit = post.not_after
    if isinstance(limit, datetime):
        deadline = limit
    else:
        deadline = at + (limit if limit is not None else catch_up)
    if seen is not None and seen.retried_at is not None:
        window = limit if isinstance(limit, timedelta) else catch_up
        deadline = max(deadline, seen.retried_at + window)
    return Occurrence(key, post, at, max(deadline, at), seen.state if seen else State.PENDING)


def _recurring(
    post: CampaignPost,
    ledger: Mapping[str, LedgerView],
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    catch_up: timedelta,
) -> Iterable[Occurrence]:
    sched = post.schedule
    assert sched.cron is not None
    # A staggered copy goes out `offset` after each cron time; `from`/`until` bound the times.
    shift = sched.offset
    first = max(start - shift, sched.start) if sched.start else start - shift
    last = min(end - shift, sched.until) if sched.until else end - shift
    if last < first:
        return
    for moment in occurrences(sched.cron, zone, first, last):
        yield _occurrence(post, moment + shift, ledger, catch_up)


def _fill_slots(
    queued: list[CampaignPost],
    ledger: Mapping[str, LedgerView],
    now: datetime,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    slots: tuple[Slot, ...],
    catch_up: timedelta,
    taken: set[datetime],
) -> Iterable[Occurrence]:
    waiting = []
    # The slot each post has, in or out of the window: a staggered copy follows its first copy's.
    moments: dict[str, datetime] = {}
    leads = {post.id for post in queued}
    following = []
    for post in queued:
        seen = ledger.get(post.id)
        if seen is not None and seen.state is not State.PENDING:
            # Settled or in flight: it keeps its slot, so nothing moves under it.
            moments[post.id] = seen.planned_at
            if post.schedule.after_copy not in leads:
                taken.add(seen.planned_at)
            if start <= seen.planned_at <= end:
                yield _occurrence(post, seen.planned_at, ledger, catch_up)
        elif post.schedule.after_copy in leads:
            following.append(post)
        else:
            waiting.append(post)
    if waiting and slots:
        free = (t for t in slot_times(slots, now - catch_up, zone) if t not in taken)
        for post, moment in zip(waiting, free, strict=False):
            if moment > end:
                break
            moments[post.id] = moment
            if moment >= start:
                yield _occurrence(post, moment, ledger, catch_up)
    for post in following:
        lead = moments.get(post.schedule.after_copy)
        if lead is not None and start <= lead + post.schedule.offset <= end:
            yield _occurrence(post, lead + post.schedule.offset, ledger, catch_up)
