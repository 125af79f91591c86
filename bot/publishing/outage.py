"""One view of the instance for every post: riding out an outage without losing or failing posts.

A transient failure (no connection, a timeout, a 5xx or a proxy's error page, an answer that
cannot be read) of one post makes the instance *suspect*; that post waits for its own next try
and the next post goes ahead. When a second send fails too, the instance is *down*: nothing more
is sent into the failure. The bot then probes it with one cheap authenticated request at growing,
jittered intervals (capped at a few minutes); when the probe answers, one post is sent, and when
that goes through the instance is back and the waiting posts go out in planned order.

The outage is saved in the ledger's meta table, so `status` (another process) can show it and a
restarted bot remembers since when the instance has been failing.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.clock import Clock
from bot.core.timespec import format_duration, to_zone
from bot.mastodon.types import ApiError

logger = logging.getLogger(__name__)

OUTAGE_META = "instance_outage"


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with full jitter: try n waits a random time up to
    min(cap, first * 2**(n-1)), and never less than `floor`."""

    first: float = 10.0
    cap: float = 180.0
    floor: float = 2.0

    def delay(self, failures: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.first * 2 ** max(failures - 1, 0))
        return max(self.floor, rng.uniform(0, ceiling))


@dataclass(frozen=True)
class Outage:
    """The instance has been failing since `since`; `last_answer` is what it said last."""

    since: datetime
    last_answer: str
    failures: int
    next_try: datetime
    alerted: bool = False

    def to_json(self) -> str:
        body = asdict(self)
        body["since"] = self.since.isoformat()
        body["next_try"] = self.next_try.isoformat()
        return json.dumps(body)

    @classmethod
    def from_json(cls, text: str | None) -> Outage | None:
        if not text:
            return None
        try:
            raw = json.loads(text)
            return cls(
                since=datetime.fromisoformat(raw["since"]),
                last_answer=str(raw["last_answer"]),
                failures=int(raw["failures"]),
                next_try=datetime.fromisoformat(raw["next_try"]),
                alerted=bool(raw.get("alerted", False)),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def window(self, until: datetime, zone: ZoneInfo) -> str:
        """ "the instance was unavailable from 09:31 to 11:40; last answer: 502" """
        return (
            f"the instance was unavailable from {_clock_time(self.since, zone)} to "
            f"{_clock_time(until, zone)}; last answer: {self.last_answer}"
        )

    def summary(self, zone: ZoneInfo) -> str:
        """ "instance unavailable since 09:31 (last answer: 502)" """
        return (
            f"instance unavailable since {_clock_time(self.since, zone)} "
            f"(last answer: {self.last_answer})"
        )


@dataclass(frozen=True)
class Recovery:
    """An outage that has ended: how long it lasted, and whether anyone was told of it."""

    outage: Outage
    at: datetime

    @property
    def lasted(self) -> timedelta:
        return self.at - self.outage.since


def answer_of(exc: ApiError) -> str:
    """What the instance said, in a word or two: `502`, `a timeout`, `no connection`."""
    if exc.http_status is not None:
        return str(exc.http_status)
    text = str(exc)
    if "did not answer" in text:
        return "no answer (timeout)"
    if "could not reach" in text:
        return "no connection"
    if "not JSON" in text or "cannot be read" in text:
        return "an answer that could not be read"
    return text


def _clock_time(moment: datetime, zone: ZoneInfo) -> str:
    # "2026-12-01 09:31 GMT": the day matters when an outage spans midnight.
    return to_zone(moment, zone)


class InstanceWatch:
    """Whether posts may be sent now, and the outage (if any); shared by every post."""

    def __init__(
        self,
        clock: Clock,
        *,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        load: Callable[[], str | None] | None = None,
        save: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._save = save
        self._lock = threading.RLock()
        self.outage: Outage | None = Outage.from_json(load()) if load else None
        # A failed send with no outage yet: (key, when, answer) of the first failure.
        self._suspect: tuple[str, datetime, str] | None = None
        # Each post's own next try after a failure of its own.
        self._waits: dict[str, datetime] = {}
        self._failures: dict[str, int] = {}
        # The probe answered during an outage: the next send is allowed, and decides.
        self._probe_passed = False
        self._held_until: datetime | None = None
        self._recovery: Recovery | None = None

    # --- asking ------------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        return self.outage is not None

    def may_send(self, key: str) -> bool:
        """Whether this occurrence may be sent now."""
        with self._lock:
            now = self.clock.now()
            if self._held_until is not None and now < self._held_until:
                return False
            if self.outage is not None:
                return self._probe_passed
            wait = self._waits.get(key)
            return wait is None or now >= wait

    def next_try(self, key: str | None = None) -> datetime | None:
        """When sending may be tried again (for this occurrence, or at all)."""
        with self._lock:
            times = [self._held_until] if self._held_until else []
            if self.outage is not None:
                times.append(self.outage.next_try)
            elif key is not None and key in self._waits:
                times.append(self._waits[key])
            return max(times) if times else None

    def why_not(self, key: str) -> str:
        with self._lock:
            if self._held_until is not None and self.clock.now() < self._held_until:
                return f"rate limited by the instance until {self._held_until.isoformat()}"
            if self.outage is not None:
                return (
                    f"the instance has been unavailable since {self.outage.since.isoformat()} "
                    f"(last answer: {self.outage.last_answer}); waiting for it to answer"
                )
            return "waiting for its own next try after a temporary failure"

    def take_recovery(self) -> Recovery | None:
        """The outage that ended since last asked, once."""
        with self._lock:
            found, self._recovery = self._recovery, None
            return found

    # --- telling -----------------------------------------------------------------------------

    def answered(self, key: str | None = None) -> None:
        """The instance answered a send (published, or refused for good): it is up."""
        with self._lock:
            if key is not None:
                self._waits.pop(key, None)
                self._failures.pop(key, None)
            self._suspect = None
            self._probe_passed = False
            if self.outage is not None:
                self._recovery = Recovery(self.outage, self.clock.now())
                logger.info(
                    "the instance answers again, after %s",
                    format_duration(self.clock.now() - self.outage.since),
                )
                self._set(None)

    def failed(self, key: str, exc: ApiError) -> bool:
        """A send of `key` failed with a transient error; True when the instance is now down."""
        with self._lock:
            now = self.clock.now()
            answer = answer_of(exc)
            self._probe_passed = False
            if self.outage is not None:
                self._worse(answer)
                return True
            if self._suspect is None:
                count = self._failures.get(key, 0) + 1
                self._failures[key] = count
                self._waits[key] = now + timedelta(seconds=self.backoff.delay(count, self.rng))
                self._suspect = (key, now, answer)
                return False
            since = self._suspect[1]
            self._suspect = None
            delay = self.backoff.delay(1, self.rng)
            self._set(Outage(since, answer, 1, now + timedelta(seconds=delay)))
            return True

    def probe_passed(self) -> None:
        """The probe request answered: let the next send through to decide."""
        with self._lock:
            self._probe_passed = True

    def probe_failed(self, exc: ApiError) -> None:
        with self._lock:
            self._probe_passed = False
            if self.outage is None:
                now = self.clock.now()
                delay = self.backoff.delay(1, self.rng)
                self._set(Outage(now, answer_of(exc), 1, now + timedelta(seconds=delay)))
            else:
                self._worse(answer_of(exc))

    def hold_until(self, until: datetime) -> None:
        """A 429 far from its reset: nothing is sent before then."""
        with self._lock:
            self._held_until = until

    def settle_probe(self) -> None:
        """The probe answered and nothing was waiting to be sent: the outage is over."""
        with self._lock:
            if self.outage is not None and self._probe_passed:
                self.answered()

    def mark_alerted(self) -> None:
        with self._lock:
            if self.outage is not None:
                self._set(replace(self.outage, alerted=True))

    # --- plumbing ----------------------------------------------------------------------------

    def _worse(self, answer: str) -> None:
        assert self.outage is not None
        failures = self.outage.failures + 1
        delay = self.backoff.delay(failures, self.rng)
        self._set(
            replace(
                self.outage,
                last_answer=answer,
                failures=failures,
                next_try=self.clock.now() + timedelta(seconds=delay),
            )
        )

    def _set(self, outage: Outage | None) -> None:
        self.outage = outage
        if self._save is not None:
            self._save(outage.to_json() if outage is not None else "")
