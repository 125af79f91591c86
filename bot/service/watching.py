"""What the running bot watches besides the clock: the posts folder (live reload), the control
files in `data_dir` (pause, and the nudge `retry` and `resume` leave), and the heartbeat it
writes for `health` and `status`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.publishing.outage import Outage
from bot.storage import control

Snapshot = tuple[tuple[str, int, int], ...]


def posts_snapshot(posts_dir: Path) -> Snapshot:
    """(path, mtime, size) of every file under the posts folder, hidden folders left out."""
    entries = []
    for root, dirs, files in os.walk(posts_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(root) / name
            try:
                info = path.stat()
            except OSError:
                continue
            entries.append((str(path), info.st_mtime_ns, info.st_size))
    return tuple(sorted(entries))


@dataclass
class Watch:
    """Remembers what the folder and the nudge file looked like, to tell when they change."""

    posts_dir: Path
    data_dir: Path
    snapshot: Snapshot = ()
    nudge: int | None = field(default=None)

    def take_snapshot(self) -> None:
        self.snapshot = posts_snapshot(self.posts_dir)
        self.nudge = control.nudged_at(self.data_dir)

    def posts_changed(self) -> bool:
        now = posts_snapshot(self.posts_dir)
        if now == self.snapshot:
            return False
        self.snapshot = now
        return True

    def nudged(self) -> bool:
        """An operator's command (`retry`, `resume`) asked the running bot to look again."""
        now = control.nudged_at(self.data_dir)
        if now == self.nudge:
            return False
        self.nudge = now
        return True


def heartbeat(
    now: datetime,
    planned: Sequence[datetime],
    *,
    paused: bool,
    token_rejected: str | None,
    outage: Outage | None,
    waiting: int,
    dry_run: bool,
) -> control.Heartbeat:
    """What the running bot tells `health` and `status` every few seconds."""
    upcoming = [at for at in planned if at > now]
    return control.Heartbeat(
        at=now.isoformat(),
        pid=os.getpid(),
        paused=paused,
        token_rejected=token_rejected,
        scheduled=len(upcoming),
        next_post=min(upcoming).isoformat() if upcoming else None,
        dry_run=dry_run,
        instance_unavailable_since=outage.since.isoformat() if outage else None,
        last_answer=outage.last_answer if outage else None,
        waiting=waiting,
    )
