"""Publishing one occurrence of a post, exactly once, through the ledger.

For every part (the post, then each reply of its thread): the Idempotency-Key is committed to the
ledger before the request and the status id right after it. A retry, after any failure or a
restart, reuses the same key, so Mastodon answers with the post it already made instead of making
a second one. Mastodon forgets keys after an hour and some servers ignore them, so before sending
a part again in those cases the bot looks for it among the account's recent posts.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.core.posts import Part
from bot.core.states import Result, State
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import (
    AuthError,
    PermanentError,
    PollRequest,
    RateLimited,
    RemoteStatus,
    StatusRequest,
    TokenRefused,
    TransientError,
)
from bot.publishing.matching import is_part
from bot.publishing.media import media_gone, upload_media
from bot.publishing.outage import InstanceWatch
from bot.publishing.pacing import Pacer
from bot.publishing.reasons import explain, part_name
from bot.publishing.snapshot import snapshot_of
from bot.schedule.planner import Occurrence
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger
from bot.storage.media import forget_uploads
from bot.storage.records import OccurrenceRecord
from bot.storage.repeats import held_back

logger = logging.getLogger(__name__)

_Send = Callable[[], "RemoteStatus"]

# Mastodon keeps an Idempotency-Key for 3,600 s (post_status_service.rb); stop trusting it a bit
# before that.
KEY_MEMORY = timedelta(minutes=55)


@dataclass(frozen=True)
class RetryPolicy:
    """Tries of one part within one send, for a blip of a few seconds. A longer failure is the
    instance's, not the post's: `InstanceWatch` decides when to try again."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 8.0
    # A 429 whose reset is further away than this is left for later instead of waited out.
    max_rate_limit_wait: float = 900.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        # Full jitter, so several bots behind one proxy do not retry in step.
        return rng.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Outcome:
    key: str
    result: Result
    urls: tuple[str, ...] = ()
    error: str | None = None
    retry_at: datetime | None = None


class Deferred(Exception):
    """The instance asked us to come back later than we are willing to wait now."""

    def __init__(self, reason: str, retry_at: datetime | None) -> None:
        super().__init__(reason)
        self.retry_at = retry_at


def idempotency_key(instance: str, account_id: str, occurrence: str, part: int) -> str:
    """The same inputs always give the same key, across retries, restarts and machines."""
    seed = f"{instance.rstrip('/')}\n{account_id}\n{occurrence}\n{part}"
    return "campaign-bot-" + hashlib.sha256(seed.encode()).hexdigest()[:40]


