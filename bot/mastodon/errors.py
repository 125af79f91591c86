"""Failures sorted: every answer the instance gives, turned into an ApiError subclass with one
line that says what happened and what to do."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from datetime import UTC, datetime
from urllib.parse import SplitResult, urlsplit

import requests

from bot.mastodon.parse import utc
from bot.mastodon.types import (
    ApiError,
    AuthError,
    MediaNotReady,
    NotFound,
    PermanentError,
    RateLimited,
    ScopeMissing,
    TokenRefused,
    TransientError,
)

_NOT_JSON = re.compile(r"response code was (\d+)")
_ERRNO = re.compile(r"^\[Errno -?\d+\] ")
_MAX_DETAIL = 300
# Every other 5xx (500, 502–504, proxies' 520–524) may pass, and a timed-out POST may even
# have succeeded; these two say the request itself will never be served.
_NEVER_SERVED = (501, 505)
_AUTH_HINT_401 = (
    "the token is wrong, revoked or expired; create a new one under Preferences → Development "
    "and put it in the configuration"
)
_AUTH_HINT_SCOPE = (
    "give the application the scopes write:statuses, write:media, read:accounts and "
    "read:statuses under Preferences → Development, then use its regenerated token"
)
_AUTH_HINT_403 = "the account may not do this; check it in the web interface or ask the admins"


# The scope each request needs, from the words that describe it.
_SCOPES = (
    ("media", "write:media"),
    ("the post", "write:statuses"),
    ("account check", "read:accounts"),
    ("account's posts", "read:statuses"),
)


def scope_for(what: str) -> str | None:
    return next((scope for words, scope in _SCOPES if words in what), None)


def reset_time(value: str | None) -> datetime | None:
    if not value:
        return None
    value = value.strip()
    try:
        # GoToSocial sends a Unix time; Mastodon ISO 8601 with microseconds (Rack::Attack).
        return datetime.fromtimestamp(int(value), UTC) if value.isdigit() else utc(value)
    except (ValueError, OverflowError):
        return None


def error_field(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("error") if isinstance(body, dict) else None
    return message if isinstance(message, str) else None


def clean(text: str, token: str) -> str:
    """One line, bounded, and never the token (servers and proxies may echo requests)."""
    if token:
        text = text.replace(token, "[token]")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def classify(
    status: int,
    message: str | None,
    reason: str | None,
    what: str,
    *,
    token: str,
    retry_at: datetime | None,
    permanent: type[PermanentError] = PermanentError,
) -> ApiError:
    """The error for an HTTP answer `status` to the request described by `what`."""
    message = clean(message, token) if message else None
    detail = message or clean(reason or "", token) or "no message"
    if status == 429:
        when = f"it resets at {retry_at.isoformat()}" if retry_at else "try again later"
        text = f"the instance's rate limit was reached for {what} (429): {detail}; {when}"
        return RateLimited(text, http_status=429, server_message=message, retry_at=retry_at)
    cls: type[ApiError] = AuthError
    if status == 401:
        text = f"the instance rejected the access token (401): {detail} — {_AUTH_HINT_401}"
        return TokenRefused(text, http_status=status, server_message=message)
    elif status == 403 and "scope" in detail.lower():
        scope = scope_for(what)
        named = f"the scope {scope}" if scope else "a scope"
        text = f"the access token lacks {named} needed for {what} (403): {detail}"
        text += f" — {_AUTH_HINT_SCOPE}"
        return ScopeMissing(text, scope=scope, http_status=status, server_message=message)
    elif status == 403:
        text = f"the instance refused {what} for this account (403): {detail}"
        text += f" — {_AUTH_HINT_403}"
    elif status == 422 and "finished processing" in detail.lower():
        cls = MediaNotReady
        text = f"the instance has not finished processing the media for {what} (422): {detail}"
    elif status >= 500 and status not in _NEVER_SERVED:
        cls = TransientError
        text = f"the instance had a temporary problem with {what} ({status}): {detail}"
    else:
        cls = NotFound if status == 404 and permanent is PermanentError else permanent
        text = f"the instance rejected {what} ({status}): {detail}"
    return cls(text, http_status=status, server_message=message)


def network_error(
    exc: BaseException, what: str, base_url: str = "", *, timeout: float, token: str
) -> TransientError:
    """A request that got no answer: always worth trying again."""
    if isinstance(exc, requests.Timeout):
        return TransientError(
            f"the instance did not answer {what} within {timeout:g} s; "
            "it may have been carried out anyway"
        )
    detail = clean(_why_unreachable(exc, urlsplit(base_url)), token)
    return TransientError(f"could not reach the instance for {what}: {detail}")


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and everything behind it, outermost first: requests wraps urllib3's errors, which
    wrap the operating system's."""
    found: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        behind = [getattr(current, "reason", None), current.__cause__, current.__context__]
        behind += list(current.args)
        todo += [b for b in behind if isinstance(b, BaseException)]
    return found


def _why_unreachable(exc: BaseException, address: SplitResult) -> str:
    """The reason in a few words, from the innermost error that says it."""
    causes = _causes(exc)
    where = address.netloc or "the instance"
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            name = address.hostname or "of the instance"
            return f"the name {name} was not found (DNS); check the instance's address"
        if isinstance(cause, ConnectionRefusedError):
            return f"{where} refused the connection"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the certificate of {where} is not valid: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"the secure connection to {where} failed: {cause.reason or cause}"
        if isinstance(cause, ConnectionResetError):
            return f"{where} reset the connection"
        if isinstance(cause, http.client.RemoteDisconnected):
            return f"{where} closed the connection without answering"
    # Otherwise the innermost message, which is the most specific one.
    for cause in reversed(causes):
        text = str(cause)
        if text and "object at 0x" not in text:
            return _ERRNO.sub("", text)
    return type(exc).__name__


def not_json(what: str, status: int | None) -> TransientError:
    return TransientError(
        f"the instance answered {what} with something that is not JSON ({status})",
        http_status=status,
    )


def status_in_text(text: str) -> int | None:
    """Mastodon.py's error for a body that is not JSON names the status only in its text."""
    found = _NOT_JSON.search(text)
    return int(found[1]) if found else None
