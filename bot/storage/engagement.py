"""How each published status did: its favourites, boosts, replies and quotes, counted at a few
moments after publication and kept as snapshots in the ledger's file.

`latest_engagement()` is the one read other parts of the bot need: the newest numbers per status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.clock import Clock
from bot.storage.ledger import Ledger
from bot.storage.records import from_text, to_text


@dataclass(frozen=True, slots=True)
class Counts:
    favourites: int
    boosts: int
    replies: int
    quotes: int | None = None  # Mastodon 4.5+ counts quotes; older servers do not say
    gone: bool = False  # deleted on the instance (by hand or a moderator): these are the last seen

    @property
    def total(self) -> int:
        return self.favourites + self.boosts + self.replies + (self.quotes or 0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    status_id: str
    occurrence_key: str
    index: int
    taken_at: datetime
    counts: Counts


_COLUMNS = "status_id, occurrence_key, idx, taken_at, favourites, boosts, replies, quotes, gone"


class EngagementStore:
    def __init__(self, ledger: Ledger, clock: Clock) -> None:
        self.ledger = ledger
        self.clock = clock

    def record(self, status_id: str, key: str, index: int, counts: Counts | None) -> None:
        """Counts read now, or None when the status is gone from the instance."""
        values: tuple[object, ...] = (None, None, None, None, 1)
        if counts is not None:
            values = (counts.favourites, counts.boosts, counts.replies, counts.quotes, 0)
        with self.ledger.transaction(write=True) as conn:
            conn.execute(
                f"INSERT INTO engagement ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed columns
                (status_id, key, index, to_text(self.clock.now()), *values),
            )
            if counts is None:
                self.ledger.event(conn, key, "status-gone", f"status {status_id}", index)

    def snapshots(self) -> dict[str, list[Snapshot]]:
        return read_snapshots(self.ledger)


def read_snapshots(ledger: Ledger) -> dict[str, list[Snapshot]]:
    """Every snapshot, oldest first, per status id (a deletion carries the last counts)."""
    found: dict[str, list[Snapshot]] = {}
    with ledger.transaction(write=False) as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM engagement ORDER BY taken_at, id"  # noqa: S608 - fixed columns
        ).fetchall()
    for status_id, key, idx, taken, fav, boosts, replies, quotes, gone in rows:
        earlier = found.setdefault(status_id, [])
        if gone:
            last = earlier[-1].counts if earlier else Counts(0, 0, 0)
            counts = Counts(last.favourites, last.boosts, last.replies, last.quotes, True)
        else:
            counts = Counts(fav, boosts, replies, quotes)
        earlier.append(Snapshot(status_id, key, idx, from_text(taken), counts))
    return found


def latest_engagement(ledger: Ledger) -> dict[str, Counts]:
    """Status id → its newest counts (`gone` set when it was deleted on the instance)."""
    return {status_id: shots[-1].counts for status_id, shots in read_snapshots(ledger).items()}
