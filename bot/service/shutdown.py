"""Stop requests that arrive before the daemon has installed its own signal handlers.

Importing the command line takes a few tenths of a second. A `docker stop` in that time would
kill the process with SIGTERM's default (exit 143) although nothing has been sent yet. Until the
daemon installs its own handlers, a stop request is only remembered; the daemon looks at it as
soon as it can and ends cleanly.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

stop_requested_early = threading.Event()


def _remember_stop(signum: int, frame: FrameType | None) -> None:
    stop_requested_early.set()


def remember_early_stop_requests() -> None:
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _remember_stop)
