"""Coalition campaigns: which account publishes a post, and the boosts and quotes by the other
accounts that follow it. Every name is checked against the config's `accounts:`, and every
quote against the limits of the quoting account's instance."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

from bot.campaign.checking import Checker
from bot.campaign.schema import Post, QuoteSpec
from bot.core.posts import FollowKind, FollowUp, Part, Schedule, ScheduleKind
from bot.core.timespec import TimeSpecError, parse_duration

DEFAULT_BOOST_AFTER = timedelta(minutes=5)
# Several boosters go one after the other, not all in the same second.
BOOST_SPACING = timedelta(minutes=2)
DEFAULT_QUOTE_AFTER = timedelta(minutes=15)

BuildQuote = Callable[[QuoteSpec, tuple[str | int, ...], str], Part | None]


def _known(checker: Checker, name: str, where: tuple[str | int, ...]) -> bool:
    names = checker.ctx.accounts
    if name in names:
        return True
    if len(names) <= 1:
        hint = "add an `accounts:` map to the config with this name, or remove it"
    else:
        hint = f"use one of {', '.join(names)} (the config's `accounts:`)"
    checker.add(where, f"no account named {name!r}", hint)
    return False


def publishing_account(checker: Checker, post: Post, copy: str | None) -> str:
    """The account that publishes the post (or this copy of it under `accounts:`)."""
    default = checker.ctx.default_account
    if copy is not None:
        return copy
    if post.account is not None and post.accounts:
        checker.add(
            ("accounts",),
            "a post has either `account` or `accounts`, not both",
            "keep `accounts: [...]` to publish it from each, or `account:` for one",
        )
    if post.accounts:
        for i, name in enumerate(post.accounts):
            _known(checker, name, ("accounts", i))
        if len(set(post.accounts)) != len(post.accounts):
            checker.add(("accounts",), "an account is listed twice", "list each account once")
        return post.accounts[0]
    if post.account is not None:
        _known(checker, post.account, ("account",))
        return post.account
    return default


def copy_id(post: Post, account: str) -> str:
    """The id of one account's copy of a post published from several accounts."""
    return f"{post.id}~{account}" if post.accounts else post.id


def staggered(checker: Checker, post: Post, schedule: Schedule, copy_index: int) -> Schedule:
    """With `accounts:` and `stagger:`, each account's copy goes out `stagger` after the one
    before it: after its `at:` time, after each of its cron times, or after the slot the first
    copy takes."""
    if post.stagger is None:
        return schedule
    if not post.accounts:
        checker.add(("stagger",), "`stagger` only applies with `accounts:`", "remove `stagger`")
        return schedule
    try:
        step = parse_duration(post.stagger)
    except TimeSpecError as exc:
        checker.add(("stagger",), exc.message, exc.hint)
        return schedule
    if schedule.kind is ScheduleKind.AT and schedule.at is not None:
        return dataclasses.replace(schedule, at=schedule.at + step * copy_index)
    if schedule.kind is ScheduleKind.CRON:
        # Each cron time: the first account's copy at it, the next `stagger` later, and so on.
        return dataclasses.replace(schedule, offset=step * copy_index)
    # Waiting for a slot: the first account's copy takes one, the others follow it.
    first = copy_id(post, post.accounts[0])
    return dataclasses.replace(
        schedule, offset=step * copy_index, after_copy=first if copy_index else ""
    )


def _after(checker: Checker, value: str | int | None, where: tuple[str | int, ...]) -> timedelta:
    if value is None:
        return timedelta(0)
    try:
        return parse_duration(value)
    except TimeSpecError as exc:
        checker.add(where, exc.message, exc.hint)
        return timedelta(0)


def follow_ups(
    checker: Checker, post: Post, account: str, build_quote: BuildQuote
) -> tuple[FollowUp, ...]:
    """The post's boosts and quotes, each checked."""
    found: list[FollowUp] = []
    own = set(post.accounts) | {account}
    # Boosts and quotes of a post from several accounts follow the first account's copy only:
    # partners boosting every copy would repeat the message.
    copies = tuple(post.accounts)
    if post.boost is not None:
        base = (
            _after(checker, post.boost.after, ("boost", "after"))
            if post.boost.after is not None
            else DEFAULT_BOOST_AFTER
        )
        if not post.boost.by:
            checker.add(("boost", "by"), "no account to boost the post", "name at least one")
        for i, name in enumerate(post.boost.by):
            where: tuple[str | int, ...] = ("boost", "by", i)
            if not _known(checker, name, where):
                continue
            if name in own:
                checker.add(
                    where,
                    f"{name!r} publishes the post itself and cannot also boost it",
                    f"remove {name!r} from `boost.by`",
                )
                continue
            if any(f.account == name for f in found):
                checker.add(where, f"{name!r} is listed twice", "list each account once")
                continue
            after = base + BOOST_SPACING * len(found)
            found.append(
                FollowUp(FollowKind.BOOST, name, after, of_account=account, of_copies=copies)
            )
    for i, quote in enumerate(post.quote):
        where = ("quote", i)
        if not _known(checker, quote.by, (*where, "by")):
            continue
        after = (
            _after(checker, quote.after, (*where, "after"))
            if quote.after is not None
            else DEFAULT_QUOTE_AFTER
        )
        if not (quote.text or "").strip():
            checker.add(
                (*where, "text"),
                "a quote needs its own text",
                "add `text:` with what the quoting account says about the post",
            )
            continue
        supported = checker.ctx.limits_for(quote.by).quotes
        if supported is False:
            if quote.fallback == "link":
                checker.add(
                    (*where, "by"),
                    f"the instance of {quote.by!r} cannot publish quote posts (Mastodon 4.5+ "
                    "can); the quote goes out as a post with the link",
                    "nothing to do if that is what you want",
                    warning=True,
                )
            else:
                checker.add(
                    (*where, "by"),
                    f"the instance of {quote.by!r} cannot publish quote posts (Mastodon 4.5+ can)",
                    "add `fallback: link` to post the text with the post's link instead, or "
                    "remove the quote",
                )
                continue
        part = build_quote(quote, where, quote.by)
        if part is not None:
            found.append(
                FollowUp(
                    FollowKind.QUOTE,
                    quote.by,
                    after,
                    part,
                    fallback_link=quote.fallback == "link",
                    index=sum(
                        1 for f in found if f.kind is FollowKind.QUOTE and f.account == quote.by
                    ),
                    of_account=account,
                    of_copies=copies,
                )
            )
    return tuple(found)
