"""Why a post failed, in words an operator can act on: the post, the part (counted from 1, as
people count) and what to do about it."""

from __future__ import annotations

from bot.core.posts import Part
from bot.mastodon.types import ApiError, AuthError, MediaFailed, NotFound
from bot.schedule.planner import Occurrence


def part_name(occurrence: Occurrence, part: Part) -> str:
    """ "launch", or "launch, part 2 of 3 (reply 1)"."""
    total = len(occurrence.post.parts)
    if total == 1:
        return occurrence.key
    role = "the post" if part.index == 0 else f"reply {part.index}"
    return f"{occurrence.key}, part {part.index + 1} of {total} ({role})"


def explain(exc: ApiError, occurrence: Occurrence, part: Part, *, thread_started: bool) -> str:
    """The reason a permanent refusal of `part` gives; `thread_started`: earlier parts are out."""
    where = part_name(occurrence, part)
    retry = f"`campaign-bot retry {occurrence.key}`"
    if isinstance(exc, NotFound) and thread_started:
        return (
            f"{where}: {exc} — the earlier part of the thread is gone from the instance "
            "(deleted?); the rest cannot be posted under it: post the remaining replies by hand "
            "if they should still go out"
        )
    if isinstance(exc, MediaFailed):
        files = ", ".join(m.name for m in part.media) or "its media"
        return (
            f"{where}: {exc} — check the file ({files}): its type, size and that it opens; fix "
            f"or replace it in the post file, then {retry}"
        )
    if isinstance(exc, AuthError):
        # The text already says what to do with the account or the token's scopes.
        return f"{where}: {exc}; then {retry}"
    return f"{where}: {exc} — change the post in its file so the instance accepts it, then {retry}"
