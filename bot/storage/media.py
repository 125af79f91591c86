"""Media ids in the ledger: each upload is recorded (per occurrence, part and attachment) before
the status that uses it is sent, so a retry — in this run or after a crash or a restart — attaches
the same upload instead of uploading the file again.

Mastodon deletes media that no status uses about a day after the upload, so an id older than
`MEDIA_KEPT` is treated as gone, and the caller forgets an id the instance no longer knows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.ledger import Ledger
from bot.storage.records import from_text, to_text

# The instance removes unattached media after a day (Vacuum::MediaAttachmentsVacuum); stop
# trusting an id well before that.
MEDIA_KEPT = timedelta(hours=20)


@dataclass(frozen=True, slots=True)
class UploadedMedia:
    position: int
    media_id: str
    uploaded_at: datetime


def record_upload(ledger: Ledger, key: str, part: int, position: int, media_id: str) -> None:
    """Remember that attachment `position` of part `part` of `key` is uploaded as `media_id`."""
    now = ledger.now()
    with ledger.transaction(write=True) as conn:
        conn.execute(
            "INSERT INTO media (occurrence_key, part_idx, position, media_id, uploaded_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (occurrence_key, part_idx, position) "
            "DO UPDATE SET media_id = excluded.media_id, uploaded_at = excluded.uploaded_at",
            (key, part, position, media_id, to_text(now)),
        )
        conn.execute(
            "INSERT INTO events (at, occurrence_key, part_idx, kind, detail) "
            "VALUES (?, ?, ?, 'media-uploaded', ?)",
            (to_text(now), key, part, f"attachment {position}: media {media_id}"),
        )


def usable_uploads(ledger: Ledger, key: str, part: int) -> dict[int, UploadedMedia]:
    """The uploads of this part the instance should still hold, by attachment position."""
    since = ledger.now() - MEDIA_KEPT
    with ledger.transaction(write=False) as conn:
        rows = conn.execute(
            "SELECT position, media_id, uploaded_at FROM media "
            "WHERE occurrence_key = ? AND part_idx = ? ORDER BY position",
            (key, part),
        ).fetchall()
    found = (UploadedMedia(pos, mid, from_text(at)) for pos, mid, at in rows)
    return {m.position: m for m in found if m.uploaded_at > since}


def forget_uploads(ledger: Ledger, key: str, part: int, reason: str) -> None:
    """The instance no longer has these uploads (or refused them): upload the files again."""
    now = to_text(ledger.now())
    with ledger.transaction(write=True) as conn:
        deleted = conn.execute(
            "DELETE FROM media WHERE occurrence_key = ? AND part_idx = ?", (key, part)
        ).rowcount
        if deleted:
            conn.execute(
                "INSERT INTO events (at, occurrence_key, part_idx, kind, detail) "
                "VALUES (?, ?, ?, 'media-forgotten', ?)",
                (now, key, part, reason),
            )


def uploads_since(
    ledger: Ledger, since: datetime, keys: Callable[[str], bool] | None = None
) -> list[datetime]:
    """When each upload after `since` was made (for the occurrences `keys` accepts, or all):
    the media pacing carries over restarts."""
    with ledger.transaction(write=False) as conn:
        rows = conn.execute(
            "SELECT occurrence_key, at FROM events WHERE kind = 'media-uploaded' AND at > ? "
            "ORDER BY at",
            (to_text(since),),
        ).fetchall()
    return [from_text(r[1]) for r in rows if keys is None or keys(r[0])]
