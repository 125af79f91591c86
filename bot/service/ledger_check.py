"""`doctor`'s look at the ledger: missing, damaged, another account's, or empty while the account
already has the campaign's posts — each said plainly, with what to do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.core.errors import CampaignBotError
from bot.core.posts import CampaignPost
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import Account, ApiError
from bot.publishing.rebuild import GUARD_PAGES, candidates, find_on_account
from bot.service.app import App
from bot.service.checks import Check
from bot.storage import integrity
from bot.storage.backups import backup_dir, backups
from bot.storage.binding import Binding, read_binding
from bot.storage.ledger import Ledger
from bot.storage.lock import held_by_another
from bot.storage.recovery import ORIGIN

REBUILD = "`campaign-bot ledger rebuild` recovers it from the account's posts"


def ledger_check(
    app: App,
    found: tuple[MastodonClient, Account, timedelta] | None,
    posts: Sequence[CampaignPost] | None,
) -> Check:
    settings = app.settings
    path = settings.ledger_path
    running = held_by_another(settings.data_dir)
    beside = f"; {running.describe()} uses it" if running else ""
    if not path.exists():
        copies = backups(settings.data_dir)
        if copies:
            return Check(
                "ledger",
                False,
                f"{path} is missing, but {backup_dir(settings.data_dir)} holds {len(copies)} "
                "copies: it was lost",
                f"`campaign-bot ledger restore`, then {REBUILD.replace('recovers it', 'adds')}",
            )
        out = _campaign_on_account(app, found, posts)
        if out:
            return Check(
                "ledger",
                False,
                f"{path} is missing, but the account already has {out}: it was lost",
                REBUILD,
            )
        return Check(
            "ledger", True, f"no ledger yet in {settings.data_dir}; the first run makes it"
        )
    problem = integrity.problem(path)
    if problem is not None:
        return Check("ledger", False, f"{path}: the ledger {problem}", integrity.WHAT_TO_DO)
    try:
        with Ledger.open(path, app.clock, create=False) as ledger:
            count = len(ledger.states())
            bound = read_binding(ledger)
            origin = ledger.get_meta(ORIGIN)
    except CampaignBotError as exc:
        return Check("ledger", False, str(exc), integrity.WHAT_TO_DO)
    if found is not None and bound is not None:
        _, account, _ = found
        assert settings.instance
        current = Binding(settings.instance, account.id, account.acct)
        if not bound.same_account(current):
            return Check(
                "ledger",
                False,
                f"the ledger belongs to {bound.describe()}, but the token is for "
                f"{current.describe()}",
                f"use @{bound.acct}'s token, or `campaign-bot ledger rebind` if the campaign "
                "has moved",
            )
    if count == 0 and origin is None:
        out = _campaign_on_account(app, found, posts)
        if out:
            return Check(
                "ledger", False, f"the ledger is empty, but the account already has {out}", REBUILD
            )
    return Check("ledger", True, f"{path} is sound; it holds {count} occurrences{beside}")


def _campaign_on_account(
    app: App,
    found: tuple[MastodonClient, Account, timedelta] | None,
    posts: Sequence[CampaignPost] | None,
) -> str | None:
    if found is None or not posts:
        return None
    client, account, skew = found
    try:
        statuses = client.recent_statuses(account.id, max_pages=GUARD_PAGES)
    except ApiError:
        return None
    matches = find_on_account(candidates(posts, app.settings, app.clock.now()), statuses, skew)
    if not matches:
        return None
    names = ", ".join(m.occurrence.key for m in matches[:3])
    return f"{len(matches)} posts of this campaign ({names})"
