"""A `docker stop` that lands while the daemon is still starting ends it cleanly (exit 0)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# Before the interpreter itself has started (a few hundredths of a second) nothing can help.
@pytest.mark.parametrize("delay", [0.1, 0.2, 0.3, 0.6])
def test_sigterm_during_start_up_exits_zero(tmp_path: Path, delay: float) -> None:
    """Whenever SIGTERM arrives during start-up, the exit code is 0, not SIGTERM's 143."""
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copytree(REPO / "config", tmp_path / "config")
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", "config/bot.yaml", "run", "--dry-run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(delay)
    bot.send_signal(signal.SIGTERM)
    try:
        assert bot.wait(timeout=20) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
