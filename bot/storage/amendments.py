"""What each published part showed, every edit made to it, and posts taken back.

These tables live in the ledger's file and change in its transactions: a snapshot is written in
the same place as the status id, and an edit is written *before* its request (`intended`) and
settled right after it (`applied`, `found` when the instance already showed it, or `failed`),
so a process killed at any moment leaves a ledger that says which edit may be on the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.clock import Clock
from bot.core.published import PartSnapshot
from bot.core.states import ALLOWED_FROM, Change, State
from bot.storage.ledger import Ledger
from bot.storage.migrations import LedgerError
from bot.storage.records import OccurrenceRecord, from_text, maybe_time, to_text


@dataclass(frozen=True, slots=True)
class EditRecord:
    id: int
    occurrence_key: str
    index: int
    status_id: str
    target: PartSnapshot
    state: str
    created_at: datetime
    done_at: datetime | None
    detail: str


class Amendments:
    """The ledger's memory of published content: snapshots, edits and withdrawals."""

    def __init__(self, ledger: Ledger, clock: Clock) -> None:
        self.ledger = ledger
        self.clock = clock

    def _now(self) -> str:
        return to_text(self.clock.now())

    # --- what followers see -----------------------------------------------------------------

    def record_snapshot(self, key: str, index: int, snapshot: PartSnapshot) -> None:
        """Remember what part `index` shows now (when published, and after every edit)."""
        with self.ledger.transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO part_snapshots (occurrence_key, idx, snapshot, recorded_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (occurrence_key, idx) DO UPDATE SET "
                "snapshot = excluded.snapshot, recorded_at = excluded.recorded_at",
                (key, index, snapshot.to_json(), self._now()),
            )

    def snapshots(self, key: str) -> dict[int, PartSnapshot]:
        with self.ledger.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT idx, snapshot FROM part_snapshots WHERE occurrence_key = ?", (key,)
            ).fetchall()
        return {idx: PartSnapshot.from_json(text) for idx, text in rows}

    def all_snapshots(self) -> dict[str, dict[int, PartSnapshot]]:
        found: dict[str, dict[int, PartSnapshot]] = {}
        with self.ledger.transaction(write=False) as conn:
            for key, idx, text in conn.execute(
                "SELECT occurrence_key, idx, snapshot FROM part_snapshots"
            ):
                found.setdefault(key, {})[idx] = PartSnapshot.from_json(text)
        return found

    # --- edits, written ahead ---------------------------------------------------------------

    def open_edit(self, key: str, index: int) -> EditRecord | None:
        """An edit intended and not settled: an earlier run may have sent it."""
        found = self._edits(
            "WHERE occurrence_key = ? AND idx = ? AND state = 'intended'", key, index
        )
        return found[-1] if found else None

    def intend_edit(
        self, key: str, index: int, status_id: str, target: PartSnapshot, detail: str = ""
    ) -> EditRecord:
        """Record, before the request, that part `index` is about to be edited to `target`."""
        with self.ledger.transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO edits (occurrence_key, idx, status_id, target, state, created_at, "
                "detail) VALUES (?, ?, ?, ?, 'intended', ?, ?)",
                (key, index, status_id, target.to_json(), self._now(), detail),
            )
            self.ledger.event(conn, key, "edit-intended", f"status {status_id}", index)
        edit = self.open_edit(key, index)
        assert edit is not None
        return edit

    def settle_edit(self, edit: EditRecord, state: str, detail: str) -> None:
        """The edit's outcome; an applied or found edit becomes what followers see."""
        if state not in ("applied", "found", "failed"):
            raise ValueError(f"an edit cannot be settled as {state!r}")
        with self.ledger.transaction(write=True) as conn:
            conn.execute(
                "UPDATE edits SET state = ?, done_at = ?, detail = ? WHERE id = ?",
                (state, self._now(), detail, edit.id),
            )
            if state != "failed":
                conn.execute(
                    "INSERT INTO part_snapshots (occurrence_key, idx, snapshot, recorded_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (occurrence_key, idx) DO UPDATE SET "
                    "snapshot = excluded.snapshot, recorded_at = excluded.recorded_at",
                    (edit.occurrence_key, edit.index, edit.target.to_json(), self._now()),
                )
            kind = {"applied": "edited", "found": "edit-found", "failed": "edit-failed"}[state]
            self.ledger.event(conn, edit.occurrence_key, kind, detail, edit.index)

    def edits_since(self, moment: datetime) -> list[datetime]:
        """When each edit sent since `moment` was settled (they count like posts)."""
        with self.ledger.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT done_at FROM edits WHERE state = 'applied' AND done_at > ?",
                (to_text(moment),),
            ).fetchall()
        return [from_text(r[0]) for r in rows]

    def edits(self, key: str) -> list[EditRecord]:
        return self._edits("WHERE occurrence_key = ?", key)

    def _edits(self, where: str, *params: object) -> list[EditRecord]:
        with self.ledger.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT id, occurrence_key, idx, status_id, target, state, created_at, "  # noqa: S608 - `where` is one of this module's fixed clauses
                f"done_at, detail FROM edits {where} ORDER BY id",
                params,
            ).fetchall()
        return [
            EditRecord(
                i, k, idx, sid, PartSnapshot.from_json(t), st, from_text(c), maybe_time(d), x
            )
            for i, k, idx, sid, t, st, c, d, x in rows
        ]

    # --- withdrawing ------------------------------------------------------------------------

    def part_deleted(self, key: str, index: int, status_id: str, detail: str) -> None:
        """One status of the post is gone from the instance (deleted now, or found gone)."""
        with self.ledger.transaction(write=True) as conn:
            self.ledger.event(conn, key, "part-deleted", f"status {status_id}: {detail}", index)

    def mark_withdrawn(
        self, key: str, post_id: str, planned_at: datetime, detail: str
    ) -> OccurrenceRecord:
        """Settle the occurrence as withdrawn (creating it for a post never sent)."""
        with self.ledger.transaction(write=True) as conn:
            row = conn.execute(
                "SELECT state, post_id FROM occurrences WHERE key = ?", (key,)
            ).fetchone()
            now = self._now()
            if row is None:
                conn.execute(
                    "INSERT INTO occurrences (key, post_id, planned_at, state, created_at, "
                    "updated_at) VALUES (?, ?, ?, 'withdrawn', ?, ?)",
                    (key, post_id, to_text(planned_at), now, now),
                )
            else:
                state = State(row[0])
                if row[1] != post_id:
                    raise LedgerError(f"occurrence {key!r} belongs to post {row[1]!r}")
                if state not in ALLOWED_FROM[Change.WITHDRAW]:
                    raise LedgerError(f"cannot withdraw {key!r}: it is {state.value}")
                conn.execute(
                    "UPDATE occurrences SET state = 'withdrawn', updated_at = ? WHERE key = ?",
                    (now, key),
                )
            self.ledger.event(conn, key, "withdrawn", detail)
        record = self.ledger.get(key)
        assert record is not None
        return record
