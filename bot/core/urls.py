"""Which instance addresses may carry a token."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(url: str) -> bool:
    """Plain http is refused except on this machine (a sandbox or a local test server)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_instance_reason(url: str) -> str | None:
    """Why the token must not be sent to `url`, or None when it may be."""
    if url.startswith("https://") or (url.startswith("http://") and is_loopback(url)):
        return None
    if url.startswith("http://"):
        return (
            "plain http:// would send the access token unencrypted; use the instance's "
            "https:// address (http:// is allowed only for 127.0.0.1, ::1 and localhost)"
        )
    return "the instance address must start with https://"
