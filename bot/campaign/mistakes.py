"""Likely mistakes: a post that is valid, but almost certainly not what its writer meant.

Each of these passed validation silently before: links Mastodon does not make clickable,
a cron typo that posts every minute, a `not_after` window that makes a post always missed, a
date without a time, a direct message to nobody. Most are warnings (`--strict` makes them
errors); one that can only ever fail is an error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise

from bot.campaign.charcount import find_bare_links, find_mentions
from bot.campaign.rules import PostChecker
from bot.campaign.schema import Post
from bot.campaign.yamlsource import Position
from bot.core.posts import CampaignPost
from bot.core.problems import Problem, Severity, dotted
from bot.core.timespec import to_zone

_DATE_ONLY = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_CRON_PART = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")
_LINK_START = re.compile(r"[a-z][a-z0-9+.-]*://|www\.")

# Where the text of a `|` block at this path (below the post) starts, or None.
LiteralBlock = Callable[[tuple[str | int, ...]], Position | None]


def check_likely_mistakes(
    checker: PostChecker,
    post: Post,
    built: CampaignPost | None,
    literal_block: LiteralBlock | None = None,
) -> None:
    """Add the problems of `post` (and of what it was built into, if it was valid) to `checker`."""
    texts: list[tuple[tuple[str | int, ...], str | None]] = [(("text",), post.text)]
    texts += [(("thread", i, "text"), reply.text) for i, reply in enumerate(post.thread)]
    for where, text in texts:
        block = literal_block(where) if literal_block is not None and text else None
        _bare_links(checker, where, text, block)
        if block is not None and text is not None:
            _hard_wraps(checker, where, text, block)
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


def _bare_links(
    checker: PostChecker, where: tuple[str | int, ...], text: str | None, block: Position | None
) -> None:
    searched = 0
    for link in find_bare_links(text or ""):
        message = f"{link!r} has no https://, so Mastodon shows it as plain text, not a link"
        hint = f"add https:// (`https://{link}`)"
        if block is None or text is None:
            checker.add(where, message, hint, warning=True)
            continue
        # In a `|` block every line of the text is a line of the file: name the link's own.
        at = text.index(link, searched)
        searched = at + len(link)
        line = text.count("\n", 0, at)
        column = at - (text.rfind("\n", 0, at) + 1)
        checker.problems.append(
            Problem(
                checker.display,
                block.line + line,
                _indent(text, block) + column + 1,
                dotted((*checker.prefix, *where)),
                message,
                hint,
                Severity.WARNING,
            )
        )


def _indent(text: str, block: Position) -> int:
    """The column (from 0) the lines of a `|` block start at. An explicit indentation indicator
    (`|2`) leaves spaces of the first line in the value, and the reader counted them."""
    written = next(line for line in text.split("\n") if line.strip())
    return block.column - 1 - (len(written) - len(written.lstrip(" ")))


def sentence_breaks(text: str) -> list[int]:
    """The lines (from 0) after which a line break falls inside a sentence: the line ends in a
    letter or digit, and the next one starts with a lower-case letter (and is not a link)."""
    lines = text.split("\n")
    found = []
    for index, (line, after) in enumerate(pairwise(lines)):
        end, start = line.rstrip(), after.lstrip()
        if not end or not start or _LINK_START.match(start):
            continue
        if unicodedata.category(end[-1])[0] in "LN" and unicodedata.category(start[0]) == "Ll":
            found.append(index)
    return found


def _hard_wraps(
    checker: PostChecker, where: tuple[str | int, ...], text: str, block: Position
) -> None:
    """A `|` block keeps the writer's line breaks: one in mid-sentence goes out as it is."""
    breaks = sentence_breaks(text)
    if not breaks:
        return
    lines = text.split("\n")
    indent = _indent(text, block) + 1
    first = breaks[0]
    end, start = lines[first].rstrip(), lines[first + 1].strip()
    more = f" (and {len(breaks) - 1} more)" if len(breaks) > 1 else ""
    # The place is the end of the line whose break is wrong, not the start of the text.
    checker.problems.append(
        Problem(
            checker.display,
            block.line + first,
            indent + len(end),
            dotted((*checker.prefix, *where)),
            f"a line break in mid-sentence, after “{_tail(end)}” and before “{_head(start)}”"
            f"{more}: a `|` block keeps every line break, and the post goes out with them",
            "use `>` or join the lines",
            Severity.WARNING,
        )
    )


def _tail(line: str, size: int = 30) -> str:
    return line if len(line) <= size else "…" + line[-size:]


def _head(line: str, size: int = 30) -> str:
    return line if len(line) <= size else line[:size] + "…"


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
