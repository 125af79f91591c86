"""The instance's JSON read into the bot's plain types; anything unreadable is transient."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.mastodon.html import plain_text_from_html
from bot.mastodon.types import RemoteMedia, RemoteStatus, TransientError


def utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a time: {value!r}")
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def remote_media(media: Mapping[str, Any]) -> RemoteMedia:
    focus = ((media.get("meta") or {}).get("focus")) or {}
    point = (float(focus["x"]), float(focus["y"])) if "x" in focus and "y" in focus else None
    return RemoteMedia(
        type=str(media.get("type") or ""),
        url=str(media.get("url") or media.get("preview_url") or ""),
        description=str(media.get("description") or ""),
        focus=point,
        id=str(media.get("id") or ""),
    )


def remote_status(status: Mapping[str, Any]) -> RemoteStatus:
    try:
        reply_to = status.get("in_reply_to_id")
        poll = status.get("poll") or {}
        quotes = status.get("quotes_count")
        return RemoteStatus(
            id=str(status["id"]),
            url=str(status.get("url") or status.get("uri") or ""),
            created_at=utc(status["created_at"]),
            plain_text=plain_text_from_html(str(status.get("content") or "")),
            spoiler_text=str(status.get("spoiler_text") or ""),
            in_reply_to_id=None if reply_to is None else str(reply_to),
            media_count=len(status.get("media_attachments") or ()),
            has_poll=status.get("poll") is not None,
            visibility=str(status.get("visibility") or ""),
            sensitive=bool(status.get("sensitive")),
            language=status.get("language"),
            media=tuple(remote_media(m) for m in status.get("media_attachments") or ()),
            poll_options=tuple(str(o.get("title", "")) for o in poll.get("options") or ()),
            poll_multiple=bool(poll.get("multiple")),
            poll_expires_at=utc(poll["expires_at"]) if poll.get("expires_at") else None,
            favourites=int(status.get("favourites_count") or 0),
            boosts=int(status.get("reblogs_count") or 0),
            replies=int(status.get("replies_count") or 0),
            quotes=None if quotes is None else int(quotes),
            edited_at=utc(status["edited_at"]) if status.get("edited_at") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TransientError(f"the instance sent a status that cannot be read ({exc!r})") from exc
