"""Is this status on the instance that part of a campaign post? Used to find an earlier attempt
before sending again, and to rebuild a lost ledger from the account's own posts."""

from __future__ import annotations

import regex

from bot.core.posts import Part
from bot.mastodon.types import RemoteStatus

_REMOTE_MENTION = regex.compile(r"(?<![\w/=])(@[\w.-]+)@[\w.-]+\w")
_SPACE = regex.compile(r"\s+")


def comparable(text: str) -> str:
    # The instance shows a remote mention as @user, without its domain; spacing differs in HTML.
    return _SPACE.sub("", _REMOTE_MENTION.sub(r"\1", text)).casefold()


def is_part(status: RemoteStatus, part: Part, parent: str | None) -> bool:
    """The same text (hashtags included), content warning, media count and thread position."""
    return (
        status.in_reply_to_id == parent
        and (status.spoiler_text or None) == part.spoiler_text
        and status.media_count == len(part.media)
        and comparable(status.plain_text) == comparable(part.text)
    )
