"""What the running bot watches besides the clock: the posts folder (live reload), the control
files in `data_dir` (pause, and the nudge `retry` and `resume` leave), and the heartbeat it
writes for `health` and `status`."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.campaign.folder import Listing, list_folder
from bot.publishing.outage import Outage
from bot.storage import control


@dataclass
class Watch:
    """Remembers what the folder and the nudge file looked like, to tell when they change.

    The listing that shows a change is the one the reload it triggers reads: the folder is
    walked once a look, not once more for loading."""

    posts_dir: Path
    data_dir: Path
    listing: Listing = field(default_factory=Listing)
    nudge: int | None = field(default=None)
    # The listing is newer than the last load: the next load reads it as it is.
    _unread: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_snapshot(self) -> None:
        with self._lock:
            self.listing = list_folder(self.posts_dir)
            self._unread = True
        self.nudge = control.nudged_at(self.data_dir)

    def posts_changed(self) -> bool:
        now = list_folder(self.posts_dir)
        with self._lock:
            if now.signature == self.listing.signature:
                return False
            self.listing = now
            self._unread = True
            return True

    def listing_to_load(self) -> Listing:
        """The folder as the watch last saw it if no load has read that yet; otherwise (a
        SIGHUP, the periodic re-plan) the folder listed again, which the watch then keeps."""
        with self._lock:
            if not self._unread:
                self.listing = list_folder(self.posts_dir)
            self._unread = False
            return self.listing

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
    accounts: dict[str, dict[str, str | None]] | None = None,
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
        accounts=accounts,
    )
