"""Which occurrence `campaign-bot publish ID` sends: a one-off post's only one; for a recurring
post the latest due (or, if none is due, the next), or the one its key names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config.settings import Settings
from bot.core.errors import CampaignBotError, UsageError
from bot.core.posts import CampaignPost, ScheduleKind
from bot.core.states import State
from bot.core.timespec import to_zone
from bot.schedule.due import RECURRING_LOOKBACK
from bot.schedule.planner import Occurrence, occurrence_key, plan
from bot.storage.ledger import Ledger

AHEAD = timedelta(days=35)
KEY_TIME = "%Y-%m-%dT%H:%M:%SZ"


def _occurrences(
    post: CampaignPost, settings: Settings, now: datetime, start: datetime, end: datetime
) -> list[Occurrence]:
    return plan(
        [post],
        ledger={},
        now=now,
        start=start,
        end=end,
        zone=settings.zone,
        slots=(),
        catch_up=settings.catch_up,
        recurring_from=start,
    )


def chosen_occurrence(
    post: CampaignPost, settings: Settings, ledger: Ledger, now: datetime, asked: str
) -> datetime | None:
    """The planned time of the occurrence to publish (None: a one-off post, sent as itself).

    Refuses an occurrence that is already out, naming the next one."""
    if post.schedule.kind is not ScheduleKind.CRON:
        return None
    if "@" in asked:
        try:
            at = datetime.strptime(asked.split("@", 1)[1], KEY_TIME).replace(tzinfo=UTC)
        except ValueError:
            raise UsageError(
                f"{asked!r}: an occurrence key looks like {post.id}@2026-12-06T12:00:00Z "
                "(see `campaign-bot plan` or `status`)"
            ) from None
        if not _occurrences(post, settings, now, at, at):
            raise UsageError(f"{post.id} has no occurrence at {to_zone(at, settings.zone)}")
    else:
        due = _occurrences(post, settings, now, now - RECURRING_LOOKBACK, now)
        if due:
            at = due[-1].planned_at
        else:
            coming = _occurrences(post, settings, now, now, now + AHEAD)
            if not coming:
                raise CampaignBotError(
                    f"{post.id} repeats, but has no occurrence in the last week or the next "
                    f"{AHEAD.days} days"
                )
            at = coming[0].planned_at
    key = occurrence_key(post, at)
    record = ledger.get(key)
    if record is not None and record.state is State.PUBLISHED:
        later = _occurrences(post, settings, now, max(now, at + timedelta(seconds=1)), now + AHEAD)
        nxt = ""
        if later:
            when = to_zone(later[0].planned_at, settings.zone)
            nxt = (
                f"; the next, {later[0].key}, is planned for {when} "
                f"(`campaign-bot publish {later[0].key}` sends it now)"
            )
        raise CampaignBotError(
            f"{key} (planned for {to_zone(at, settings.zone)}) is already out: "
            f"{' '.join(record.urls())}{nxt}"
        )
    return at
