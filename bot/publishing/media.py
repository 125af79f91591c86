"""A part's media on the instance: uploaded once, recorded in the ledger before the status that
uses them is sent, and uploaded again only when the instance no longer has them."""

from __future__ import annotations

from bot.core.posts import Part
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import MediaRequest, NotFound, PermanentError
from bot.publishing.pacing import Pacer
from bot.storage.ledger import Ledger
from bot.storage.media import record_upload, usable_uploads


def upload_media(
    ledger: Ledger, client: MastodonClient, pacer: Pacer, key: str, part: Part
) -> tuple[tuple[str, ...], bool]:
    """The part's media ids, uploading only what the ledger has no usable upload of; and
    whether any was reused. Each upload is recorded before the status uses it, so a retry, in
    this run or after a crash, attaches it instead of uploading the file again."""
    stored = usable_uploads(ledger, key, part.index)
    ids: list[str] = []
    for position, media in enumerate(part.media):
        known = stored.get(position)
        if known is not None:
            ids.append(known.media_id)
            continue
        pacer.wait_for("media")
        media_id = client.upload_media(
            MediaRequest(media.path, media.mime_type, media.alt, media.focus)
        )
        record_upload(ledger, key, part.index, position, media_id)
        ids.append(media_id)
    return tuple(ids), any(p in stored for p in range(len(part.media)))


def media_gone(exc: PermanentError) -> bool:
    """Whether the instance refused the status because an attached media id is unknown to it:
    a 404, or Mastodon's 422 "Media … not found or already attached to another post"."""
    said = (exc.server_message or str(exc)).casefold()
    if isinstance(exc, NotFound):
        return "reply" not in said
    return exc.http_status == 422 and "not found" in said and "media" in said
