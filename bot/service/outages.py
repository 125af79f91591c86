"""The running bot's side of an outage and of a refused token: probing until the instance (or
the token) works again, telling a person once when it starts and once when it ends, and saying
in the log what happens to each post meanwhile.

While the instance fails, one cheap authenticated request (`verify_credentials`) is sent at
growing, jittered intervals; the access token is read again from its file before each, so a
replaced token file is enough after a 401. Posts stay pending until their deadline.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.states import Result, State
from bot.core.timespec import format_duration, to_zone
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import ApiError, AuthError, TransientError
from bot.publishing.outage import Backoff, InstanceWatch, Recovery
from bot.publishing.publisher import Outcome
from bot.schedule.planner import Occurrence
from bot.service.alerts import Alerter
from bot.storage.ledger import Ledger

logger = logging.getLogger(__name__)

PROBE_JOB = "instance-probe"
ALERT_JOB = "outage-alert"
TOKEN_JOB = "token-recheck"  # noqa: S105 - a job name
INSTANCE_SUBJECT = "instance"
TOKEN_SUBJECT = "token"  # noqa: S105 - the name of an alert subject
# A refused token is checked again at growing intervals up to this (and at once on SIGHUP).
TOKEN_BACKOFF = Backoff(first=10.0, cap=120.0, floor=5.0)


class Host(Protocol):
    """What the monitor needs from the running bot."""

    def at(self, job: Callable[[], object], when: datetime, name: str) -> None: ...

    def due_now(self) -> list[Occurrence]: ...

    def publish_due(self, due: Sequence[Occurrence]) -> None: ...

    def expire(self, due: Sequence[Occurrence], why: str) -> None: ...

    def checking_client(self) -> MastodonClient | None:
        """A client with the token as it is now in its file (None when there is none)."""
        ...

    def recheck_token(self) -> None:
        """Check the token again, and publish what waits if it works."""
        ...


@dataclass
class TokenPause:
    """Publishing is paused because the instance refused the token."""

    since: datetime
    reason: str
    checks: int = 0


@dataclass
class Monitor:
    host: Host
    watch: InstanceWatch
    settings: Settings
    ledger: Ledger
    clock: Clock
    alerter: Alerter
    rng: random.Random = field(default_factory=random.Random)
    token: TokenPause | None = None
    # Occurrences that were due and not sent during the current outage or token pause.
    waiting: dict[str, Occurrence] = field(default_factory=dict)
    _told: set[str] = field(default_factory=set)

    # --- after each run -----------------------------------------------------------------------

    def after(self, outcomes: Sequence[Outcome], due: Sequence[Occurrence]) -> None:
        """Note what waits for the instance, report a recovery, and keep the probe scheduled."""
        by_key = {o.key: o for o in due}
        for outcome in outcomes:
            if outcome.result in {Result.UNAVAILABLE, Result.DEFERRED} and outcome.key in by_key:
                self.waiting[outcome.key] = by_key[outcome.key]
            if outcome.result is Result.UNAVAILABLE and outcome.key not in self._told:
                self._told.add(outcome.key)
                occurrence = by_key.get(outcome.key)
                post_id = occurrence.post.id if occurrence else outcome.key
                deadline = (
                    f"; it stays pending until {to_zone(occurrence.deadline, self.settings.zone)}"
                    if occurrence
                    else ""
                )
                logger.warning(
                    "due but not sent: the instance is unavailable%s",
                    deadline,
                    extra={"post_id": post_id},
                )
        self.watch.settle_probe()
        recovery = self.watch.take_recovery()
        if recovery is not None:
            self._recovered(recovery)
        if self.watch.down:
            self._check_alert()
            self._schedule_probe()

    def _schedule_probe(self) -> None:
        when = self.watch.next_try() or self.clock.now()
        self.host.at(self.probe, when, PROBE_JOB)
        outage = self.watch.outage
        if outage is not None and not outage.alerted:
            # The alert goes out when the threshold passes, not at the next probe after it.
            alert_at = outage.since + self.settings.alert_outage_after
            self.host.at(self._check_alert, max(alert_at, self.clock.now()), ALERT_JOB)

    # --- the probe ------------------------------------------------------------------------------

    def probe(self) -> None:
        """One cheap authenticated request; when it answers, the waiting posts go (the first
        one decides whether the instance is really back)."""
        if not self.watch.down or self.token is not None:
            return
        try:
            client = self.host.checking_client()
            if client is not None:
                client.verify_credentials()
        except AuthError as exc:
            self.token_refused(exc)
            return
        except ApiError as exc:
            self.watch.probe_failed(exc)
            outage = self.watch.outage
            assert outage is not None
            logger.info(
                "the instance still does not answer (%s); next try at %s",
                outage.last_answer,
                outage.next_try.isoformat(timespec="seconds"),
            )
            self._expire()
            self._check_alert()
            self._schedule_probe()
            return
        logger.info("the instance answers again; sending what waits, in planned order")
        self.watch.probe_passed()
        self.host.publish_due(self.host.due_now())

    def unreachable_at_start(self, exc: ApiError) -> datetime:
        """The instance could not be reached when the bot started: when to try again."""
        self.watch.probe_failed(exc)
        self._check_alert()
        when = self.watch.next_try() or self.clock.now()
        return when

    def connected(self) -> None:
        """The start-up connection worked after failing: the instance answers."""
        if self.watch.down:
            self.watch.probe_passed()

    def _expire(self) -> None:
        """Record as missed what passed its deadline while the instance was down."""
        outage = self.watch.outage
        if outage is None:
            return
        now = self.clock.now()
        late = [o for o in self.host.due_now() if now > o.deadline and o.state is not State.SENDING]
        if late:
            self.host.expire(late, outage.window(now, self.settings.zone))

    def _check_alert(self) -> None:
        outage = self.watch.outage
        if outage is None or outage.alerted:
            return
        now = self.clock.now()
        if now - outage.since < self.settings.alert_outage_after:
            return
        due = self.host.due_now()
        waiting = [o for o in due if o.planned_at <= now]
        deadline = ""
        if waiting:
            earliest = min(o.deadline for o in waiting)
            deadline = f"; the earliest deadline is {to_zone(earliest, self.settings.zone)}"
        message = (
            f"the instance has been unavailable since {to_zone(outage.since, self.settings.zone)} "
            f"(last answer: {outage.last_answer}); {len(waiting)} posts waiting{deadline}. "
            "The bot keeps trying and sends them when it is back."
        )
        logger.error("%s", message)
        self.alerter.alert(INSTANCE_SUBJECT, "outage", message)
        self.watch.mark_alerted()

    def _recovered(self, recovery: Recovery) -> None:
        states = self.ledger.states()
        late = sum(1 for k in self.waiting if states.get(k) is State.PUBLISHED)
        missed = sum(1 for k in self.waiting if states.get(k) is State.MISSED)
        message = (
            f"the instance is back after {format_duration(recovery.lasted)}; "
            f"{late} posts published late, {missed} missed"
        )
        logger.info("%s", message)
        if recovery.outage.alerted:
            self.alerter.alert(INSTANCE_SUBJECT, "recovered", message, once=False)
        self.ledger.record_event(INSTANCE_SUBJECT, "recovered", message)
        self.waiting.clear()
        self._told.clear()

    # --- the token ----------------------------------------------------------------------------

    def token_refused(self, exc: AuthError) -> None:
        """Pause publishing until the token works again; alert once."""
        now = self.clock.now()
        if self.token is None:
            self.token = TokenPause(now, str(exc))
            zone = self.settings.zone
            message = (
                f"the access token was refused at {to_zone(now, zone)}; publishing is paused; "
                "run `campaign-bot login` or replace the token file "
                f"(the bot checks it again by itself) — {exc}"
            )
            logger.critical("%s", message)
            self.alerter.alert(TOKEN_SUBJECT, "token", message)
        self.token.reason = str(exc)
        self._schedule_token_check()

    def _schedule_token_check(self) -> None:
        assert self.token is not None
        self.token.checks += 1
        delay = TOKEN_BACKOFF.delay(self.token.checks, self.rng)
        self.host.at(
            self.host.recheck_token, self.clock.now() + timedelta(seconds=delay), TOKEN_JOB
        )

    def check_token(self) -> bool:
        """Read the token file again and try it; True when publishing may go on."""
        if self.token is None:
            return True
        try:
            client = self.host.checking_client()
            if client is not None:
                client.verify_credentials()
        except AuthError as exc:
            logger.info("the access token is still refused; checking again later")
            self.token.reason = str(exc)
            self._expire_paused()
            self._schedule_token_check()
            return False
        except (ApiError, TransientError) as exc:
            logger.warning("could not check the access token (%s); checking again later", exc)
            self._schedule_token_check()
            return False
        paused = self.clock.now() - self.token.since
        logger.info(
            "the access token works again after %s; publishing resumes", format_duration(paused)
        )
        if self.alerter.already_alerted(TOKEN_SUBJECT):
            self.alerter.alert(
                TOKEN_SUBJECT,
                "recovered",
                f"the access token works again after {format_duration(paused)}; publishing resumes",
                once=False,
            )
        self.ledger.record_event(TOKEN_SUBJECT, "recovered", "the instance accepts the token")
        self.token = None
        self._told.clear()
        return True

    def _expire_paused(self) -> None:
        assert self.token is not None
        now = self.clock.now()
        late = [o for o in self.host.due_now() if now > o.deadline and o.state is not State.SENDING]
        if late:
            since = to_zone(self.token.since, self.settings.zone)
            self.host.expire(
                late, f"publishing was paused from {since}: the instance refused the access token"
            )

    def waiting_count(self) -> int:
        """How many of the posts that were due during the outage still wait."""
        if not self.waiting:
            return 0
        states = self.ledger.states()
        return sum(1 for key in self.waiting if not states.get(key, State.PENDING).settled)

    def resumed(self) -> None:
        """The operator resumed publishing: what falls due while stopped again is told again."""
        self._told.clear()

    def due_while_stopped(self, occurrence: Occurrence, why: str) -> None:
        """A post fell due while publishing is stopped: say so, once."""
        if occurrence.key in self._told:
            return
        self._told.add(occurrence.key)
        logger.warning(
            "due but not sent: publishing stopped (%s); it stays pending until %s",
            why,
            to_zone(occurrence.deadline, self.settings.zone),
            extra={"post_id": occurrence.post.id},
        )
