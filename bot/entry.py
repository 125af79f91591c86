"""The console script's first step: guard a starting daemon against stop requests, then hand
over to the command line.

Importing the command line takes a few tenths of a second. A `docker stop` in that time would
kill the process with SIGTERM's default (exit 143) although nothing has been sent yet. Until the
daemon installs its own handlers, a stop request is only remembered; the daemon looks at it as
soon as it can and ends cleanly.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

stop_requested_early = threading.Event()


def _remember_stop(signum: int, frame: FrameType | None) -> None:
    stop_requested_early.set()


def main() -> int:
    words = sys.argv[1:]
    if "run" in words and "--once" not in words:
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, _remember_stop)
    from bot.cli import main as run_command_line

    return run_command_line()
