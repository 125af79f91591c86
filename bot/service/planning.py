"""The running bot's timetable: one scheduler job per planned occurrence, moved, added and
cancelled as the post files change, and a watch on posts held back by an error in their file."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.states import State
from bot.core.timespec import to_zone
from bot.core.words import counted
from bot.schedule.planner import Occurrence
from bot.service.alerts import Alerter
from bot.storage.ledger import Ledger

logger = logging.getLogger(__name__)

HORIZON = timedelta(days=35)  # occurrences further ahead are scheduled by a later re-plan
JOB_PREFIX = "post:"
HELD_BACK = "left out: invalid — see the problem above"

At = Callable[[Callable[..., None], datetime, str, str], None]


@dataclass
class Timetable:
    scheduler: BaseScheduler
    settings: Settings
    ledger: Ledger
    clock: Clock
    alerter: Alerter
    at: At  # run a job once at a time on the publishing worker, replacing one of that name
    due_job: Callable[[str], None]
    planned: dict[str, Occurrence] = field(default_factory=dict)
    # Occurrences of posts an edit made invalid, by key: held back until fixed.
    held: dict[str, Occurrence] = field(default_factory=dict)

    def update(
        self, upcoming: Sequence[Occurrence], posts: int, held_back: Sequence[str], why: str
    ) -> None:
        """Match the jobs to `upcoming` (the next HORIZON); `held_back` are the ids of posts
        left out by an error."""
        now = self.clock.now()
        planned = {o.key: o for o in upcoming}
        states = self.ledger.states()
        held = set(held_back)
        changes = {"new": 0, "moved": 0, "cancelled": 0, "held back": 0}
        for key in set(self.planned) - set(planned):
            if self.scheduler.get_job(JOB_PREFIX + key):
                self.scheduler.remove_job(JOB_PREFIX + key)
            gone = self.planned[key]
            if states.get(key, State.PENDING).settled:
                continue
            if gone.post.id in held:
                # Not cancelled: the post is still in its file, and goes out once fixed.
                changes["held back"] += 1
                logger.warning(HELD_BACK, extra={"post_id": gone.post.id})
                self.held[key] = gone
                if gone.planned_at > now:
                    self.at(self.held_job, gone.planned_at, JOB_PREFIX + key, key)
            else:
                changes["cancelled"] += 1
                logger.info(
                    "cancelled: removed from the post files, or moved",
                    extra={"post_id": gone.post.id},
                )
        for key in list(self.held):
            if key in planned or self.held[key].post.id not in held:
                del self.held[key]
        for key, occurrence in planned.items():
            before = self.planned.get(key)
            if before is not None and before.planned_at == occurrence.planned_at:
                continue
            changes["new" if before is None else "moved"] += 1
            if occurrence.planned_at > now:
                self.at(self.due_job, occurrence.planned_at, JOB_PREFIX + key, key)
            if changes["new"] + changes["moved"] <= 50:
                logger.info(
                    "planned for %s",
                    to_zone(occurrence.planned_at, self.settings.zone),
                    extra={"post_id": occurrence.post.id},
                )
        self.planned = planned
        logger.info(
            "%s: %s, %s planned in the next %d days (%s)",
            why,
            counted(posts, "post"),
            counted(len(planned), "occurrence"),
            HORIZON.days,
            ", ".join(f"{n} {what}" for what, n in changes.items() if n) or "no change",
        )

    def held_job(self, key: str) -> None:
        """A post held back by an error in its file has reached its planned time: say so."""
        occurrence = self.held.get(key)
        if occurrence is None:
            return
        post_id = occurrence.post.id
        logger.error("due but %s", HELD_BACK, extra={"post_id": post_id})
        self.alerter.alert(
            occurrence.key,
            "held back",
            f"{post_id} is due now but held back: its post has been invalid since a change to "
            "its file (see `campaign-bot validate`); once fixed it goes out within its "
            "catch-up window",
        )
