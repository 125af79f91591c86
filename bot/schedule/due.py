"""What is due: the one timeline that `run`, the daemon, the rehearsal and `plan` all read.

From the bot's look-back window up to a horizon, every occurrence the bot accounts for: the ones
it will publish, catch up or record as missed, and the ones the ledger has settled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.core.posts import CampaignPost, ScheduleKind
from bot.core.states import State
from bot.schedule.planner import LedgerView, Occurrence, plan
from bot.schedule.slots import Slot

# How far back recurring posts are looked at, at most: older occurrences are neither sent nor
# recorded. Within it, only occurrences since the bot last looked (or within their catch-up
# window) count, so a new hourly post does not arrive with a week of "missed" records.
RECURRING_LOOKBACK = timedelta(days=7)
# How far back one-off posts are looked at (they are few, and each must be accounted for).
ONE_OFF_LOOKBACK = timedelta(days=3650)
# The ledger's note of when the bot last looked at the campaign.
LAST_RUN = "last_run_at"


@dataclass(frozen=True, slots=True)
class Timetable:
    """The settings that decide when posts go out."""

    zone: ZoneInfo
    slots: tuple[Slot, ...]
    catch_up: timedelta


class Action(StrEnum):
    """What `run` does with an occurrence at a given moment."""

    WAIT = "waits for its time"
    PUBLISH = "goes out now"
    CATCH_UP = "is caught up, late"
    MISS = "is recorded as missed"
    FINISH = "is finished (it was being sent)"
    SKIP = "is skipped: the post it shares never goes out"
    NONE = "nothing more"


def recurring_from(
    posts: Sequence[CampaignPost], now: datetime, catch_up: timedelta, last_run: datetime | None
) -> datetime:
    """Where recurring posts start to count: since the bot last looked, within the look-back."""
    windows = [catch_up]
    windows += [
        p.not_after
        for p in posts
        if p.schedule.kind is ScheduleKind.CRON and isinstance(p.not_after, timedelta)
    ]
    start = now - min(max(windows), RECURRING_LOOKBACK)
    if last_run is not None:
        start = min(start, max(last_run, now - RECURRING_LOOKBACK))
    return start


def timeline(
    posts: Sequence[CampaignPost],
    views: Mapping[str, LedgerView],
    timetable: Timetable,
    *,
    now: datetime,
    until: datetime,
    last_run: datetime | None,
    limit_per_post: int | None = None,
    count_from: datetime | None = None,
) -> list[Occurrence]:
    """Every occurrence the bot accounts for up to `until`, settled ones included, in order
    (when listing rather than publishing, at most `limit_per_post` of each recurring post from
    `count_from` on)."""
    return plan(
        posts,
        ledger=views,
        now=now,
        start=now - ONE_OFF_LOOKBACK,
        end=until,
        zone=timetable.zone,
        slots=timetable.slots,
        catch_up=timetable.catch_up,
        recurring_from=recurring_from(posts, now, timetable.catch_up, last_run),
        limit_per_post=limit_per_post,
        count_from=count_from,
    )


def unsettled(occurrences: Sequence[Occurrence]) -> list[Occurrence]:
    return [o for o in occurrences if not o.settled]


def action(occurrence: Occurrence, now: datetime) -> Action:
    """What `run`, started at `now`, does with this occurrence."""
    if occurrence.settled:
        return Action.NONE
    if occurrence.planned_at > now:
        return Action.WAIT
    if occurrence.state is State.SENDING:
        return Action.FINISH
    if now > occurrence.deadline:
        return Action.MISS
    late = now - occurrence.planned_at
    return Action.CATCH_UP if late > timedelta(minutes=1) else Action.PUBLISH


def actions(occurrences: Sequence[Occurrence], now: datetime) -> dict[str, Action]:
    """What `run`, started at `now`, does with each occurrence. A boost or quote goes with the
    post it shares: skipped when that post is missed or settled unpublished, and waiting while
    that post waits (when the post is in `occurrences`)."""
    by_key = {o.key: o for o in occurrences}
    found: dict[str, Action] = {}
    for occurrence in occurrences:
        doing = action(occurrence, now)
        follows = occurrence.post.follows
        shared = by_key.get(follows.shared_key(occurrence.key)) if follows else None
        if shared is not None and doing is not Action.NONE:
            sharing = action(shared, now)
            if sharing is Action.MISS or (shared.settled and shared.state is not State.PUBLISHED):
                doing = Action.SKIP
            elif sharing is Action.WAIT:
                doing = Action.WAIT
        found[occurrence.key] = doing
    return found


def window(
    posts: Sequence[CampaignPost],
    views: Mapping[str, LedgerView],
    timetable: Timetable,
    *,
    now: datetime,
    start: datetime,
    end: datetime,
    last_run: datetime | None,
    limit_per_post: int | None = None,
) -> list[Occurrence]:
    """The occurrences in [start, end] exactly as `run` sees them at `now` (what `plan` shows).

    Before the look-back window only what the ledger settled is shown: `run` ignores the rest,
    and an unsettled record there is not something `run` would act on.
    """
    seen = timeline(
        posts,
        views,
        timetable,
        now=now,
        until=end,
        last_run=last_run,
        limit_per_post=limit_per_post,
        count_from=start,
    )
    shown = {o.key: o for o in seen if start <= o.planned_at <= end}
    if start < now:
        history = plan(
            posts,
            ledger=views,
            now=now,
            start=start,
            end=min(end, now),
            zone=timetable.zone,
            slots=timetable.slots,
            catch_up=timetable.catch_up,
            limit_per_post=limit_per_post,
        )
        for occurrence in history:
            known = occurrence.key in views and occurrence.key not in shown
            if known and occurrence.settled:
                shown[occurrence.key] = occurrence
    return sorted(shown.values(), key=lambda o: (o.planned_at, o.post.order))