class Publisher:
    def __init__(
        self,
        client: MastodonClient,
        ledger: Ledger,
        clock: Clock,
        *,
        instance: str,
        account_id: str,
        honours_idempotency_keys: bool,
        pacer: Pacer | None = None,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        stop_requested: Callable[[], bool] | None = None,
        on_status: Callable[[RemoteStatus], None] | None = None,
        clock_skew: timedelta = timedelta(0),
        watch: InstanceWatch | None = None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.clock = clock
        self.instance = instance
        self.account_id = account_id
        self.honours_keys = honours_idempotency_keys
        self.pacer = pacer or Pacer(clock)
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.stop_requested = stop_requested or (lambda: False)
        # Told of every status as the instance answered it (the rehearsal shows them).
        self.on_status = on_status
        # Our clock minus the instance's (from its Date header): the instance stamps its posts
        # with its own time, and an earlier attempt is looked for among them.
        self.clock_skew = clock_skew
        # Whether the instance is failing, shared by every post.
        self.watch = watch or InstanceWatch(clock)
        self.amendments = Amendments(ledger, clock)

    def publish(self, occurrence: Occurrence) -> Outcome:
        """Publish every part not yet published; record the result. Raises TokenRefused.

        A transient failure never ends the occurrence: it stays pending, and the instance watch
        says when it (or, during an outage, anything) is tried again. Only a permanent answer
        ends it as failed, with a reason naming the post, the part and the fix.
        """
        post = occurrence.post
        key = occurrence.key
        log = _PostLog(post.id)
        existing = self.ledger.get(key)
        if existing is not None and existing.state is State.PUBLISHED:
            return Outcome(key, Result.ALREADY_PUBLISHED, tuple(existing.urls()))
        if existing is not None and existing.state.settled:
            return Outcome(key, Result.NOT_SENT, error=existing.last_error)
        if existing is None and not post.repeat:
            reason = held_back(self.ledger, post.id, post.content_hash, self.clock.now())
            if reason is not None:
                log.warning("%s", reason)
                return Outcome(key, Result.NOT_SENT, error=reason)
        if not self.watch.may_send(key):
            return Outcome(
                key,
                Result.UNAVAILABLE if self.watch.down else Result.DEFERRED,
                error=self.watch.why_not(key),
                retry_at=self.watch.next_try(key),
            )
        record = self.ledger.begin_attempt(key, post.id, occurrence.planned_at, post.content_hash)
        if record.attempts > 1:
            log.info("resuming (attempt %d)", record.attempts)
        current = post.parts[0]
        try:
            parent: str | None = None
            for part in post.parts:
                current = part
                parent = self._publish_part(record, part, parent, log, thread=len(post.parts) > 1)
        except TokenRefused as exc:
            self.ledger.mark_pending_after_error(key, str(exc))
            raise
        except Deferred as exc:
            self.ledger.mark_pending_after_error(key, str(exc))
            if exc.retry_at is not None:
                # The rate limit is the account's: no other post would get through either.
                self.watch.hold_until(exc.retry_at)
            log.warning("deferred: %s", exc)
            return Outcome(key, Result.DEFERRED, error=str(exc), retry_at=exc.retry_at)
        except TransientError as exc:
            return self._transient(occurrence, current, exc, log)
        except (PermanentError, AuthError) as exc:
            # A refusal is an answer: the instance itself is up.
            self.watch.answered(key)
            reason = explain(exc, occurrence, current, thread_started=self._thread_started(key))
            self.ledger.mark_failed(key, reason)
            log.error("failed: %s", reason)
            return Outcome(key, Result.FAILED, error=reason)
        self.watch.answered(key)
        self.ledger.mark_published(key)
        done = self.ledger.get(key)
        urls = tuple(done.urls()) if done else ()
        log.info("published %s", " ".join(urls))
        return Outcome(key, Result.PUBLISHED, urls)

    def _publish_part(
        self,
        record: OccurrenceRecord,
        part: Part,
        parent: str | None,
        log: _PostLog,
        *,
        thread: bool,
    ) -> str:
        # People count a thread's toots from 1; the ledger and the keys index them from 0.
        number = part.index + 1
        key = record.key
        if self.stop_requested():
            raise Deferred("the bot is stopping; the rest goes out at the next start", None)
        known = self.ledger.get(key)
        stored = known.part(part.index) if known else None
        if stored is not None and stored.status_id:
            return stored.status_id
        idem = idempotency_key(self.instance, self.account_id, key, part.index)
        intent = self.ledger.record_part_intent(key, part.index, idem)
        since = intent.first_attempt_at or self.clock.now()

        def find() -> RemoteStatus | None:
            if not self._key_may_be_forgotten(since):
                return None
            return self._find_on_server(part, parent, since)

        # An intent left by an earlier run means that run's request may have gone through.
        status, adopted = self._with_retries(
            lambda: self._send(key, part, parent, idem),
            find,
            sent_before=stored is not None,
            log=log,
            number=number,
        )
        self.ledger.record_part_published(key, part.index, status.id, status.url, adopted=adopted)
        # What followers see, so a later change to the file can be noticed and amended.
        self.amendments.record_snapshot(key, part.index, snapshot_of(part))
        if self.on_status is not None:
            self.on_status(status)
        if adopted:
            log.info("part %d was already on the instance: %s", number, status.url)
        elif thread:
            log.info("part %d published: %s", number, status.url)
        return status.id

    def _send(self, key: str, part: Part, parent: str | None, idem: str) -> RemoteStatus:
        media_ids, reused = upload_media(self.ledger, self.client, self.pacer, key, part)
        poll = None
        if part.poll is not None:
            poll = PollRequest(
                part.poll.options, part.poll.expires_in, part.poll.multiple, part.poll.hide_totals
            )
        request = StatusRequest(
            text=part.text,
            spoiler_text=part.spoiler_text,
            sensitive=part.sensitive,
            visibility=part.visibility,
            language=part.language,
            media_ids=media_ids,
            poll=poll,
            in_reply_to_id=parent,
            quoted_status_id=part.quoted_status_id,
        )
        self.pacer.wait_for("status")
        try:
            status = self.client.post_status(request, idem)
        except PermanentError as exc:
            if not reused or not media_gone(exc):
                raise
            # The instance no longer has an upload recorded in the ledger (removed unattached
            # after a day, or by an admin): upload the files again and send once more.
            logger.warning(
                "part %d: the instance no longer has its uploaded media (%s); uploading again",
                part.index + 1,
                exc,
                extra={"post_id": key.split("@", 1)[0]},
            )
            forget_uploads(self.ledger, key, part.index, str(exc))
            media_ids, _ = upload_media(self.ledger, self.client, self.pacer, key, part)
            self.pacer.wait_for("status")
            status = self.client.post_status(replace(request, media_ids=media_ids), idem)
        limit = self.client.rate_limit()
        if limit is not None:
            self.pacer.observe(limit.remaining, limit.reset_at)
        return status

    def _with_retries(
        self,
        send: _Send,
        find: Callable[[], RemoteStatus | None],
        *,
        sent_before: bool,
        log: _PostLog,
        number: int,
    ) -> tuple[RemoteStatus, bool]:
        """The status and whether it was found on the instance rather than sent now.

        Before every re-send, `find` looks for the part on the instance: a failed try (a timeout,
        a lost answer) may still have posted it, and the key alone does not protect the re-send
        when the server ignores keys or has forgotten this one.
        """
        attempt = 0
        # A send after a probe during an outage is the test of the instance: one try, not a
        # burst that would also use up the rate limits.
        attempts = 1 if self.watch.down else self.policy.attempts
        while True:
            attempt += 1
            try:
                if sent_before:
                    found = find()
                    if found is not None:
                        return found, True
                sent_before = True
                return send(), False
            except RateLimited as exc:
                wait = self._until(exc.retry_at)
                if wait > self.policy.max_rate_limit_wait:
                    raise Deferred(
                        f"rate limited by the instance until {exc.retry_at}", exc.retry_at
                    ) from exc
                if attempt >= attempts:
                    raise
                pause = max(wait, 1.0)
                log.warning("rate limited; waiting %.0f s (same Idempotency-Key)", pause)
                self._pause(pause, exc)
            except TransientError as exc:
                if attempt >= attempts:
                    raise
                delay = max(self.policy.backoff(attempt, self.rng), self._until(exc.retry_at))
                log.warning(
                    "part %d: %s; retrying in %.0f s with the same Idempotency-Key",
                    number,
                    exc,
                    delay,
                )
                self._pause(delay, exc)

    def _pause(self, seconds: float, cause: Exception) -> None:
        self.clock.sleep(seconds)
        if self.stop_requested():
            raise Deferred(
                f"the bot is stopping ({cause}); it is tried again at the next start", None
            ) from cause

    def _until(self, moment: datetime | None) -> float:
        if moment is None:
            return 0.0
        return max(0.0, (moment - self.clock.now()).total_seconds())

    def _key_may_be_forgotten(self, first_try: datetime) -> bool:
        return not self.honours_keys or self.clock.now() - first_try >= KEY_MEMORY

    def _find_on_server(
        self, part: Part, parent: str | None, since: datetime
    ) -> RemoteStatus | None:
        """Our earlier attempt may have gone through: look for it before sending again."""
        claimed = {p.status_id for r in self.ledger.all() for p in r.parts if p.status_id}
        for status in self.client.recent_statuses(self.account_id):
            earliest = since - self.clock_skew - timedelta(minutes=5)
            if status.created_at < earliest or status.id in claimed:
                continue
            if is_part(status, part, parent):
                return status
        return None

    def _thread_started(self, key: str) -> bool:
        known = self.ledger.get(key)
        return known is not None and any(p.status_id for p in known.parts)

    def _transient(
        self, occurrence: Occurrence, part: Part, exc: TransientError, log: _PostLog
    ) -> Outcome:
        """The occurrence stays pending; the instance is suspect, or down."""
        key = occurrence.key
        reason = f"{part_name(occurrence, part)}: {exc}"
        self.ledger.mark_pending_after_error(key, reason)
        down = self.watch.failed(key, exc)
        retry_at = self.watch.next_try(key)
        when = retry_at.isoformat() if retry_at else "later"
        if down:
            log.warning(
                "not sent, the instance is unavailable: %s; it stays pending, and the instance "
                "is tried again at %s",
                reason,
                when,
            )
            return Outcome(key, Result.UNAVAILABLE, error=reason, retry_at=retry_at)
        log.warning("not sent: %s; it stays pending and is tried again at %s", reason, when)
        return Outcome(key, Result.DEFERRED, error=reason, retry_at=retry_at)


class _PostLog:
    """Log lines that carry the post id, as the operator's log reader expects."""

    def __init__(self, post_id: str) -> None:
        self.extra = {"post_id": post_id}

    def info(self, msg: str, *args: object) -> None:
        logger.info(msg, *args, extra=self.extra)

    def warning(self, msg: str, *args: object) -> None:
        logger.warning(msg, *args, extra=self.extra)

    def error(self, msg: str, *args: object) -> None:
        logger.error(msg, *args, extra=self.extra)
