"""What keeps a published campaign alive: the drift report, the amender, and the running bot's
round between posts (edits the config allows, then the engagement counts that are due)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from bot.core.posts import CampaignPost
from bot.core.problems import Problem
from bot.core.published import FieldChange
from bot.core.timespec import format_duration
from bot.core.words import counted
from bot.mastodon.client import MastodonClient
from bot.publishing.amend import ALT_TEXT_FIELDS, Amender, EditUnsupported
from bot.publishing.drift import PartDrift, PostDrift, drift_problems, find_drift
from bot.publishing.pacing import DEFAULT_WINDOWS, Pacer
from bot.service.app import App
from bot.service.engagement import Collector
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger

logger = logging.getLogger(__name__)

# A failed edit by the running bot is tried again after this long (or when its file changes).
RETRY_FAILED = timedelta(hours=6)


def drift_report(app: App, posts: list[CampaignPost]) -> tuple[list[PostDrift], list[Problem]]:
    """Published posts whose file changed since, and a warning per changed field."""
    ledger = app.ledger_if_exists()
    if ledger is None:
        return [], []
    with ledger:
        drifts = find_drift(posts, ledger, Amendments(ledger, app.clock))
    return drifts, drift_problems(drifts)


def left_to_campaigner(mode: str) -> Callable[[FieldChange], bool]:
    """Which changes the running bot leaves to `campaign-bot amend` under `amend: MODE`."""

    def left(change: FieldChange) -> bool:
        if mode == "alt-text":
            return change.field not in ALT_TEXT_FIELDS
        if mode == "auto":
            # An edit cannot make these, and a poll is replaced only on request.
            return not change.editable or change.resets_votes
        return True

    return left


def waiting_warnings(
    app: App, ledger: Ledger, posts: list[CampaignPost], mode: str
) -> list[Problem]:
    """For the running bot's log: each change to a published post it does not apply itself."""
    drifts = find_drift(posts, ledger, Amendments(ledger, app.clock))
    return drift_problems(drifts, left_to_campaigner(mode))


def status_pacer(app: App, ledger: Ledger) -> Pacer:
    """A pacer that knows the posts and edits of the last 3 hours: the instance counts both."""
    since = app.clock.now() - DEFAULT_WINDOWS["status"].period
    pacer = Pacer(app.clock)
    moments = [
        part.published_at
        for record in ledger.all()
        for part in record.parts
        if part.published_at is not None and part.published_at > since
    ]
    moments += Amendments(ledger, app.clock).edits_since(since)
    pacer.seed("status", moments)
    return pacer


def make_amender(app: App, ledger: Ledger) -> Amender:
    client = app.client()
    return Amender(
        client, Amendments(ledger, app.clock), app.clock, pacer=status_pacer(app, ledger)
    )


class LivingRound:
    """The running bot's work for published posts, done on the publishing worker between posts:
    with `amend: alt-text` or `auto`, the edits the config allows (each logged and alerted once),
    then the engagement counts that are due, stopping as soon as a post is due."""

    def __init__(
        self,
        app: App,
        ledger: Ledger,
        client: MastodonClient,
        alert: Callable[[str, str, str], None],
    ) -> None:
        self.app = app
        self.ledger = ledger
        self.client = client
        self.alert = alert
        self.store = Amendments(ledger, app.clock)
        self.edits_refused = False
        # Alert subject (a part and the version it is to show) -> when its edit last failed.
        self.failed: dict[str, datetime] = {}

    def run(self, posts: list[CampaignPost], next_post_at: datetime | None) -> None:
        clock = self.app.clock

        def post_due() -> bool:
            return next_post_at is not None and clock.now() >= next_post_at

        if self.app.settings.amend != "manual" and not self.edits_refused and not post_due():
            self._amend(posts, post_due)
        if not post_due():
            collected = Collector(self.client, self.ledger, clock, should_yield=post_due).collect()
            if collected.read or collected.gone or collected.error:
                logger.info("%s", collected.line())

    def _amend(self, posts: list[CampaignPost], post_due: Callable[[], bool]) -> None:
        only = ALT_TEXT_FIELDS if self.app.settings.amend == "alt-text" else None
        amender = Amender(
            self.client, self.store, self.app.clock, pacer=status_pacer(self.app, self.ledger)
        )
        drifts = find_drift(posts, self.ledger, self.store)
        if not drifts:
            return
        try:
            amender.check_server()
        except EditUnsupported as exc:
            self.edits_refused = True
            logger.warning("amend: %s is set, but %s", self.app.settings.amend, exc)
            return
        now = self.app.clock.now()
        self.failed = {s: t for s, t in self.failed.items() if now - t < RETRY_FAILED}
        for done, drift in enumerate(drifts):
            # Edits never hold up a post, nor wait for the rate limit: the rest can wait.
            if post_due() or amender.pacer.delay("status") > 0:
                why = "a post is due" if post_due() else "the rate limit is used up"
                left = counted(len(drifts) - done, "changed post")
                logger.info("amend: %s left for a later round (%s)", left, why)
                return
            subjects = {p.index: _subject(drift, p) for p in drift.parts}
            wanted = {p.number for p in drift.parts if subjects[p.index] not in self.failed}
            if wanted:
                self._amend_post(amender, drift, only, wanted, subjects)

    def _amend_post(
        self,
        amender: Amender,
        drift: PostDrift,
        only: Collection[str] | None,
        wanted: set[int],
        subjects: dict[int, str],
    ) -> None:
        for outcome in amender.amend(drift, only=only, parts=wanted):
            if outcome.result not in ("edited", "failed"):
                continue
            part = next(p for p in drift.parts if p.index == outcome.index)
            fields = ", ".join(c.field for c in part.changes if only is None or c.field in only)
            done = "amended" if outcome.result == "edited" else "could not amend"
            message = f"{drift.record.key} part {part.number}: {done} ({fields}) {outcome.url}"
            if outcome.detail:
                message += f": {outcome.detail}"
            if outcome.result == "failed":
                # Not sent again every round: after RETRY_FAILED, or once the file changes.
                self.failed[subjects[part.index]] = self.app.clock.now()
                message += (
                    f" (tried again in {format_duration(RETRY_FAILED)}, or when the file changes)"
                )
            logger.info("%s", message, extra={"post_id": drift.post.id})
            kind = "amended" if outcome.result == "edited" else "amend-failed"
            self.alert(
                subjects[part.index] + ("" if kind == "amended" else " failed"), kind, message
            )


def _subject(drift: PostDrift, part: PartDrift) -> str:
    """What an alert about editing this part to its file's version is about."""
    digest = hashlib.sha256(part.after.to_json().encode()).hexdigest()[:12]
    return f"{drift.record.key} amend {digest}"
