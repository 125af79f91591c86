"""Publishing what is due: the shared core of `run --once`, the daemon's wake-ups and `rehearse`.

Every occurrence planned at or before now that the ledger has not settled is either published
(oldest first, paced) or, when it is later than its `not_after` window, recorded as missed with
the reason. Nothing is silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.posts import CampaignPost, FollowKind, FollowUp
from bot.core.states import ALLOWED_FROM, Change, Result, State
from bot.core.timespec import format_duration, to_zone
from bot.publishing.outage import InstanceWatch
from bot.publishing.publisher import Outcome
from bot.schedule.due import LAST_RUN, timeline, unsettled
from bot.schedule.planner import LedgerView, Occurrence, occurrence_key
from bot.storage.ledger import Ledger
from bot.storage.migrations import LedgerError

logger = logging.getLogger(__name__)


class Publishes(Protocol):
    def publish(self, occurrence: Occurrence) -> Outcome: ...


@dataclass
class RunSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    missed: list[tuple[str, str]] = field(default_factory=list)

    def count(self, result: Result) -> int:
        return sum(1 for o in self.outcomes if o.result is result)

    @property
    def failed(self) -> bool:
        return self.count(Result.FAILED) > 0

    @property
    def waiting(self) -> int:
        """Occurrences left pending by a transient failure or an outage, to be tried later."""
        return self.count(Result.DEFERRED) + self.count(Result.UNAVAILABLE)

    @property
    def next_retry(self) -> datetime | None:
        times = [o.retry_at for o in self.outcomes if o.retry_at]
        return min(times) if times else None

    def line(self) -> str:
        parts = [f"{self.count(Result.PUBLISHED)} published"]
        for result in (Result.FAILED, Result.DEFERRED, Result.UNAVAILABLE, Result.DRY_RUN):
            if self.count(result):
                parts.append(f"{self.count(result)} {result}")
        if self.missed:
            parts.append(f"{len(self.missed)} missed")
        return ", ".join(parts)


def ledger_views(ledger: Ledger) -> dict[str, LedgerView]:
    retried = ledger.retried()
    return {
        key: LedgerView(state, at, retried.get(key)) for key, (state, at) in ledger.views().items()
    }


def last_run(ledger: Ledger) -> datetime | None:
    """When the bot last looked at the campaign (recurring posts count from then on)."""
    text = ledger.get_meta(LAST_RUN)
    return None if text is None else datetime.fromisoformat(text)


class Runner:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        clock: Clock,
        publisher: Publishes,
        *,
        dry_run: bool = False,
        watch: InstanceWatch | None = None,
    ) -> None:
        self.settings = settings
        # The instance's state, to say why an occurrence missed its window during an outage.
        self.watch = watch
        self.ledger = ledger
        self.clock = clock
        self.publisher = publisher
        self.dry_run = dry_run
        self._dry_run_done: set[str] = set()
        self._dry_run_missed: set[str] = set()

    def upcoming(self, posts: Sequence[CampaignPost], until: datetime) -> list[Occurrence]:
        """Everything from the look-back window up to `until` that is not settled yet."""
        found = timeline(
            posts,
            ledger_views(self.ledger),
            self.settings.timetable,
            now=self.clock.now(),
            until=until,
            last_run=last_run(self.ledger),
        )
        return [o for o in unsettled(found) if o.key not in self._dry_run_done]

    def run_due(self, posts: Sequence[CampaignPost]) -> RunSummary:
        """Publish (or record as missed) every occurrence due now, oldest first."""
        return self.run(self.upcoming(posts, self.clock.now()))

    def run(self, due: Sequence[Occurrence]) -> RunSummary:
        """Publish (or record as missed) these occurrences, in the order given."""
        summary = RunSummary()
        for occurrence in due:
            # One bad record must not stop the others: it is reported as failed (so it is
            # alerted and `run --once` exits 1) and the batch goes on.
            try:
                self._run_one(occurrence, summary)
            except LedgerError as exc:
                reason = f"the ledger refused it: {exc}"
                logger.error(
                    "failed: %s; the other posts go on",
                    reason,
                    extra={"post_id": occurrence.post.id},
                )
                summary.outcomes.append(Outcome(occurrence.key, Result.FAILED, error=reason))
        if not self.dry_run:
            self.ledger.set_meta(LAST_RUN, self.clock.now().isoformat())
        return summary

    def expire(self, due: Sequence[Occurrence], why: str) -> RunSummary:
        """Record as missed, without sending anything, those past their deadline; `why` says
        what kept them from going out (an outage, a refused token)."""
        summary = RunSummary()
        now = self.clock.now()
        for occurrence in due:
            if now > occurrence.deadline and occurrence.state is not State.SENDING:
                self._miss(occurrence, now, summary, why)
        return summary

    def _run_one(self, occurrence: Occurrence, summary: RunSummary) -> None:
        now = self.clock.now()
        # One already in flight (the bot stopped mid-way) is finished, never half-abandoned.
        if now > occurrence.deadline and occurrence.state is not State.SENDING:
            self._miss(occurrence, now, summary)
            return
        follows = occurrence.post.follows
        shared_key = follows.shared_key(occurrence.key) if follows else ""
        if self.dry_run and follows is not None and shared_key in self._dry_run_missed:
            # A real run would have recorded the shared post as missed a moment ago, and so
            # skip this boost or quote; the dry run wrote nothing, so it says so itself.
            logger.info(
                "would skip the %s by %s: %s would be recorded as missed",
                follows.kind,
                follows.account,
                shared_key,
                extra={"post_id": occurrence.post.id},
            )
            self._dry_run_done.add(occurrence.key)
            summary.outcomes.append(Outcome(occurrence.key, Result.DRY_RUN))
            return
        late = now - occurrence.planned_at
        waits = self.watch is not None and not self.watch.may_send(occurrence.key)
        if late > timedelta(minutes=1) and not waits:
            logger.info(
                "catching up, %s late",
                format_duration(late),
                extra={"post_id": occurrence.post.id},
            )
        outcome = self.publisher.publish(occurrence)
        if self.dry_run:
            self._dry_run_done.add(occurrence.key)
        summary.outcomes.append(outcome)

    def _miss(
        self, occurrence: Occurrence, now: datetime, summary: RunSummary, why: str | None = None
    ) -> None:
        zone = self.settings.zone
        reason = (
            f"planned for {to_zone(occurrence.planned_at, zone)}, and it is now "
            f"{format_duration(now - occurrence.planned_at)} later, past its not_after window "
            f"(until {to_zone(occurrence.deadline, zone)})"
        )
        if why is None and self.watch is not None and self.watch.outage is not None:
            why = self.watch.outage.window(now, zone)
        if why:
            reason = f"{why}; {reason}"
        summary.missed.append((occurrence.key, reason))
        logger.warning("missed: %s", reason, extra={"post_id": occurrence.post.id})
        if self.dry_run:
            self._dry_run_done.add(occurrence.key)
            self._dry_run_missed.add(occurrence.key)
            return
        self.ledger.mark_missed(occurrence.key, occurrence.post.id, occurrence.planned_at, reason)

    def publish_now(self, post: CampaignPost, occurrence_at: datetime | None = None) -> Outcome:
        """`publish ID`: this post, now, whatever its schedule; for a recurring post, the
        occurrence planned at `occurrence_at` (see `bot.publishing.manual`)."""
        now = self.clock.now()
        key = occurrence_key(post, occurrence_at or now)
        record = self.ledger.get(key)
        if record is not None and record.state in ALLOWED_FROM[Change.RETRY]:
            self.ledger.retry(key)
        # A one-off post keeps its planned time, so `status` shows it beside the publishing time.
        planned = post.schedule.at or occurrence_at
        planned = planned or (record.planned_at if record is not None else now)
        occurrence = Occurrence(key, post, planned, now + timedelta(days=1), State.PENDING)
        return self.publisher.publish(occurrence)


class DryRunPublisher:
    """Goes through every step but the requests to Mastodon, and writes nothing to the ledger
    (it only reads it, to say which status a boost or quote would share)."""

    def __init__(self, settings: Settings, ledger: Ledger | None = None) -> None:
        self.settings = settings
        self.ledger = ledger

    def publish(self, occurrence: Occurrence) -> Outcome:
        post = occurrence.post
        if post.follows is not None:
            self._follow_up(occurrence, post.follows)
            return Outcome(occurrence.key, Result.DRY_RUN)
        for part in post.parts:
            media = ", ".join(f"{m.name} (alt: {m.alt[:40]})" for m in part.media)
            logger.info(
                "would publish part %d%s: %r%s%s",
                part.index + 1,  # as people count a thread's toots
                f" under part {part.index}" if part.index else "",
                part.text[:80],
                f" with {media}" if media else "",
                f" [CW: {part.spoiler_text}]" if part.spoiler_text else "",
                extra={"post_id": post.id},
            )
        return Outcome(occurrence.key, Result.DRY_RUN)

    def _follow_up(self, occurrence: Occurrence, follow: FollowUp) -> None:
        """A boost shares a status, it publishes no text of its own: say which, and as whom."""
        post = occurrence.post
        shared_key = follow.shared_key(occurrence.key)
        record = self.ledger.get(shared_key) if self.ledger is not None else None
        first = record.part(0) if record is not None else None
        if record is not None and record.state is State.PUBLISHED and first is not None:
            shared = f"{shared_key} ({first.url or first.status_id})"
        elif record is not None and record.state.settled:
            logger.info(
                "would skip the %s by %s: %s was never published (%s)",
                follow.kind,
                follow.account,
                shared_key,
                record.state,
                extra={"post_id": post.id},
            )
            return
        else:
            shared = f"{shared_key} once it is out ({format_duration(follow.after)} after it)"
        if follow.kind is FollowKind.BOOST:
            logger.info("would boost %s as %s", shared, follow.account, extra={"post_id": post.id})
            return
        text = post.parts[0].text
        logger.info(
            "would quote %s as %s: %r%s",
            shared,
            follow.account,
            text[:80],
            " (or post it with the link, where the instance cannot quote)"
            if follow.fallback_link
            else "",
            extra={"post_id": post.id},
        )
