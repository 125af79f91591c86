"""Ctrl-C for the commands that serve until they are interrupted."""

from __future__ import annotations

import signal


def stop_on_interrupt() -> None:
    """Let SIGINT (Ctrl-C, `kill -INT`) raise KeyboardInterrupt even where the process started
    with it ignored, as a command a script starts in the background (`… &`) does."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
