"""Counting how each published part did, at 1 h, 6 h, 24 h, 3 d and 7 d after it went out.

The running bot collects between publishing: before each status it asks whether a post is due,
and stops for it (collecting is never worth a late post). Each read is one request, paced under
the instance's request limit. `campaign-bot report collect` does one round, for cron setups.
A status deleted on the instance is recorded as gone once and not asked about again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.core.states import State
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import NotFound, TransientError
from bot.publishing.pacing import Pacer
from bot.storage.engagement import Counts, EngagementStore, Snapshot
from bot.storage.ledger import Ledger

logger = logging.getLogger(__name__)

CHECKPOINTS = (
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=24),
    timedelta(days=3),
    timedelta(days=7),
)


@dataclass(frozen=True, slots=True)
class Due:
    key: str
    post_id: str
    index: int
    status_id: str


@dataclass
class Collected:
    read: int = 0
    gone: int = 0
    left: int = 0  # due, but left for later (a post was due, or the instance was unreachable)
    error: str | None = None

    def line(self) -> str:
        text = f"engagement: {self.read} statuses counted, {self.gone} gone"
        if self.left:
            text += f", {self.left} left for later"
        return text + (f" ({self.error})" if self.error else "")


def due_for_collection(
    ledger: Ledger, snapshots: dict[str, list[Snapshot]], now: datetime
) -> list[Due]:
    """Each published part whose latest passed checkpoint has no snapshot taken after it."""
    due = []
    for record in ledger.all():
        if record.state is not State.PUBLISHED:
            continue
        for part in record.parts:
            if part.status_id is None or part.published_at is None:
                continue
            passed = [part.published_at + c for c in CHECKPOINTS if part.published_at + c <= now]
            if not passed:
                continue
            taken = snapshots.get(part.status_id, [])
            if taken and (taken[-1].counts.gone or taken[-1].taken_at >= passed[-1]):
                continue
            due.append(Due(record.key, record.post_id, part.index, part.status_id))
    return due


class Collector:
    def __init__(
        self,
        client: MastodonClient,
        ledger: Ledger,
        clock: Clock,
        *,
        pacer: Pacer | None = None,
        should_yield: Callable[[], bool] = lambda: False,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.clock = clock
        self.store = EngagementStore(ledger, clock)
        self.pacer = pacer or Pacer(clock)
        self.should_yield = should_yield

    def collect(self) -> Collected:
        """One round: every part due for a count, until a post is due or the instance fails."""
        due = due_for_collection(self.ledger, self.store.snapshots(), self.clock.now())
        result = Collected()
        for n, item in enumerate(due):
            if self.should_yield():
                result.left = len(due) - n
                break
            self.pacer.wait_for("request")
            try:
                status = self.client.status(item.status_id)
            except NotFound:
                self.store.record(item.status_id, item.key, item.index, None)
                logger.info(
                    "part %d is gone from the instance (deleted by hand or by a moderator)",
                    item.index + 1,
                    extra={"post_id": item.post_id},
                )
                result.gone += 1
                continue
            except TransientError as exc:
                result.left, result.error = len(due) - n, str(exc)
                break
            counts = Counts(status.favourites, status.boosts, status.replies, status.quotes)
            self.store.record(item.status_id, item.key, item.index, counts)
            result.read += 1
        return result
