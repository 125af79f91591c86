"""Plain HTTP for what Mastodon.py leaves out: the anonymous instance document and the
rate-limit headers of every answer. Mastodon.py itself is imported only by `client`."""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests

from bot.mastodon.errors import classify, error_field, network_error, reset_time
from bot.mastodon.types import RateLimit, TransientError

logger = logging.getLogger(__name__)


def instance_document(
    session: requests.Session, url: str, *, user_agent: str, timeout: float, token: str
) -> dict[str, Any]:
    """GET one instance document (`/api/v2/instance` or `/api/v1/instance`) without the token."""
    what = "the instance information request"
    try:
        # The no-op auth keeps requests from adding ~/.netrc credentials.
        response = session.get(
            url, headers={"User-Agent": user_agent}, timeout=timeout, auth=lambda r: r
        )
    except requests.RequestException as exc:
        raise network_error(exc, what, url, timeout=timeout, token=token) from exc
    if not response.ok:
        raise classify(
            response.status_code,
            error_field(response),
            response.reason,
            what,
            token=token,
            retry_at=reset_time(response.headers.get("X-RateLimit-Reset"))
            if response.status_code == 429
            else None,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransientError(
            f"the instance answered {what} with something that is not JSON "
            f"({response.status_code})",
            http_status=response.status_code,
        )
    return body


def rate_limit_of(headers: Mapping[str, str]) -> RateLimit | None:
    """The X-RateLimit-* report of one answer, if it has a whole one."""
    reset_at = reset_time(headers.get("X-RateLimit-Reset"))
    try:
        limit = int(headers.get("X-RateLimit-Limit", ""))
        remaining = int(headers.get("X-RateLimit-Remaining", ""))
    except ValueError:
        return None
    return None if reset_at is None else RateLimit(limit, remaining, reset_at)


def date_of(headers: Mapping[str, str]) -> datetime | None:
    """The instance's clock, from an answer's Date header; None when it has none we can use."""
    header = headers.get("Date")
    if header is None:
        return None
    try:
        served: datetime | None = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        served = None
    # `-0000` (RFC 5322: "zone unknown") and two Date headers joined by a proxy parse as a naive
    # time, which cannot be compared with ours.
    if served is None or served.tzinfo is None or served.utcoffset() is None:
        logger.debug("ignoring the instance's clock: unusable Date header %r", header)
        return None
    return served
