"""The rehearsal's sandbox server: mastodon_mock's app on 127.0.0.1, behind a small front door.

The sandbox's web interface keeps its access token in the browser and, without one, opens on a
form asking for it. The front door signs the browser in as the campaign's account and opens the
account's timeline, so `rehearse --serve` shows the campaign at once; and it answers the
`/@campaign/ID` addresses the sandbox gives each toot (which its web interface does not) by
opening that toot. Everything else goes to mastodon_mock unchanged.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.errors import CampaignBotError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The key under which the sandbox's web interface (mastodon_mock 0.6) keeps its access token.
UI_TOKEN_KEY = "mastodon_mock_token"  # noqa: S105  (a storage key, not a secret)
STARTUP_TIMEOUT = 15.0

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Campaign rehearsal</title></head>
<body><main><p>Opening the campaign's timeline in the rehearsal sandbox…</p>
<p><a id="go" href="/_ui/">Continue</a></p></main>
<script>
const token = {token};
const toot = {toot};
localStorage.setItem({key}, token);
function go(path) {{ document.getElementById("go").href = path; location.replace(path); }}
if (toot) {{
  go("/_ui/statuses/" + toot);
}} else {{
  fetch("/api/v1/accounts/verify_credentials", {{headers: {{Authorization: "Bearer " + token}}}})
    .then((answer) => answer.json())
    .then((account) => go("/_ui/accounts/" + account.id))
    .catch(() => go("/_ui/"));
}}
</script></body></html>
"""


def front_page(token: str, toot: str | None) -> bytes:
    """The page that signs the browser in and opens the account's timeline, or one toot."""
    page = _PAGE.format(
        token=json.dumps(token), toot=json.dumps(toot), key=json.dumps(UI_TOKEN_KEY)
    )
    return page.encode()


def with_front_door(app: ASGIApp, account: str, token: str) -> ASGIApp:
    """`app`, with `/`, `/@account` and `/@ANY_ACCOUNT/ID` (a coalition's partners' toots
    too) answered by the signing-in page."""
    pattern = re.compile(rf"/@(?:{re.escape(account)}|\w+(?=/\d))(?:/(\d+))?/?")

    async def front(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in {"GET", "HEAD"}:
            path = scope["path"]
            found = pattern.fullmatch(path)
            if path == "/" or found:
                body = front_page(token, found[1] if found else None)
                headers = [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return front


def sandbox_server(config: Any, account: str, token: str) -> Any:
    """A started mastodon_mock `MockServer` (its test helpers `client` and `fault` included)
    whose app sits behind the front door."""
    import uvicorn
    from mastodon_mock.app import create_app
    from mastodon_mock.testing import MockServer

    class SandboxServer(MockServer):
        """MockServer.start, with the app wrapped: uvicorn in a thread on 127.0.0.1."""

        def start(self) -> Any:
            app = with_front_door(create_app(self._config), account, token)
            server = uvicorn.Server(
                uvicorn.Config(app, host=self._host, port=0, log_level=self._log_level)
            )
            thread = threading.Thread(target=server.run, name="sandbox", daemon=True)
            thread.start()
            # Startup takes a fraction of a second; uvicorn offers no event to wait on.
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    raise CampaignBotError("the rehearsal sandbox did not start")
                thread.join(0.02)
            self._port = int(server.servers[0].sockets[0].getsockname()[1])
            self._server, self._thread = server, thread
            return self

    return SandboxServer(config=config).start()


class TootDates:
    """Gives toots the time they were planned for, so the sandbox's timeline shows the campaign's
    dates rather than the few seconds the rehearsal took. (The sandbox stores naive UTC.)

    One connection for the whole rehearsal, without waiting for the disk at each commit: the
    sandbox is thrown away afterwards, and a connection per toot cost a tenth of the rehearsal."""

    def __init__(self, database: Path) -> None:
        self._db = sqlite3.connect(database)
        self._db.execute("pragma synchronous = off")

    def set(self, status_ids: Sequence[str], when: datetime) -> None:
        stamp = (
            when.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
        with self._db:
            self._db.executemany(
                "update statuses set created_at = ? where id = ?",
                [(stamp, int(status_id)) for status_id in status_ids],
            )

    def close(self) -> None:
        self._db.close()
