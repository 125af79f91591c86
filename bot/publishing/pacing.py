"""Staying under the instance's rate limits by spreading a burst, rather than running into 429s.

Mastodon's limits (config/initializers/rack_attack.rb, app/models/status.rb): 300 statuses per
3 hours per account, 30 media uploads per 30 minutes per user, 300 requests per 5 minutes per
token, 30 deletions per 30 minutes. The pacer keeps its own sliding windows under those numbers
and also listens to the X-RateLimit-* headers the server returns, which know about other clients
on the same account.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.clock import Clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    period: timedelta


DEFAULT_WINDOWS = {
    "status": Window(300, timedelta(hours=3)),
    "media": Window(30, timedelta(minutes=30)),
    "request": Window(300, timedelta(minutes=5)),
    # DELETE /api/v1/statuses/:id has its own throttle (rack_attack.rb throttle/api/delete).
    "delete": Window(30, timedelta(minutes=30)),
}
# Leave room for the operator's own use of the account and for retries.
HEADROOM = 0.9


class Pacer:
    def __init__(self, clock: Clock, windows: dict[str, Window] | None = None) -> None:
        self.clock = clock
        self.windows = windows or DEFAULT_WINDOWS
        self._sent: dict[str, deque[datetime]] = {kind: deque() for kind in self.windows}
        self._server_remaining: int | None = None
        self._server_reset: datetime | None = None

    def seed(self, kind: str, moments: Iterable[datetime]) -> None:
        """Remember requests made before a restart (from the ledger)."""
        if kind in self._sent:
            self._sent[kind] = deque(sorted([*self._sent[kind], *moments]))

    def wait_for(self, kind: str) -> None:
        """Block (on the clock) until one more request of this kind fits; then count it."""
        delay = self.delay(kind)
        if delay > 0:
            logger.info("pacing: waiting %.0f s to stay under the %s rate limit", delay, kind)
            self.clock.sleep(delay)
        now = self.clock.now()
        for counted in {kind, "request"} & self._sent.keys():
            self._sent[counted].append(now)

    def delay(self, kind: str) -> float:
        now = self.clock.now()
        waits = [self._window_delay(k, now) for k in {kind, "request"} if k in self.windows]
        waits.append(self._server_delay(now))
        return max(waits)

    def observe(self, remaining: int | None, reset_at: datetime | None) -> None:
        """The server's own count, from the last response's X-RateLimit-* headers."""
        self._server_remaining = remaining
        self._server_reset = reset_at

    def _window_delay(self, kind: str, now: datetime) -> float:
        window = self.windows[kind]
        sent = self._sent[kind]
        while sent and sent[0] <= now - window.period:
            sent.popleft()
        allowed = max(1, int(window.limit * HEADROOM))
        if len(sent) < allowed:
            return 0.0
        return (sent[len(sent) - allowed] + window.period - now).total_seconds()

    def _server_delay(self, now: datetime) -> float:
        remaining, reset = self._server_remaining, self._server_reset
        if remaining is None or reset is None or reset <= now:
            return 0.0
        seconds = (reset - now).total_seconds()
        if remaining <= 0:
            return seconds
        if remaining < 10:
            # Few requests left: spread them over what is left of the window.
            return seconds / (remaining + 1)
        return 0.0
