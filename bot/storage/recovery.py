"""Records written from what the instance shows, when the ledger itself was lost
(`campaign-bot ledger rebuild`), and how the ledger came to be."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.states import State
from bot.storage.ledger import Ledger
from bot.storage.migrations import LedgerError
from bot.storage.records import to_text

# Meta key: how this ledger began ("rebuilt …", "fresh …"); a ledger without it and without
# records is looked at before its first post (was an earlier ledger lost?).
ORIGIN = "ledger_origin"


@dataclass(frozen=True, slots=True)
class FoundPart:
    index: int
    idempotency_key: str
    status_id: str
    url: str
    created_at: datetime


def record_found(
    ledger: Ledger,
    *,
    key: str,
    post_id: str,
    planned_at: datetime,
    content_hash: str,
    parts: list[FoundPart],
    complete: bool,
) -> None:
    """Write an occurrence found on the instance: published when every part was found, else
    `sending` with the parts found, so the next run posts only the rest of the thread."""
    if not parts or [p.index for p in parts] != list(range(len(parts))):
        raise ValueError("found parts must run from part 0 without a gap")
    now = to_text(ledger.now())
    state = State.PUBLISHED if complete else State.SENDING
    with ledger.transaction(write=True) as conn:
        if conn.execute("SELECT 1 FROM occurrences WHERE key = ?", (key,)).fetchone():
            raise LedgerError(f"occurrence {key!r} is already in the ledger")
        conn.execute(
            "INSERT INTO occurrences (key, post_id, planned_at, state, content_hash, attempts, "
            "created_at, updated_at, first_attempt_at, published_at) "
            "VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            (
                key,
                post_id,
                to_text(planned_at),
                state.value,
                content_hash,
                now,
                now,
                to_text(parts[0].created_at),
                to_text(parts[-1].created_at) if complete else None,
            ),
        )
        for part in parts:
            conn.execute(
                "INSERT INTO parts (occurrence_key, idx, idempotency_key, status_id, url, "
                "first_attempt_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    part.index,
                    part.idempotency_key,
                    part.status_id,
                    part.url,
                    to_text(part.created_at),
                    to_text(part.created_at),
                ),
            )
        detail = ", ".join(f"part {p.index}: status {p.status_id}" for p in parts)
        conn.execute(
            "INSERT INTO events (at, occurrence_key, part_idx, kind, detail) "
            "VALUES (?, ?, NULL, 'rebuilt', ?)",
            (now, key, f"found on the instance: {detail}"),
        )
