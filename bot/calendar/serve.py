"""`calendar --serve`: the site on 127.0.0.1, rebuilt when the post files (or the ledger) change.

A plain `http.server` serves the output folder; a loop polls the folders' file times and sizes
and rebuilds the page when they change, as the daemon's live reload does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bot.campaign.folder import Signature, list_folder
from bot.core.clock import Clock
from bot.core.errors import CampaignBotError

logger = logging.getLogger(__name__)


def snapshot(paths: Iterable[Path]) -> Signature:
    """Name, modification time and size of every file under `paths` (files or folders)."""
    entries: list[tuple[str, int, int]] = []
    for top in paths:
        if not top.is_file():
            entries.extend(list_folder(top).signature)
            continue
        try:
            info = top.stat()
        except OSError:
            continue
        entries.append((str(top), info.st_mtime_ns, info.st_size))
    return tuple(entries)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class CalendarServer:
    """Serves `out` on 127.0.0.1:`port` (0 picks a free port) and rebuilds on change."""

    def __init__(
        self,
        out: Path,
        port: int,
        *,
        rebuild: Callable[[], object],
        watched: Callable[[], Iterable[Path]],
        clock: Clock,
        interval: float = 1.0,
        report: Callable[[str], None] = print,
    ) -> None:
        self.out = out
        self.rebuild = rebuild
        self.watched = watched
        self.clock = clock
        self.interval = interval
        self.report = report
        handler = partial(_QuietHandler, directory=str(out))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._seen = snapshot(self.watched())
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        self._thread.start()

    def poll(self) -> bool:
        """Rebuild if anything watched changed since the last look; True if it rebuilt."""
        now = snapshot(self.watched())
        if now == self._seen:
            return False
        self._seen = now
        try:
            self.rebuild()
        except CampaignBotError as exc:
            self.report(f"not rebuilt: {exc}")
            return False
        return True

    def run(self) -> None:
        """Poll until `stop` is called (or Ctrl-C)."""
        while not self._stop.is_set():
            self.clock.sleep(self.interval)
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
