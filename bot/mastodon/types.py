"""What the bot says to Mastodon and hears back: plain request and result types, and the
failures sorted into "try again later" and "this will not work as it is".

`bot.mastodon.client` is the one module that talks to the instance; these types carry no
dependency on Mastodon.py, so the rest of the bot can use them without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.errors import TRY_AGAIN_LATER, CampaignBotError


class ApiError(CampaignBotError):
    """The instance did not do what was asked; `str()` is one line for the operator."""

    def __init__(
        self, message: str, *, http_status: int | None = None, server_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.server_message = server_message


class TransientError(ApiError):
    """Worth trying again later (network, timeouts, 5xx, garbled answers)."""

    exit_code = TRY_AGAIN_LATER

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        server_message: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, server_message=server_message)
        self.retry_at = retry_at


class RateLimited(TransientError):
    """429: the rate limit is used up until `retry_at` (when the server said)."""


class MediaNotReady(TransientError):
    """The instance is still processing an upload."""


class PermanentError(ApiError):
    """The instance refused the request as it is; repeating it will not help."""


class NotFound(PermanentError):
    """404: e.g. the post to reply to is gone."""


class AuthError(ApiError):
    """401/403: the token is invalid or revoked, lacks a scope, or the account may not act."""


class TokenRefused(AuthError):
    """401: the token is wrong, revoked or expired. Publishing pauses until it works again."""


class ScopeMissing(AuthError):
    """403 for a scope the token lacks; `scope` names it when the request tells which."""

    def __init__(self, message: str, *, scope: str | None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.scope = scope


class MediaFailed(PermanentError):
    """The upload was rejected or the instance could not process it."""


@dataclass(frozen=True, slots=True)
class PollRequest:
    options: tuple[str, ...]
    expires_in: int
    multiple: bool
    hide_totals: bool


@dataclass(frozen=True, slots=True)
class StatusRequest:
    text: str
    spoiler_text: str | None
    sensitive: bool
    visibility: str | None
    language: str | None
    media_ids: tuple[str, ...] = ()
    poll: PollRequest | None = None
    in_reply_to_id: str | None = None
    # Mastodon 4.5+ quote posts: the status this one quotes, as its id on this instance.
    quoted_status_id: str | None = None


@dataclass(frozen=True, slots=True)
class MediaRequest:
    path: Path
    mime_type: str
    description: str
    focus: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class MediaEdit:
    """An attachment an edit keeps (or adds), with the alt text and focus it is to have."""

    id: str
    description: str
    focus: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class EditRequest:
    """A whole status as it is to be after `PUT /api/v1/statuses/:id`, which replaces it all:
    media, poll and content warning left out are removed, not kept."""

    text: str
    spoiler_text: str | None
    sensitive: bool
    media: tuple[MediaEdit, ...] = ()
    poll: PollRequest | None = None
    language: str | None = None  # None: the status keeps the language it has


@dataclass(frozen=True, slots=True)
class RemoteMedia:
    type: str
    url: str
    description: str
    focus: tuple[float, float] | None
    id: str = ""


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    id: str
    url: str
    created_at: datetime
    plain_text: str
    spoiler_text: str
    in_reply_to_id: str | None
    media_count: int
    has_poll: bool
    visibility: str
    sensitive: bool = False
    language: str | None = None
    media: tuple[RemoteMedia, ...] = ()
    poll_options: tuple[str, ...] = ()
    poll_multiple: bool = False
    poll_expires_at: datetime | None = None
    favourites: int = 0
    boosts: int = 0
    replies: int = 0
    quotes: int | None = None  # Mastodon 4.5+ counts quotes; older servers do not say
    edited_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    username: str
    acct: str
    url: str


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version: str
    software: str
    honours_idempotency_keys: bool
    v2: dict[str, Any] | None
    v1: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    remaining: int
    reset_at: datetime
