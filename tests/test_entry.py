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


def catches_sigterm(pid: int) -> bool:
    """Whether the process has its own SIGTERM handler yet (Linux's /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


# Before the interpreter has started and installed the handler nothing can help, so each delay
# counts from then: on a busy machine that moment itself can take longer than the delays.
@pytest.mark.parametrize("delay", [0.0, 0.1, 0.2, 0.5])
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
    deadline = time.monotonic() + 20
    while not catches_sigterm(bot.pid):
        assert bot.poll() is None and time.monotonic() < deadline, "the bot did not start"
        time.sleep(0.005)
    time.sleep(delay)
    bot.send_signal(signal.SIGTERM)
    try:
        assert bot.wait(timeout=20) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
