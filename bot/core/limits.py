"""The limits a post must fit: read from the instance, cached, overridable, with sane defaults.

Precedence: `limits:` in the config, then the instance's own answer (or its cached copy when the
instance cannot be reached), then Mastodon's defaults.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any

from bot.core.versions import mastodon_at_least, software_of

logger = logging.getLogger(__name__)

# Mastodon's supported types (MediaAttachment.supported_mime_types, 4.x).
DEFAULT_MIME_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wave",
    "audio/vnd.wave",
    "audio/ogg",
    "audio/vorbis",
    "audio/mpeg",
    "audio/mp3",
    "audio/webm",
    "audio/flac",
    "audio/aac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
    "audio/3gpp",
    "video/x-ms-asf",
)


@dataclass(frozen=True, slots=True)
class InstanceLimits:
    max_characters: int = 500
    max_media_attachments: int = 4
    characters_reserved_per_url: int = 23
    # Before Mastodon 4.4 the field is absent and the limit is 1,500 (10,000 from 4.6).
    description_limit: int = 1500
    supported_mime_types: tuple[str, ...] = DEFAULT_MIME_TYPES
    image_size_limit: int = 16 * 1024 * 1024
    video_size_limit: int = 99 * 1024 * 1024
    poll_max_options: int = 4
    poll_max_characters_per_option: int = 50
    poll_min_expiration: int = 300
    poll_max_expiration: int = 2_629_746
    # Media and a poll on one post: Mastodon 4.6.0 and later only.
    poll_with_media: bool = False
    max_thread_length: int = 25
    # The server software (bot.core.versions.software_of): it decides how characters are counted.
    software: str = "mastodon"
    # Quote posts (`quoted_status_id`, Mastodon 4.5+, API version 7); None when not known.
    quotes: bool | None = None

    def with_overrides(self, overrides: dict[str, Any]) -> InstanceLimits:
        known = {f.name for f in fields(self)}
        clean: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v)
            for k, v in overrides.items()
            if k in known and v is not None
        }
        return replace(self, **clean)


@dataclass(frozen=True, slots=True)
class LimitsReport:
    limits: InstanceLimits
    source: str  # one line for the operator: where these numbers came from


def from_instance_document(v2: dict[str, Any] | None, v1: dict[str, Any] | None) -> InstanceLimits:
    """Read the posting limits out of `/api/v2/instance` (or the older `/api/v1/instance`)."""
    doc = v2 if v2 and isinstance(v2.get("configuration"), dict) else v1 or {}
    config = doc.get("configuration") or {}
    statuses = config.get("statuses") or {}
    media = config.get("media_attachments") or {}
    polls = config.get("polls") or {}
    base = InstanceLimits()
    version = str((v2 or {}).get("version") or (v1 or {}).get("version") or "")

    def pick(section: dict[str, Any], key: str, default: Any) -> Any:
        value = section.get(key)
        return (
            value
            if isinstance(value, int) and not isinstance(value, bool) and value > 0
            else default
        )

    # Pleroma and Akkoma publish their limits under other names, outside `configuration`.
    max_chars = pick(statuses, "max_characters", pick(doc, "max_toot_chars", base.max_characters))
    poll_limits: dict[str, Any] = doc.get("poll_limits") or {}
    if not isinstance(poll_limits, dict):
        poll_limits = {}
    mimes = media.get("supported_mime_types")
    return InstanceLimits(
        max_characters=max_chars,
        max_media_attachments=pick(statuses, "max_media_attachments", base.max_media_attachments),
        characters_reserved_per_url=pick(
            statuses, "characters_reserved_per_url", base.characters_reserved_per_url
        ),
        description_limit=pick(
            media, "description_limit", pick(doc, "description_limit", base.description_limit)
        ),
        supported_mime_types=tuple(mimes)
        if isinstance(mimes, list) and mimes
        else base.supported_mime_types,
        image_size_limit=pick(
            media, "image_size_limit", pick(doc, "upload_limit", base.image_size_limit)
        ),
        video_size_limit=pick(
            media, "video_size_limit", pick(doc, "upload_limit", base.video_size_limit)
        ),
        poll_max_options=pick(
            polls, "max_options", pick(poll_limits, "max_options", base.poll_max_options)
        ),
        poll_max_characters_per_option=pick(
            polls,
            "max_characters_per_option",
            pick(poll_limits, "max_option_chars", base.poll_max_characters_per_option),
        ),
        poll_min_expiration=pick(
            polls, "min_expiration", pick(poll_limits, "min_expiration", base.poll_min_expiration)
        ),
        poll_max_expiration=pick(
            polls, "max_expiration", pick(poll_limits, "max_expiration", base.poll_max_expiration)
        ),
        poll_with_media=mastodon_at_least(version, (4, 6)),
        software=software_of(version) if version else base.software,
        quotes=_quotes(v2, version) if version else None,
    )


def _quotes(v2: dict[str, Any] | None, version: str) -> bool:
    api = (v2 or {}).get("api_versions")
    level = api.get("mastodon") if isinstance(api, dict) else None
    if isinstance(level, int) and not isinstance(level, bool):
        return level >= 7
    return mastodon_at_least(version, (4, 5))
