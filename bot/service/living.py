"""What the living-campaign commands need built: the amender, the withdrawer, the drift report."""

from __future__ import annotations

from bot.core.posts import CampaignPost
from bot.core.problems import Problem
from bot.publishing.amend import Amender
from bot.publishing.drift import PostDrift, drift_problems, find_drift
from bot.publishing.pacing import DEFAULT_WINDOWS, Pacer
from bot.service.app import App
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger


def drift_report(app: App, posts: list[CampaignPost]) -> tuple[list[PostDrift], list[Problem]]:
    """Published posts whose file changed since, and a warning per changed field."""
    ledger = app.ledger_if_exists()
    if ledger is None:
        return [], []
    with ledger:
        drifts = find_drift(posts, ledger, Amendments(ledger, app.clock))
    return drifts, drift_problems(drifts)


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
