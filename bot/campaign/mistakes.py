"""Likely mistakes: a post that is valid, but almost certainly not what its writer meant.

Each was seen in real campaigns and went out silently: links Mastodon does not make clickable,
a cron typo that posts every minute, a `not_after` window that makes a post always missed, a
date without a time, a direct message to nobody. Most are warnings (`--strict` makes them
errors); one that can only ever fail is an error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.campaign.charcount import find_bare_links, find_mentions
from bot.campaign.rules import PostChecker
from bot.campaign.schema import Post
from bot.core.posts import CampaignPost
from bot.core.timespec import to_zone

_DATE_ONLY = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_CRON_PART = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")


def check_likely_mistakes(checker: PostChecker, post: Post, built: CampaignPost | None) -> None:
    """Add the problems of `post` (and of what it was built into, if it was valid) to `checker`."""
    _bare_links(checker, ("text",), post.text)
    for index, reply in enumerate(post.thread):
        _bare_links(checker, ("thread", index, "text"), reply.text)
    if post.at is not None and _DATE_ONLY.fullmatch(post.at.strip()):
        checker.add(
            ("at",),
            f"{post.at.strip()!r} has no time, so the post goes out at midnight (00:00)",
            f"add the time you mean, e.g. `{post.at.strip()} 09:30`",
            warning=True,
        )
    if post.cron is not None:
        _cron_rate(checker, post.cron)
    if built is not None:
        _not_after(checker, built)
        first = built.parts[0]
        if first.visibility == "direct" and not find_mentions(first.text):
            checker.add(
                ("visibility",),
                "a `direct` post reaches only the accounts it mentions, and this one mentions "
                "nobody",
                "add an @mention, or use `private` for your followers",
                warning=True,
            )


def _bare_links(checker: PostChecker, where: tuple[str | int, ...], text: str | None) -> None:
    for link in find_bare_links(text or ""):
        checker.add(
            where,
            f"{link!r} has no https://, so Mastodon shows it as plain text, not a link",
            f"add https:// (`https://{link}`)",
            warning=True,
        )


def minutes_per_hour(cron: str) -> int | None:
    """How many times an hour the cron expression fires in the hours it fires at all, from its
    minute field; None if the field cannot be read (the cron check reports that)."""
    fields = cron.split()
    if len(fields) != 5:
        return None
    minutes: set[int] = set()
    for part in fields[0].split(","):
        match = _CRON_PART.fullmatch(part)
        if match is None:
            return None
        first, last, step = match.groups()
        if first == "*":
            if last is not None:
                return None
            low, high = 0, 59
        else:
            low = int(first)
            high = int(last) if last is not None else (59 if step is not None else low)
        minutes.update(range(low, min(high, 59) + 1, int(step) if step else 1))
    return len(minutes)


def _cron_rate(checker: PostChecker, cron: str) -> None:
    times = minutes_per_hour(cron)
    if times is None or times <= 1:
        return
    example = "0 " + cron.split(None, 1)[1]
    checker.add(
        ("cron",),
        f"{cron!r} fires {times} times an hour",
        "a post repeated more often than hourly floods followers: write the one minute you "
        f"mean (e.g. `{example}`)",
        warning=True,
    )


def _not_after(checker: PostChecker, post: CampaignPost) -> None:
    limit, at = post.not_after, post.schedule.at
    if isinstance(limit, timedelta) and limit <= timedelta(0):
        checker.add(
            ("not_after",),
            "a window of 0 leaves no time to send the post, so it would always be recorded as "
            "missed",
            "give a duration such as `1h`",
        )
    elif isinstance(limit, datetime) and at is not None and limit <= at:
        zone = checker.ctx.zone
        checker.add(
            ("not_after",),
            f"{to_zone(limit, zone)} is not after the planned time ({to_zone(at, zone)}), so "
            "the post would always be recorded as missed",
            "give a later time, or a duration such as `2h`",
        )
