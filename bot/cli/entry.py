"""The console script's first step: guard a starting daemon against stop requests, then hand
over to the command line (imported only then: it takes a few tenths of a second)."""

from __future__ import annotations

import sys

from bot.service.shutdown import remember_early_stop_requests


def main() -> int:
    words = sys.argv[1:]
    if "run" in words and "--once" not in words:
        remember_early_stop_requests()
    from bot.cli.main import main as run_command_line

    return run_command_line()
