"""One publishing bot per ledger: an operating-system lock on a file in `data_dir`.

The lock is `fcntl.flock` on `data_dir/bot.lock`, held for the life of the process. The kernel
drops it when the process ends in any way (exit, SIGKILL, a crash), so a lock left behind by a
killed bot never blocks a restart; after a power cut there is no process and no lock. The file's
content — pid, host and start time as JSON — only serves the message a second bot prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from bot.core.errors import CampaignBotError

LOCK_FILE = "bot.lock"


class AlreadyRunning(CampaignBotError):
    """Another bot publishes from this data_dir."""


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as it wrote it down."""

    pid: int | None
    host: str | None
    started: str | None
    command: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "another campaign-bot process (it has not said which yet)"
        where = f" on {self.host}" if self.host else ""
        since = f", running since {self.started}" if self.started else ""
        what = f" (`{self.command}`)" if self.command else ""
        return f"campaign-bot process {self.pid}{where}{what}{since}"


def lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_FILE


def read_holder(data_dir: Path) -> Holder:
    try:
        raw = json.loads(lock_path(data_dir).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        raw = {}
    if not isinstance(raw, dict):
        raw = {}
    pid = raw.get("pid")
    return Holder(
        pid if isinstance(pid, int) else None,
        str(raw["host"]) if raw.get("host") else None,
        str(raw["started"]) if raw.get("started") else None,
        str(raw["command"]) if raw.get("command") else None,
    )


class RunLock:
    """Held while this process may publish from (or replace) the ledger in `data_dir`."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path, command: str, now: datetime) -> RunLock:
        """Take the lock at once, or raise AlreadyRunning naming the holder."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = lock_path(data_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = read_holder(data_dir)
            raise AlreadyRunning(
                f"another bot is already publishing from {data_dir}: {holder.describe()}; "
                "only one may run per ledger — stop it first (two would post twice), or use "
                "`campaign-bot status` and `health` beside it"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        body = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": now.isoformat(timespec="seconds"),
            "command": command,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(body) + "\n").encode(), 0)
        return cls(data_dir, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def held_by_another(data_dir: Path) -> Holder | None:
    """Who publishes from `data_dir` right now, or None when no process holds the lock."""
    path = lock_path(data_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(data_dir)
    finally:
        os.close(fd)
    return None
