"""Taking a post back: deleting what is on the instance, or cancelling it before it goes out.

A thread is deleted from its last reply to the post itself, so no reply is ever left hanging
under a deleted post. A status already gone (deleted by hand or by a moderator) counts as
deleted. The occurrence is then settled as `withdrawn`, which no run publishes again. Deleting
has its own throttle (30 per 30 minutes), so deletions are paced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.core.errors import CampaignBotError
from bot.core.states import State
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import NotFound, TransientError
from bot.publishing.status_work import StatusWork
from bot.storage.records import OccurrenceRecord

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    key: str
    deleted: tuple[str, ...] = ()  # URLs deleted now
    already_gone: tuple[str, ...] = ()  # URLs that were no longer on the instance
    cancelled: bool = False  # nothing had gone out: it will not


def published_parts(record: OccurrenceRecord | None) -> list[tuple[int, str, str]]:
    """(index, status id, URL) of each part on the instance, last reply first."""
    if record is None:
        return []
    found = [(p.index, p.status_id, p.url or "") for p in record.parts if p.status_id]
    return sorted(found, reverse=True)


class Withdrawer(StatusWork[MastodonClient | None]):
    """Deletes a post's statuses (or cancels it before it goes out); offline, it can only cancel."""

    def withdraw(
        self, key: str, post_id: str, planned_at: datetime, record: OccurrenceRecord | None
    ) -> Withdrawal:
        if record is not None and record.state is State.SENDING:
            raise CampaignBotError(
                f"{key} is being sent right now (or a send was interrupted): let the bot finish "
                "it (`campaign-bot run --once`), then withdraw it"
            )
        if record is not None and record.state is State.WITHDRAWN:
            return Withdrawal(key)
        parts = published_parts(record)
        if not parts:
            self.store.mark_withdrawn(key, post_id, planned_at, "cancelled before it went out")
            return Withdrawal(key, cancelled=True)
        if self.client is None:
            raise CampaignBotError(f"{key} is on the instance: withdrawing it needs the instance")
        deleted, gone = [], []
        for index, status_id, url in parts:
            if self._delete(status_id):
                self.store.part_deleted(key, index, status_id, f"deleted {url}")
                deleted.append(url)
            else:
                self.store.part_deleted(key, index, status_id, f"already gone: {url}")
                gone.append(url)
            logger.info("part %d withdrawn: %s", index + 1, url, extra={"post_id": post_id})
        summary = f"{len(deleted)} statuses deleted, {len(gone)} already gone"
        self.store.mark_withdrawn(key, post_id, planned_at, summary)
        return Withdrawal(key, tuple(deleted), tuple(gone))

    def _delete(self, status_id: str) -> bool:
        """Delete one status; False when it was already gone."""
        assert self.client is not None
        attempt = 0
        while True:
            attempt += 1
            try:
                self.pacer.wait_for("delete")
                self.client.delete_status(status_id)
                return True
            except NotFound:
                return False
            except TransientError as exc:
                # A lost answer may hide a deletion that happened: the next try gets 404.
                delay = self.retry_delay(exc, attempt)
                if delay is None:
                    raise
                logger.warning("deleting %s: %s; trying again in %.0f s", status_id, exc, delay)
                self.clock.sleep(delay)
