"""What editing and deleting published statuses share: the ledger's record of them, the clock,
the pacer, and the tries of a send — a blip is tried again after a jittered backoff, a 429 not
before the instance's reset, and never past the policy's tries or rate-limit wait."""

from __future__ import annotations

import random
from typing import Generic, TypeVar

from bot.core.clock import Clock
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import RateLimited, TransientError
from bot.publishing.pacing import Pacer
from bot.publishing.publisher import RetryPolicy
from bot.storage.amendments import Amendments

ClientT = TypeVar("ClientT", bound=MastodonClient | None)


class StatusWork(Generic[ClientT]):
    def __init__(
        self,
        client: ClientT,
        store: Amendments,
        clock: Clock,
        *,
        pacer: Pacer | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.pacer = pacer or Pacer(clock)
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def retry_delay(self, exc: TransientError, attempt: int) -> float | None:
        """Seconds to wait after try `attempt` failed with `exc`, or None to give up: the tries
        are used up, or a rate limit resets later than the policy waits."""
        if attempt >= self.policy.attempts:
            return None
        delay = self.policy.backoff(attempt, self.rng)
        if isinstance(exc, RateLimited) and exc.retry_at is not None:
            delay = max(delay, (exc.retry_at - self.clock.now()).total_seconds())
            if delay > self.policy.max_rate_limit_wait:
                return None
        return delay
