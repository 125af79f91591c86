"""Publishing a coalition campaign: each post from its own account, and the boosts and quotes
of the other accounts once the post they share is out.

Every account has its own client, token, pacing and idempotency keys. A rejected token or an
unreachable instance holds up only that account's posts, boosts and quotes. Boosts and quotes
go through the one ledger like posts: the intent is written before the request, the status id
after it, and a boost is simply asked for again after a crash (boosting twice gives the same
boost back on Mastodon); a quote is a post with its own Idempotency-Key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from bot.core.errors import CampaignBotError
from bot.core.limits import from_instance_document
from bot.core.posts import FollowKind, FollowUp
from bot.core.states import Result, State
from bot.core.timespec import format_duration
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import AuthError, PermanentError, TransientError
from bot.publishing.publisher import Outcome, Publisher, idempotency_key
from bot.schedule.planner import Occurrence

logger = logging.getLogger(__name__)

# How soon to look again for a post another instance has not fetched yet, or whose post is
# still on its way.
LOOK_AGAIN = timedelta(minutes=1)
# How long an account whose token was rejected waits before its token is read and tried again
# (as a single account's bot does, within 2 minutes of the token file being replaced).
TOKEN_RECHECK = timedelta(minutes=2)

AccountPublisher = Callable[[str], Publisher]
TokenProblem = Callable[[str, AuthError], None]
TokenBack = Callable[[str, timedelta], None]


class CoalitionPublisher(Publisher):
    """The default account's publisher, which hands every other account's work to that
    account's own publisher (made on first use by `others`).

    Every account is treated alike when its token is rejected, the default one too: that
    account's posts, boosts and quotes wait (its token is read and tried again every
    `TOKEN_RECHECK`), the other accounts carry on."""

    account_name: str = ""
    others: AccountPublisher | None = None
    # Told when an account's token is rejected, and when it works again (the daemon alerts).
    on_token_problem: TokenProblem | None = None
    on_token_back: TokenBack | None = None

    def setup(
        self,
        account_name: str,
        others: AccountPublisher,
        catch_up: timedelta,
        *,
        instances: Mapping[str, str] | None = None,
        refused: AuthError | None = None,
    ) -> CoalitionPublisher:
        """`instances`: each account's instance; `refused`: the default account's token was
        rejected when connecting (this publisher then only hands work on, and the default
        account's own publisher is made by `others` once its token works)."""
        self.account_name = account_name
        # How late a boost or quote may still go out after its moment (the config's catch_up).
        self.catch_up = catch_up
        self.others = others
        self.instances = dict(instances or {})
        self._publishers: dict[str, Publisher] = {} if refused else {account_name: self}
        self._held: dict[str, tuple[str, datetime | None]] = {}
        # Accounts whose token was rejected: since when, and the occurrences already told of.
        self._refused: dict[str, datetime] = {}
        self._told: set[tuple[str, str]] = set()
        if refused is not None:
            self.token_refused(account_name, refused)
        return self

    def publisher_for(self, name: str) -> Publisher:
        if name not in self._publishers:
            assert self.others is not None
            self._publishers[name] = self.others(name)
            since = self._refused.pop(name, None)
            if since is not None:
                self._token_back(name, since)
        found = self._publishers[name]
        found.stop_requested = self.stop_requested
        found.clock = self.clock
        return found

    def working_client(self, name: str) -> MastodonClient | None:
        """The account's client while its token works (None while it is rejected)."""
        if name in self._refused:
            return None
        found = self._publishers.get(name)
        return found.client if found is not None else None

    def token_problems(self) -> dict[str, str]:
        """Why each account whose token was rejected waits, by account name."""
        return {name: self._held[name][0] for name in self._refused if name in self._held}

    def waiting(self) -> dict[str, str]:
        """Why each held-up account's work waits (a rejected token, an outage, a rate limit)."""
        now = self.clock.now()
        return {
            name: reason
            for name, (reason, until) in self._held.items()
            if until is None or until > now or name in self._refused
        }

    def publish(self, occurrence: Occurrence) -> Outcome:
        post = occurrence.post
        name = post.account or self.account_name
        held = self._held.get(name)
        now = self.clock.now()
        if held is not None and (held[1] is None or held[1] > now):
            if name in self._refused and (name, occurrence.key) not in self._told:
                self._told.add((name, occurrence.key))
                logger.warning(
                    "due but not sent: %s; it waits for that account's token",
                    held[0],
                    extra={"post_id": post.id},
                )
            return Outcome(occurrence.key, Result.DEFERRED, error=held[0], retry_at=held[1])
        self._held.pop(name, None)
        try:
            if post.follows is not None:
                outcome = self._follow_up(occurrence, post.follows, name)
            else:
                publisher = self.publisher_for(name)
                if publisher is self:
                    outcome = super().publish(occurrence)
                else:
                    outcome = publisher.publish(occurrence)
        except AuthError as exc:
            return self._token_rejected(occurrence, name, exc)
        except CampaignBotError as exc:
            # Reaching another account's instance, or finding its token, failed before
            # anything was sent.
            reason = f"account {name!r}: {exc}"
            logger.warning("%s; its posts wait", reason, extra={"post_id": post.id})
            retry = now + LOOK_AGAIN
            self._held[name] = (reason, retry)
            return Outcome(occurrence.key, Result.DEFERRED, error=reason, retry_at=retry)
        if outcome.result is Result.DEFERRED and name != self.account_name:
            # An outage or a rate limit on that account's instance: its other work waits too,
            # the other accounts carry on.
            self._held[name] = (outcome.error or "deferred", outcome.retry_at)
        return outcome

    def recheck_tokens(self) -> None:
        """Try the rejected tokens again at the next post, not after the usual wait (SIGHUP)."""
        for name in self._refused:
            if name in self._held:
                self._held[name] = (self._held[name][0], self.clock.now())

    def token_refused(self, name: str, exc: AuthError) -> datetime:
        """The account's token was rejected: hold its work, say so (once), and tell the daemon.
        Returns when the token is tried again."""
        self._publishers.pop(name, None)
        reason = f"account {name!r}: {exc}"
        if name not in self._refused:
            self._refused[name] = self.clock.now()
            logger.critical(
                "%s — that account's posts, boosts and quotes wait, the others go on; fix it with "
                "`campaign-bot login --account %s` or replace its token (the bot tries it again "
                "by itself)",
                reason,
                name,
            )
            if self.on_token_problem is not None:
                self.on_token_problem(name, exc)
        else:
            logger.info("account %r: the access token is still refused; trying again later", name)
        # Tried again (with a fresh look at its token) after a while, not at every post.
        retry = self.clock.now() + TOKEN_RECHECK
        self._held[name] = (reason, retry)
        return retry

    def _token_rejected(self, occurrence: Occurrence, name: str, exc: AuthError) -> Outcome:
        retry = self.token_refused(name, exc)
        return Outcome(occurrence.key, Result.DEFERRED, error=self._held[name][0], retry_at=retry)

    def _token_back(self, name: str, since: datetime) -> None:
        lasted = self.clock.now() - since
        logger.info(
            "account %r: the access token works again after %s; its posts, boosts and quotes go on",
            name,
            format_duration(lasted),
        )
        self._told = {told for told in self._told if told[0] != name}
        if self.on_token_back is not None:
            self.on_token_back(name, lasted)

    # --- boosts and quotes -----------------------------------------------------------------

    def _follow_up(self, occurrence: Occurrence, follow: FollowUp, name: str) -> Outcome:
        key = occurrence.key
        post = occurrence.post
        existing = self.ledger.get(key)
        if existing is not None and existing.state is State.PUBLISHED:
            return Outcome(key, Result.ALREADY_PUBLISHED, tuple(existing.urls()))
        if existing is not None and existing.state.settled:
            return Outcome(key, Result.NOT_SENT, error=existing.last_error)
        shared = self.ledger.get(follow.shared_key(key))
        now = self.clock.now()
        if shared is None or not shared.state.settled:
            retry = max(occurrence.planned_at, now + LOOK_AGAIN)
            why = "the post it shares is not published yet"
            return Outcome(key, Result.NOT_SENT, error=why, retry_at=retry)
        first = shared.part(0)
        if shared.state is not State.PUBLISHED or first is None or not first.status_id:
            reason = f"skipped: the post it shares, {shared.post_id}, was never published " + (
                f"({shared.state}: {shared.last_error})"
                if shared.last_error
                else f"({shared.state})"
            )
            self.ledger.mark_missed(key, post.id, occurrence.planned_at, reason)
            logger.warning("%s", reason, extra={"post_id": post.id})
            return Outcome(key, Result.NOT_SENT, error=reason)
        assert shared.published_at is not None
        due = shared.published_at + follow.after
        if now < due:
            # Not a failure: it simply is not time yet (NOT_SENT, with when to look again).
            return Outcome(key, Result.NOT_SENT, error="not due yet", retry_at=due)
        if now > due + self.catch_up and (existing is None or existing.state is State.PENDING):
            reason = (
                f"missed: due {format_duration(follow.after)} after {shared.post_id} went out "
                f"({due.isoformat(timespec='minutes')}), and it is now "
                f"{format_duration(now - due)} later, past the catch_up window"
            )
            self.ledger.mark_missed(key, post.id, occurrence.planned_at, reason)
            logger.warning("%s", reason, extra={"post_id": post.id})
            return Outcome(key, Result.NOT_SENT, error=reason)
        publisher = self.publisher_for(name)
        local = self._local_id(publisher, follow, first.status_id, first.url or "")
        if local is None:
            why = f"{publisher.instance} has not found {first.url} yet"
            logger.info("%s; looking again later", why, extra={"post_id": post.id})
            return Outcome(key, Result.DEFERRED, error=why, retry_at=now + LOOK_AGAIN)
        if follow.kind is FollowKind.BOOST:
            return self._boost(publisher, occurrence, local)
        return self._quote(publisher, occurrence, follow, local, first.url or "")

    def _local_id(
        self, publisher: Publisher, follow: FollowUp, status_id: str, url: str
    ) -> str | None:
        """The shared post's id on the instance of the account that boosts or quotes it."""
        # Where the shared post lives, without connecting as its account (whose token may be
        # the one that is rejected).
        sharer = self.instances.get(follow.of_account or self.account_name, self.instance)
        if publisher.instance.rstrip("/") == sharer.rstrip("/"):
            return status_id
        publisher.pacer.wait_for("search")
        return publisher.client.find_status(url)

    def _boost(self, publisher: Publisher, occurrence: Occurrence, local: str) -> Outcome:
        key, post = occurrence.key, occurrence.post
        record = self.ledger.begin_attempt(key, post.id, occurrence.planned_at, "")
        stored = record.part(0)
        if stored is not None and stored.status_id:
            self.ledger.mark_published(key)
            return Outcome(key, Result.PUBLISHED, (stored.url,) if stored.url else ())
        idem = idempotency_key(publisher.instance, publisher.account_id, key, 0)
        # Written before the request, as for a post: the ledger shows a boost may be out.
        self.ledger.record_part_intent(key, 0, idem)
        try:
            publisher.pacer.wait_for("status")
            status = publisher.client.reblog(local)
        except TransientError as exc:
            self.ledger.mark_pending_after_error(key, str(exc))
            logger.warning("boost deferred: %s", exc, extra={"post_id": post.id})
            retry = exc.retry_at or self.clock.now() + LOOK_AGAIN
            return Outcome(key, Result.DEFERRED, error=str(exc), retry_at=retry)
        except PermanentError as exc:
            self.ledger.mark_failed(key, str(exc))
            logger.error("boost failed: %s", exc, extra={"post_id": post.id})
            return Outcome(key, Result.FAILED, error=str(exc))
        self.ledger.record_part_published(
            key, 0, status.id, status.url, adopted=record.attempts > 1
        )
        self.ledger.mark_published(key)
        logger.info("boosted by %s", post.account, extra={"post_id": post.id})
        return Outcome(key, Result.PUBLISHED, (status.url,) if status.url else ())

    def _quote(
        self,
        publisher: Publisher,
        occurrence: Occurrence,
        follow: FollowUp,
        local: str,
        url: str,
    ) -> Outcome:
        info = publisher.client.server_info()
        post = occurrence.post
        first = post.parts[0]
        if from_instance_document(info.v2, info.v1).quotes is not False:
            quoting = replace(first, quoted_status_id=local)
            # Published as a post by the quoting account's own publisher (the default account's
            # too: not routed again, which would take it for the quote it is).
            return Publisher.publish(
                publisher, replace(occurrence, post=replace(post, parts=(quoting,)))
            )
        if not follow.fallback_link:
            reason = (
                f"the instance of {post.account!r} cannot publish quote posts (Mastodon 4.5+ "
                "can) — add `fallback: link` to post the text with the link instead"
            )
            self.ledger.begin_attempt(occurrence.key, post.id, occurrence.planned_at, "")
            self.ledger.mark_failed(occurrence.key, reason)
            logger.error("quote not sent: %s", reason, extra={"post_id": post.id})
            return Outcome(occurrence.key, Result.FAILED, error=reason)
        linked = replace(first, text=f"{first.text}\n\n{url}")
        logger.info(
            "the instance cannot quote: posting the link instead", extra={"post_id": post.id}
        )
        return Publisher.publish(
            publisher, replace(occurrence, post=replace(post, parts=(linked,)))
        )
