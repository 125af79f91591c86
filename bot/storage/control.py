"""Files in `data_dir` through which an operator and the daemon talk: the pause switch and the
heartbeat. Plain files, so they work from a shell, a cron job or a Docker volume.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.core.files import write_atomically

PAUSE_FILE = "PAUSED"
HEARTBEAT_FILE = "heartbeat.json"
NUDGE_FILE = "nudge"
HEARTBEAT_EVERY = timedelta(seconds=15)
# The daemon is unhealthy when its heartbeat is older than this.
HEARTBEAT_STALE = timedelta(seconds=90)


def pause_path(data_dir: Path) -> Path:
    return data_dir / PAUSE_FILE


def is_paused(data_dir: Path) -> bool:
    return pause_path(data_dir).exists()


def pause(data_dir: Path, reason: str, now: datetime) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    pause_path(data_dir).write_text(f"paused at {now.isoformat()}: {reason}\n", encoding="utf-8")


def pause_reason(data_dir: Path) -> str:
    """What the pause file says (when and why), or a plain "paused"."""
    try:
        text = pause_path(data_dir).read_text(encoding="utf-8").strip()
    except OSError:
        return "paused"
    return " ".join(text.split())[:200] or "paused"


def resume(data_dir: Path) -> bool:
    try:
        pause_path(data_dir).unlink()
    except FileNotFoundError:
        return False
    return True


def nudge(data_dir: Path) -> None:
    """Ask a running bot to look at the ledger again now (after `retry` or `resume`)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / NUDGE_FILE).touch()


def nudged_at(data_dir: Path) -> int | None:
    """When the last nudge was left (an opaque number that changes with each), or None."""
    try:
        return (data_dir / NUDGE_FILE).stat().st_mtime_ns
    except OSError:
        return None


@dataclass(frozen=True)
class Heartbeat:
    at: str
    pid: int
    paused: bool
    token_rejected: str | None
    scheduled: int
    next_post: str | None
    dry_run: bool
    # The instance has been failing since then (ISO time), with this last answer; posts wait.
    instance_unavailable_since: str | None = None
    last_answer: str | None = None
    waiting: int = 0
    # With several accounts: each account's instance, and why its work waits (its rejected
    # token, an outage or a rate limit on its instance), by account name.
    accounts: dict[str, dict[str, str | None]] | None = None


def write_heartbeat(data_dir: Path, beat: Heartbeat) -> None:
    write_atomically(data_dir / HEARTBEAT_FILE, json.dumps(asdict(beat)))


def clear_heartbeat(data_dir: Path) -> None:
    """Remove the heartbeat of a bot that has stopped."""
    (data_dir / HEARTBEAT_FILE).unlink(missing_ok=True)


def read_heartbeat(data_dir: Path) -> Heartbeat | None:
    try:
        raw = json.loads((data_dir / HEARTBEAT_FILE).read_text(encoding="utf-8"))
        return Heartbeat(**raw)
    except (OSError, ValueError, TypeError):
        return None
