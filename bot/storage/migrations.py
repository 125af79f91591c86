"""The ledger's schema: ordered, named migrations, applied once each when a ledger opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.core.errors import CampaignBotError


class LedgerError(CampaignBotError):
    """The ledger cannot be opened, or a change to it would break its rules."""


MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE occurrences (
            key TEXT PRIMARY KEY,
            post_id TEXT NOT NULL,
            planned_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('pending', 'sending', 'published', 'failed', 'missed', 'skipped')),
            content_hash TEXT,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            first_attempt_at TEXT,
            published_at TEXT
        );
        CREATE INDEX occurrences_post_id ON occurrences (post_id);
        CREATE INDEX occurrences_state ON occurrences (state);
        CREATE TABLE parts (
            occurrence_key TEXT NOT NULL REFERENCES occurrences (key),
            idx INTEGER NOT NULL CHECK (idx >= 0),
            idempotency_key TEXT,
            status_id TEXT,
            url TEXT,
            first_attempt_at TEXT,
            published_at TEXT,
            PRIMARY KEY (occurrence_key, idx),
            CHECK (status_id IS NULL OR idempotency_key IS NOT NULL)
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            occurrence_key TEXT NOT NULL,
            part_idx INTEGER,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX events_occurrence_key ON events (occurrence_key, id);
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    ),
    (
        # A post can be withdrawn; what each part showed when published is kept, every edit is
        # written ahead of its request, and the reactions to each status are counted over time.
        # SQLite cannot change a CHECK, so occurrences (and parts, which refer to it) are rebuilt.
        "0002_living_campaign",
        """
        CREATE TABLE occurrences_new (
            key TEXT PRIMARY KEY,
            post_id TEXT NOT NULL,
            planned_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'published', 'failed',
                'missed', 'skipped', 'withdrawn')),
            content_hash TEXT,
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            first_attempt_at TEXT,
            published_at TEXT
        );
        INSERT INTO occurrences_new SELECT key, post_id, planned_at, state, content_hash,
            attempts, last_error, created_at, updated_at, first_attempt_at, published_at
            FROM occurrences;
        CREATE TABLE parts_new (
            occurrence_key TEXT NOT NULL REFERENCES occurrences_new (key),
            idx INTEGER NOT NULL CHECK (idx >= 0),
            idempotency_key TEXT,
            status_id TEXT,
            url TEXT,
            first_attempt_at TEXT,
            published_at TEXT,
            PRIMARY KEY (occurrence_key, idx),
            CHECK (status_id IS NULL OR idempotency_key IS NOT NULL)
        );
        INSERT INTO parts_new SELECT occurrence_key, idx, idempotency_key, status_id, url,
            first_attempt_at, published_at FROM parts;
        DROP TABLE parts;
        DROP TABLE occurrences;
        ALTER TABLE occurrences_new RENAME TO occurrences;
        ALTER TABLE parts_new RENAME TO parts;
        CREATE INDEX occurrences_post_id ON occurrences (post_id);
        CREATE INDEX occurrences_state ON occurrences (state);
        CREATE TABLE part_snapshots (
            occurrence_key TEXT NOT NULL,
            idx INTEGER NOT NULL CHECK (idx >= 0),
            snapshot TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            PRIMARY KEY (occurrence_key, idx)
        );
        CREATE TABLE edits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            occurrence_key TEXT NOT NULL,
            idx INTEGER NOT NULL,
            status_id TEXT NOT NULL,
            target TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('intended', 'applied', 'found', 'failed')),
            created_at TEXT NOT NULL,
            done_at TEXT,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX edits_open ON edits (occurrence_key, idx, state);
        CREATE TABLE engagement (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            status_id TEXT NOT NULL,
            occurrence_key TEXT NOT NULL,
            idx INTEGER NOT NULL,
            taken_at TEXT NOT NULL,
            favourites INTEGER,
            boosts INTEGER,
            replies INTEGER,
            quotes INTEGER,
            gone INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX engagement_status ON engagement (status_id, taken_at);
        """,
    ),
    (
        "0003_media_and_retry_windows",
        """
        CREATE TABLE media (
            occurrence_key TEXT NOT NULL,
            part_idx INTEGER NOT NULL CHECK (part_idx >= 0),
            position INTEGER NOT NULL CHECK (position >= 0),
            media_id TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            PRIMARY KEY (occurrence_key, part_idx, position)
        );
        CREATE INDEX media_uploaded_at ON media (uploaded_at);
        ALTER TABLE occurrences ADD COLUMN retried_at TEXT;
        """,
    ),
]

_SCHEMA_MIGRATIONS = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        position INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at TEXT NOT NULL
    )"""


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement knows trigger bodies)."""
    statements, buffer = [], ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\n;"):
                statements.append(buffer.strip())
            buffer = ""
    return statements


def migrate(conn: sqlite3.Connection, path: Path, now: str) -> None:
    """Apply every migration this file lacks, in order, each in its own transaction."""
    known = [name for name, _ in MIGRATIONS]
    applied = _applied(conn, path, known)
    if not applied:
        tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        if tables:
            raise LedgerError(
                f"{path}: this SQLite file is not a campaign-bot ledger (it has tables "
                f"{', '.join(t[0] for t in tables)}); point data_dir at another folder"
            )
    for position, (name, sql) in enumerate(MIGRATIONS, start=1):
        if name in applied:
            continue
        conn.execute("BEGIN IMMEDIATE")
        with conn:
            # Another process may have migrated while this one waited for the write lock.
            if name in _applied(conn, path, known):
                continue
            conn.execute(_SCHEMA_MIGRATIONS)
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (position, name, applied_at) VALUES (?, ?, ?)",
                (position, name, now),
            )


def _applied(conn: sqlite3.Connection, path: Path, known: list[str]) -> set[str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return set()
    names = [row[0] for row in conn.execute("SELECT name FROM schema_migrations")]
    for name in names:
        if name not in known:
            raise LedgerError(
                f"{path}: this ledger was written by a newer campaign-bot (schema "
                f"migration {name!r} is unknown to this version); upgrade campaign-bot"
            )
    return set(names)
