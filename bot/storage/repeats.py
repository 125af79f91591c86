"""Has this content already gone out from this ledger under another post id? A renamed post must
not be published a second time as if it were new."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.ledger import Ledger
from bot.storage.records import from_text, to_text

# Content published under another post id this recently is held back unless `repeat: true`.
REPEATS = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class EarlierPost:
    key: str
    post_id: str
    published_at: datetime
    url: str | None


def published_with_content(
    ledger: Ledger, content_hash: str, *, other_than: str, since: datetime
) -> EarlierPost | None:
    """The latest occurrence of another post with this content, published after `since`."""
    if not content_hash:
        return None
    with ledger.transaction(write=False) as conn:
        row = conn.execute(
            "SELECT o.key, o.post_id, o.published_at, "
            "(SELECT url FROM parts WHERE occurrence_key = o.key AND idx = 0) "
            "FROM occurrences o WHERE o.state = 'published' AND o.content_hash = ? "
            "AND o.post_id != ? AND o.published_at >= ? ORDER BY o.published_at DESC LIMIT 1",
            (content_hash, other_than, to_text(since)),
        ).fetchone()
    if row is None:
        return None
    key, post_id, published_at, url = row
    return EarlierPost(key, post_id, from_text(published_at), url)


def held_back(ledger: Ledger, post_id: str, content_hash: str, now: datetime) -> str | None:
    """Why this post must not go out (its content already did, as another post), or None."""
    earlier = published_with_content(ledger, content_hash, other_than=post_id, since=now - REPEATS)
    if earlier is None:
        return None
    return (
        f"held back: the same content (text, content warning, media) went out as {earlier.key} "
        f"at {earlier.published_at:%Y-%m-%d %H:%M} UTC ({earlier.url}); was the post renamed? "
        "Add `repeat: true` to it to publish it again on purpose"
    )
