"""A part as the files describe it, in the form the ledger remembers what went out."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from bot.core.posts import Part
from bot.core.published import MediaSnapshot, PartSnapshot, PollSnapshot

_CHUNK = 1 << 20


def file_digest(media_path: Path) -> str:
    """sha256 of a media file's content; "missing" when it cannot be read."""
    try:
        info = media_path.stat()
    except OSError:
        return "missing"
    # The running bot compares published posts with their files every few minutes: a file
    # whose size and modification time are unchanged is not read again.
    return _digest(media_path, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _digest(media_path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    try:
        with media_path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return "missing"
    return digest.hexdigest()


def snapshot_of(part: Part) -> PartSnapshot:
    poll = part.poll
    return PartSnapshot(
        text=part.text,
        spoiler_text=part.spoiler_text,
        hashtags=part.hashtags,
        media=tuple(MediaSnapshot(m.name, file_digest(m.path), m.alt, m.focus) for m in part.media),
        poll=None
        if poll is None
        else PollSnapshot(poll.options, poll.expires_in, poll.multiple, poll.hide_totals),
        sensitive=part.sensitive,
        language=part.language,
        visibility=part.visibility,
    )
