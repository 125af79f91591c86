"""A lost ledger, rebuilt from the account's own posts on the instance; and the check that keeps a
bot on an empty ledger from posting again what is already out.

Each occurrence the campaign has planned is looked for among the account's statuses: part 0 with
the same text (hashtags added), content warning and media count, not a reply; each reply under
the part before. A recurring post's occurrence must also fall in its time window; a one-off post
may have gone out at any time (`publish ID` sends it early).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config.settings import Settings
from bot.core.posts import CampaignPost, ScheduleKind
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import RemoteStatus
from bot.publishing.matching import is_part
from bot.publishing.publisher import idempotency_key
from bot.schedule.due import ONE_OFF_LOOKBACK, RECURRING_LOOKBACK
from bot.schedule.planner import Occurrence, plan
from bot.storage.ledger import Ledger
from bot.storage.migrations import LedgerError
from bot.storage.recovery import ORIGIN, FoundPart, record_found

# The instance's timestamps and ours differ by the measured skew and a little more.
SLACK = timedelta(minutes=5)
REBUILD_PAGES = 25  # 40 statuses a page: the account's latest 1,000
GUARD_PAGES = 3


class LedgerLost(LedgerError):
    """The ledger is empty, but the account already has posts of this campaign."""


@dataclass(frozen=True)
class Match:
    occurrence: Occurrence
    statuses: tuple[RemoteStatus, ...]  # part 0 first; fewer than the parts if some are missing

    @property
    def complete(self) -> bool:
        return len(self.statuses) == len(self.occurrence.post.parts)


@dataclass
class RebuildReport:
    looked_at: int = 0
    oldest: datetime | None = None
    matched: list[Match] = field(default_factory=list)
    already_known: list[str] = field(default_factory=list)
    unmatched: list[Occurrence] = field(default_factory=list)


def candidates(
    posts: Sequence[CampaignPost], settings: Settings, now: datetime
) -> list[Occurrence]:
    """What may already be on the instance: every occurrence of a recurring post due by now, and
    every one-off or queued post, whenever planned (`publish ID` sends one early)."""

    def planned(chosen: Sequence[CampaignPost], end: datetime) -> list[Occurrence]:
        return plan(
            chosen,
            ledger={},
            now=now,
            start=now - ONE_OFF_LOOKBACK,
            end=end,
            zone=settings.zone,
            slots=settings.slots,
            catch_up=settings.catch_up,
            recurring_from=now - RECURRING_LOOKBACK,
        )

    recurring = [p for p in posts if p.schedule.kind is ScheduleKind.CRON]
    one_off = [p for p in posts if p.schedule.kind is not ScheduleKind.CRON]
    return planned(recurring, now) + planned(one_off, now + ONE_OFF_LOOKBACK)


def find_on_account(
    occurrences: Sequence[Occurrence], statuses: Sequence[RemoteStatus], skew: timedelta
) -> list[Match]:
    """Each occurrence found among the statuses (each status used once), oldest first."""
    by_time = sorted(statuses, key=lambda s: (s.created_at, s.id))
    replies: dict[str, list[RemoteStatus]] = {}
    for status in by_time:
        if status.in_reply_to_id is not None:
            replies.setdefault(status.in_reply_to_id, []).append(status)
    claimed: set[str] = set()
    matches = []
    for occurrence in sorted(occurrences, key=lambda o: (o.planned_at, o.post.order)):
        parts = occurrence.post.parts
        head = next(
            (
                s
                for s in by_time
                if s.id not in claimed
                and _in_window(occurrence, s.created_at + skew)
                and is_part(s, parts[0], None)
            ),
            None,
        )
        if head is None:
            continue
        found = [head]
        for part in parts[1:]:
            under = replies.get(found[-1].id, [])
            reply = next(
                (s for s in under if s.id not in claimed and is_part(s, part, found[-1].id)), None
            )
            if reply is None:
                break
            found.append(reply)
        claimed.update(s.id for s in found)
        matches.append(Match(occurrence, tuple(found)))
    return matches


def _in_window(occurrence: Occurrence, at: datetime) -> bool:
    if occurrence.post.schedule.kind is not ScheduleKind.CRON:
        return True
    return occurrence.planned_at - SLACK <= at <= occurrence.deadline + SLACK


def rebuild(
    ledger: Ledger,
    client: MastodonClient,
    *,
    instance: str,
    account_id: str,
    posts: Sequence[CampaignPost],
    settings: Settings,
    skew: timedelta,
) -> RebuildReport:
    """Write into the ledger every occurrence found on the account that it does not hold."""
    now = ledger.now()
    statuses = client.recent_statuses(account_id, max_pages=REBUILD_PAGES)
    report = RebuildReport(looked_at=len(statuses))
    report.oldest = min((s.created_at for s in statuses), default=None)
    wanted = candidates(posts, settings, now)
    matches = find_on_account(wanted, statuses, skew)
    found = {m.occurrence.key for m in matches}
    report.unmatched = [o for o in wanted if o.key not in found and o.planned_at <= now]
    for match in matches:
        occurrence = match.occurrence
        if ledger.get(occurrence.key) is not None:
            report.already_known.append(occurrence.key)
            continue
        planned = occurrence.planned_at
        if occurrence.post.schedule.kind is ScheduleKind.SLOT:
            # A queued post keeps the slot it went out in, not the one the queue gives it now.
            planned = match.statuses[0].created_at + skew
        record_found(
            ledger,
            key=occurrence.key,
            post_id=occurrence.post.id,
            planned_at=planned,
            content_hash=occurrence.post.content_hash,
            parts=[
                FoundPart(
                    i,
                    idempotency_key(instance, account_id, occurrence.key, i),
                    s.id,
                    s.url,
                    s.created_at + skew,
                )
                for i, s in enumerate(match.statuses)
            ],
            complete=match.complete,
        )
        report.matched.append(match)
    ledger.set_meta(
        ORIGIN, f"rebuilt from the account's posts at {now.isoformat(timespec='seconds')}"
    )
    return report


def guard_fresh_ledger(
    ledger: Ledger,
    client: MastodonClient,
    *,
    account_id: str,
    posts: Callable[[], Sequence[CampaignPost]],
    settings: Settings,
    skew: timedelta,
) -> None:
    """Refuse to publish from an empty ledger while the account already has posts of this
    campaign: the ledger was probably lost, and publishing would post them all again."""
    if ledger.get_meta(ORIGIN) is not None or ledger.states():
        return
    now = ledger.now()
    statuses = client.recent_statuses(account_id, max_pages=GUARD_PAGES)
    matches = find_on_account(candidates(posts(), settings, now), statuses, skew)
    if matches:
        names = ", ".join(m.occurrence.key for m in matches[:3])
        more = f" and {len(matches) - 3} more" if len(matches) > 3 else ""
        raise LedgerLost(
            f"{ledger.path}: the ledger is empty, but the account already has "
            f"{len(matches)} posts of this campaign ({names}{more}): the ledger was probably "
            "lost, and publishing now would post them again. Run `campaign-bot ledger rebuild` "
            "to recover it from the account's posts (or `ledger restore` from a backup); if "
            "they should really go out again, start with `campaign-bot run --fresh-ledger`"
        )
    ledger.set_meta(
        ORIGIN,
        f"new; no post of the campaign on the account at {now.isoformat(timespec='seconds')}",
    )
