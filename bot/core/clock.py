"""The one place the bot reads the time from, so tests and rehearsals can move it.

Every module that needs "now" or needs to wait takes a `Clock`; nothing else calls
`datetime.now()` or `time.sleep()`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait this long (or until woken early by `wake`)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards, for measuring intervals."""
        ...


class SystemClock:
    """The real time. `sleep` can be cut short by `wake`, so shutdown is never slowed by a wait."""

    def __init__(self) -> None:
        self._woken = threading.Event()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._woken.wait(seconds)

    def monotonic(self) -> float:
        return time.monotonic()

    def wake(self) -> None:
        """End every current and future sleep at once (used when stopping)."""
        self._woken.set()


class FakeClock:
    """A clock that only moves when told to; `sleep` advances it instantly."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(timedelta(seconds=max(seconds, 0)))

    def monotonic(self) -> float:
        return self._mono

    def advance(self, delta: timedelta) -> None:
        self._now += delta
        self._mono += delta.total_seconds()

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock.set needs a timezone-aware time")
        when = when.astimezone(UTC)
        if when > self._now:
            self._mono += (when - self._now).total_seconds()
            self._now = when
