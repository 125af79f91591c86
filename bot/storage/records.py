"""What the ledger hands out: occurrences, their parts and their history, as frozen records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.states import State

OCCURRENCE_COLUMNS = (
    "key, post_id, planned_at, state, attempts, last_error, content_hash, created_at, "
    "updated_at, first_attempt_at, published_at"
)
PART_COLUMNS = (
    "occurrence_key, idx, idempotency_key, status_id, url, first_attempt_at, published_at"
)


def to_text(when: datetime) -> str:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"the ledger needs timezone-aware times, got {when!r}")
    # Fixed width (always microseconds, always +00:00), so text order is time order in SQL.
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text)


def maybe_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class PartRecord:
    """One part of an occurrence: 0 is the post, 1..n the replies of its thread."""

    index: int
    idempotency_key: str | None
    status_id: str | None
    url: str | None
    first_attempt_at: datetime | None
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class OccurrenceRecord:
    """What the ledger knows about one planned publication of a post."""

    key: str
    post_id: str
    planned_at: datetime
    state: State
    attempts: int
    last_error: str | None
    content_hash: str | None
    created_at: datetime
    updated_at: datetime
    first_attempt_at: datetime | None
    published_at: datetime | None
    parts: tuple[PartRecord, ...]

    def part(self, index: int) -> PartRecord | None:
        return next((p for p in self.parts if p.index == index), None)

    def urls(self) -> list[str]:
        """The URLs of the published parts, in thread order."""
        return [p.url for p in self.parts if p.url is not None]


@dataclass(frozen=True, slots=True)
class Event:
    """One line of an occurrence's history; the events table is append-only."""

    id: int
    at: datetime
    occurrence_key: str
    part_index: int | None
    kind: str
    detail: str


def part_from_row(row: tuple[Any, ...]) -> PartRecord:
    _, idx, idem, status_id, url, first, published = row
    return PartRecord(idx, idem, status_id, url, maybe_time(first), maybe_time(published))


def occurrence_from_row(row: tuple[Any, ...], parts: Iterable[PartRecord]) -> OccurrenceRecord:
    key, post_id, planned, state, attempts, error, digest, created, updated, first, done = row
    return OccurrenceRecord(
        key=key,
        post_id=post_id,
        planned_at=from_text(planned),
        state=State(state),
        attempts=attempts,
        last_error=error,
        content_hash=digest,
        created_at=from_text(created),
        updated_at=from_text(updated),
        first_attempt_at=maybe_time(first),
        published_at=maybe_time(done),
        parts=tuple(parts),
    )
