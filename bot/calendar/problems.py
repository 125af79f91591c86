"""Which validation problem belongs on which card: a post's warnings go on its card; an error
leaves its post out of the plan, so it is listed, with the problems of whole files, on its own."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from bot.core.posts import CampaignPost
from bot.core.problems import Problem, Severity

_PLACE = re.compile(r"^posts\[(\d+)\]")


def attach_problems(
    posts: Iterable[CampaignPost], problems: Sequence[Problem]
) -> tuple[dict[str, list[Problem]], list[Problem]]:
    """Warnings of posts in the campaign, by post id; and every other problem (errors of posts
    left out, problems of whole files), which the page lists on its own."""
    by_line: dict[tuple[str, int], str] = {}
    lines: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for post in posts:
        by_line[(str(post.file), post.line)] = post.id
        lines[str(post.file)].append((post.line, post.id))
    for entries in lines.values():
        entries.sort()
    # A post with an error is left out of the campaign: its place's problems stay apart.
    invalid = {
        (str(p.file), m[1])
        for p in problems
        if p.severity is Severity.ERROR and (m := _PLACE.match(p.where))
    }
    attached: dict[str, list[Problem]] = defaultdict(list)
    apart: list[Problem] = []
    for problem in problems:
        file = str(problem.file)
        owner: str | None = None
        place = _PLACE.match(problem.where)
        if place is not None and (file, place[1]) not in invalid:
            earlier = [pid for line, pid in lines.get(file, []) if line <= problem.line]
            owner = earlier[-1] if earlier else None
        elif place is None and problem.severity is Severity.WARNING:
            owner = by_line.get((file, problem.line))
        if owner is None:
            apart.append(problem)
        else:
            attached[owner].append(problem)
    return attached, apart
