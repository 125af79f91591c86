"""The ledger: a SQLite file recording every planned publication, each send and each result.

The intent to send a part is committed before the request and the result right after it, so a
process killed at any moment leaves a ledger that says exactly what may be on the server.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.core.clock import Clock
from bot.core.states import ALLOWED_FROM, Change, State
from bot.storage.integrity import connect
from bot.storage.migrations import LedgerError
from bot.storage.records import (
    OCCURRENCE_COLUMNS,
    PART_COLUMNS,
    Event,
    OccurrenceRecord,
    PartRecord,
    from_text,
    occurrence_from_row,
    part_from_row,
    to_text,
)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Ledger:
    """The bot's memory. Safe to share between threads; other processes may read it meanwhile."""

    def __init__(self, path: Path, clock: Clock, conn: sqlite3.Connection) -> None:
        self.path = path
        self._clock = clock
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        path: Path,
        clock: Clock,
        *,
        busy_timeout: float = 5.0,
        create: bool = True,
        durable: bool = True,
    ) -> Ledger:
        """Open and bring the schema up to date; a new ledger is created (with its folder) only
        where no file exists and `create` is set. An existing file that is empty or holds no
        ledger is refused as damaged, never silently replaced by a fresh ledger. A throwaway
        ledger (the rehearsal's) is not `durable`: its commits skip the sync."""
        conn = connect(path, clock, busy_timeout=busy_timeout, create=create, durable=durable)
        return cls(path, clock, conn)

    def now(self) -> datetime:
        """The time the ledger stamps on what it records."""
        return self._clock.now()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise LedgerError(f"{self.path}: the ledger is closed")
            conn = self._conn
            try:
                # IMMEDIATE takes the write lock up front: a deferred transaction that later
                # upgrades gets SQLITE_BUSY at once in WAL mode, without the busy timeout.
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                with conn:
                    yield conn
            except sqlite3.Error as exc:
                if conn.in_transaction:  # a failed COMMIT leaves the transaction open
                    conn.rollback()
                raise LedgerError(f"{self.path}: ledger access failed: {_one_line(exc)}") from exc

    def transaction(self, *, write: bool) -> AbstractContextManager[sqlite3.Connection]:
        """One transaction, for the stores that keep their own tables in this file."""
        return self._transaction(write)

    def _records(
        self, conn: sqlite3.Connection, where: str, params: tuple[Any, ...]
    ) -> list[OccurrenceRecord]:
        # `where` is always one of this module's fixed clauses; values go through parameters.
        rows = conn.execute(
            f"SELECT {OCCURRENCE_COLUMNS} FROM occurrences {where} ORDER BY planned_at, key",  # noqa: S608
            params,
        ).fetchall()
        parts: dict[str, list[PartRecord]] = {}
        for row in conn.execute(
            f"SELECT {PART_COLUMNS} FROM parts WHERE occurrence_key IN "  # noqa: S608
            f"(SELECT key FROM occurrences {where}) ORDER BY occurrence_key, idx",
            params,
        ):
            parts.setdefault(row[0], []).append(part_from_row(row))
        return [occurrence_from_row(row, parts.get(row[0], ())) for row in rows]

    def _load(self, conn: sqlite3.Connection, key: str) -> OccurrenceRecord | None:
        found = self._records(conn, "WHERE key = ?", (key,))
        return found[0] if found else None

    def _require(self, conn: sqlite3.Connection, key: str) -> OccurrenceRecord:
        record = self._load(conn, key)
        if record is None:
            raise LedgerError(f"no occurrence {key!r} in the ledger")
        return record

    def _event(
        self, conn: sqlite3.Connection, key: str, kind: str, detail: str, part: int | None = None
    ) -> None:
        conn.execute(
            "INSERT INTO events (at, occurrence_key, part_idx, kind, detail) "
            "VALUES (?, ?, ?, ?, ?)",
            (to_text(self._clock.now()), key, part, kind, detail),
        )

    event = _event  # for the stores that keep their tables in this file

    def _set_state(
        self, conn: sqlite3.Connection, key: str, state: State, error: str | None = None
    ) -> None:
        conn.execute(
            "UPDATE occurrences SET state = ?, last_error = COALESCE(?, last_error), "
            "updated_at = ? WHERE key = ?",
            (state.value, error, to_text(self._clock.now()), key),
        )

    @staticmethod
    def _check(record: OccurrenceRecord, change: Change, what: str = "") -> None:
        if record.state not in ALLOWED_FROM[change]:
            raise LedgerError(
                f"cannot {what or change.value} {record.key!r}: it is {record.state.value}"
            )

    def _ensure(
        self, conn: sqlite3.Connection, key: str, post_id: str, planned_at: datetime, state: State
    ) -> OccurrenceRecord | None:
        """The existing row for `key` (checked to belong to `post_id`), or None after inserting."""
        record = self._load(conn, key)
        if record is not None:
            if record.post_id != post_id:
                raise LedgerError(f"occurrence {key!r} belongs to post {record.post_id!r}")
            return record
        now = to_text(self._clock.now())
        conn.execute(
            "INSERT INTO occurrences (key, post_id, planned_at, state, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key, post_id, to_text(planned_at), state.value, now, now),
        )
        return None

    def get(self, key: str) -> OccurrenceRecord | None:
        with self._transaction(write=False) as conn:
            return self._load(conn, key)

    def all(self) -> list[OccurrenceRecord]:
        """Every occurrence, ordered by planned time then key."""
        with self._transaction(write=False) as conn:
            return self._records(conn, "", ())

    def for_post(self, post_id: str) -> list[OccurrenceRecord]:
        with self._transaction(write=False) as conn:
            return self._records(conn, "WHERE post_id = ?", (post_id,))

    def states(self) -> dict[str, State]:
        """Key -> state of every occurrence, without the detail (cheap, for the planner)."""
        with self._transaction(write=False) as conn:
            return {k: State(s) for k, s in conn.execute("SELECT key, state FROM occurrences")}

    def views(self) -> dict[str, tuple[State, datetime]]:
        """Key -> (state, planned time) of every occurrence: what planning needs, no more."""
        with self._transaction(write=False) as conn:
            rows = conn.execute("SELECT key, state, planned_at FROM occurrences")
            return {key: (State(state), from_text(at)) for key, state, at in rows}

    def retried(self) -> dict[str, datetime]:
        """Key -> when an operator last retried it, for occurrences put back by `retry`."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT key, retried_at FROM occurrences WHERE retried_at IS NOT NULL"
            )
            return {key: from_text(at) for key, at in rows}

    def stuck(self, older_than: datetime) -> list[OccurrenceRecord]:
        """Occurrences left in `sending` with no change since before `older_than`."""
        with self._transaction(write=False) as conn:
            return self._records(
                conn, "WHERE state = 'sending' AND updated_at < ?", (to_text(older_than),)
            )

    def begin_attempt(
        self, key: str, post_id: str, planned_at: datetime, content_hash: str
    ) -> OccurrenceRecord:
        """Mark the occurrence as being sent (creating it if new); refused once it is settled."""
        with self._transaction(write=True) as conn:
            record = self._ensure(conn, key, post_id, planned_at, State.SENDING)
            if record is not None:
                self._check(record, Change.SEND)
            now = to_text(self._clock.now())
            conn.execute(
                "UPDATE occurrences SET state = 'sending', planned_at = ?, content_hash = ?, "
                "attempts = attempts + 1, updated_at = ?, "
                "first_attempt_at = COALESCE(first_attempt_at, ?) WHERE key = ?",
                (to_text(planned_at), content_hash, now, now, key),
            )
            attempts = 1 if record is None else record.attempts + 1
            self._event(conn, key, "attempt", f"attempt {attempts}, content {content_hash}")
            return self._require(conn, key)

    # Parts are stored by their index from 0; messages name them as people count, from 1.
    def record_part_intent(self, key: str, index: int, idempotency_key: str) -> PartRecord:
        """Record, before the request, that part `index` is about to be sent with this key."""
        if index < 0 or not idempotency_key:
            raise ValueError("a part needs an index >= 0 and a non-empty idempotency key")
        with self._transaction(write=True) as conn:
            record = self._require(conn, key)
            if record.state is not State.SENDING:
                raise LedgerError(
                    f"cannot send part {index + 1} of {key!r}: it is {record.state.value}"
                )
            part = record.part(index)
            now = to_text(self._clock.now())
            if part is None:
                conn.execute(
                    "INSERT INTO parts (occurrence_key, idx, idempotency_key, first_attempt_at) "
                    "VALUES (?, ?, ?, ?)",
                    (key, index, idempotency_key, now),
                )
            elif part.status_id is not None:
                raise LedgerError(
                    f"part {index + 1} of {key!r} is already published as status {part.status_id}"
                )
            elif part.idempotency_key not in (None, idempotency_key):
                # Mastodon deduplicates a POST only when it carries the same Idempotency-Key,
                # so a new key for a part that may already be out could publish it twice.
                raise LedgerError(
                    f"part {index + 1} of {key!r} was sent with idempotency key "
                    f"{part.idempotency_key!r}; refusing to send it with {idempotency_key!r}"
                )
            else:
                conn.execute(
                    "UPDATE parts SET idempotency_key = ?, "
                    "first_attempt_at = COALESCE(first_attempt_at, ?) "
                    "WHERE occurrence_key = ? AND idx = ?",
                    (idempotency_key, now, key, index),
                )
            conn.execute("UPDATE occurrences SET updated_at = ? WHERE key = ?", (now, key))
            self._event(conn, key, "part-sending", f"idempotency key {idempotency_key}", index)
            row = conn.execute(
                f"SELECT {PART_COLUMNS} FROM parts WHERE occurrence_key = ? AND idx = ?",  # noqa: S608
                (key, index),
            ).fetchone()
            return part_from_row(row)

    def record_part_published(
        self, key: str, index: int, status_id: str, url: str, *, adopted: bool = False
    ) -> None:
        """Record the status the server created for part `index` (adopted: found by a search)."""
        with self._transaction(write=True) as conn:
            part = self._require(conn, key).part(index)
            if part is None or part.idempotency_key is None:
                raise LedgerError(
                    f"part {index + 1} of {key!r} has no recorded send; record its intent first"
                )
            if part.status_id == status_id:
                return
            if part.status_id is not None:
                raise LedgerError(
                    f"part {index + 1} of {key!r} is already status {part.status_id}, not "
                    f"{status_id}: the account may hold a duplicate"
                )
            now = to_text(self._clock.now())
            conn.execute(
                "UPDATE parts SET status_id = ?, url = ?, published_at = ? "
                "WHERE occurrence_key = ? AND idx = ?",
                (status_id, url, now, key, index),
            )
            conn.execute("UPDATE occurrences SET updated_at = ? WHERE key = ?", (now, key))
            kind = "part-adopted" if adopted else "part-published"
            self._event(conn, key, kind, f"status {status_id} {url}", index)

    def mark_published(self, key: str) -> None:
        """Settle the occurrence as published; every recorded part must have its status."""
        with self._transaction(write=True) as conn:
            record = self._require(conn, key)
            self._check(record, Change.PUBLISH)
            indexes = [p.index for p in record.parts]
            waiting = [p.index for p in record.parts if p.status_id is None]
            if waiting or not indexes or indexes != list(range(len(indexes))):
                numbers, missing = [i + 1 for i in indexes], [i + 1 for i in waiting]
                raise LedgerError(
                    f"cannot mark {key!r} published: its parts {numbers} are not all recorded as "
                    f"published from part 1 on (waiting: {missing})"
                )
            now = to_text(self._clock.now())
            conn.execute(
                "UPDATE occurrences SET state = 'published', published_at = ?, updated_at = ? "
                "WHERE key = ?",
                (now, now, key),
            )
            self._event(conn, key, "published", " ".join(record.urls()))

    def mark_failed(self, key: str, error: str) -> None:
        """Give up on the occurrence until an operator retries it."""
        self._transition(key, Change.FAIL, State.FAILED, "failed", error)

    def mark_pending_after_error(self, key: str, error: str) -> None:
        """A transient failure: back to pending, to be tried again later."""
        self._transition(key, Change.RETRY_LATER, State.PENDING, "retry-later", error)

    def retry(self, key: str) -> OccurrenceRecord:
        """Put a failed or missed occurrence back to pending (its attempt count is kept)."""
        with self._transaction(write=True) as conn:
            record = self._require(conn, key)
            self._check(record, Change.RETRY)
            self._set_state(conn, key, State.PENDING)
            # The occurrence's catch-up window counts again from now, or the next run would
            # find it as late as before and record it missed at once.
            conn.execute(
                "UPDATE occurrences SET retried_at = ? WHERE key = ?",
                (to_text(self._clock.now()), key),
            )
            self._event(conn, key, "retry", f"was {record.state.value}")
            return self._require(conn, key)

    def _transition(self, key: str, change: Change, state: State, kind: str, error: str) -> None:
        with self._transaction(write=True) as conn:
            self._check(self._require(conn, key), change)
            self._set_state(conn, key, state, error)
            self._event(conn, key, kind, error)

    def mark_missed(self, key: str, post_id: str, planned_at: datetime, reason: str) -> None:
        """Record that the occurrence's time passed unsent; repeating it changes nothing."""
        with self._transaction(write=True) as conn:
            record = self._ensure(conn, key, post_id, planned_at, State.MISSED)
            if record is not None:
                if record.state is State.MISSED:
                    return
                self._check(record, Change.MISS)
                self._set_state(conn, key, State.MISSED)
            self._event(conn, key, State.MISSED.value, reason)

    def record_event(
        self, key: str, kind: str, detail: str = "", part_index: int | None = None
    ) -> None:
        """Append a free-form line to an occurrence's history."""
        if not kind:
            raise ValueError("an event needs a kind")
        with self._transaction(write=True) as conn:
            self._event(conn, key, kind, detail, part_index)

    def events(self, key: str | None = None) -> list[Event]:
        """The history of one occurrence, or of all, oldest first."""
        sql = "SELECT id, at, occurrence_key, part_idx, kind, detail FROM events"
        if key is not None:
            sql += " WHERE occurrence_key = ?"
        with self._transaction(write=False) as conn:
            rows = conn.execute(sql + " ORDER BY id", () if key is None else (key,)).fetchall()
        return [
            Event(i, from_text(at), k, part, kind, detail) for i, at, k, part, kind, detail in rows
        ]

    def get_meta(self, name: str) -> str | None:
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with self._transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (name, value),
            )
