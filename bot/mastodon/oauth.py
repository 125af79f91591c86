"""The address where an account's owner approves the bot's application (OAuth code flow)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlencode

# Out-of-band: the instance shows the code on a page for the owner to copy.
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"


def authorization_url(base_url: str, client_id: str, scopes: Sequence[str], state: str) -> str:
    """Built here rather than by Mastodon.py, whose address carries `force_login=False&
    state=None&lang=None` (the Python reprs of its defaults) to the server."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": OOB_REDIRECT,
            "scope": " ".join(scopes),
            "state": state,
        },
        quote_via=quote,
    )
    return f"{base_url.rstrip('/')}/oauth/authorize?{query}"
