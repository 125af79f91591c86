"""The engagement snapshots in the ledger's file: what is stored for a count and for a status
gone from the instance, the order they are read back in, and the newest counts per status."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.storage.engagement import (
    Counts,
    EngagementStore,
    Snapshot,
    latest_engagement,
    read_snapshots,
)
from bot.storage.ledger import Ledger

START = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3", clock) as opened:
        for key, status_id in (("a", "111"), ("b", "222")):
            opened.begin_attempt(key, key, START, "h")
            opened.record_part_intent(key, 0, f"k-{key}")
            opened.record_part_published(key, 0, status_id, f"https://x/{status_id}")
            opened.mark_published(key)
        yield opened


def test_counts_total_every_kind_of_reaction() -> None:
    assert Counts(1, 2, 3).total == 6  # a server that does not count quotes
    assert Counts(1, 2, 3, 4).total == 10
    assert Counts(1, 2, 3, 0).total == 6


def test_every_count_is_kept_with_its_time_post_and_part(ledger: Ledger, clock: FakeClock) -> None:
    store = EngagementStore(ledger, clock)
    store.record("111", "a", 0, Counts(1, 2, 3))
    clock.advance(HOUR)
    store.record("222", "b", 2, Counts(4, 5, 6, 7))
    clock.advance(HOUR)
    store.record("111", "a", 0, Counts(8, 9, 10, 11))
    assert store.snapshots() == read_snapshots(ledger)
    assert read_snapshots(ledger) == {
        "111": [
            Snapshot("111", "a", 0, START, Counts(1, 2, 3)),
            Snapshot("111", "a", 0, START + 2 * HOUR, Counts(8, 9, 10, 11)),
        ],
        "222": [Snapshot("222", "b", 2, START + HOUR, Counts(4, 5, 6, 7))],
    }
    assert latest_engagement(ledger) == {"111": Counts(8, 9, 10, 11), "222": Counts(4, 5, 6, 7)}
    assert [e.kind for e in ledger.events("a")].count("status-gone") == 0


def test_snapshots_taken_at_one_moment_keep_the_order_they_were_taken_in(
    ledger: Ledger, clock: FakeClock
) -> None:
    store = EngagementStore(ledger, clock)
    store.record("111", "a", 0, Counts(5, 0, 0))
    store.record("111", "a", 0, Counts(2, 0, 0))
    store.record("111", "a", 0, Counts(9, 0, 0))
    assert [s.counts.favourites for s in read_snapshots(ledger)["111"]] == [5, 2, 9]
    assert latest_engagement(ledger)["111"] == Counts(9, 0, 0)


def test_a_gone_status_keeps_its_last_counts_and_leaves_an_event(
    ledger: Ledger, clock: FakeClock
) -> None:
    store = EngagementStore(ledger, clock)
    store.record("111", "a", 0, Counts(1, 2, 3, 4))
    clock.advance(HOUR)
    store.record("111", "a", 0, None)
    assert read_snapshots(ledger)["111"][-1] == Snapshot(
        "111", "a", 0, START + HOUR, Counts(1, 2, 3, 4, gone=True)
    )
    assert latest_engagement(ledger) == {"111": Counts(1, 2, 3, 4, gone=True)}
    gone = ledger.events("a")[-1]
    assert (gone.kind, gone.detail, gone.part_index, gone.at) == (
        "status-gone",
        "status 111",
        0,
        START + HOUR,
    )


def test_a_status_gone_before_its_first_count_shows_nothing(
    ledger: Ledger, clock: FakeClock
) -> None:
    EngagementStore(ledger, clock).record("222", "b", 1, None)
    assert latest_engagement(ledger) == {"222": Counts(0, 0, 0, None, gone=True)}
    gone = ledger.events("b")[-1]
    assert (gone.kind, gone.detail, gone.part_index) == ("status-gone", "status 222", 1)
    assert read_snapshots(ledger)["222"][0].index == 1


def test_counts_are_read_while_the_running_bot_writes(
    ledger: Ledger, clock: FakeClock, tmp_path: Path
) -> None:
    """`report` and `calendar` read the counts while the bot may hold the write lock: the read
    does not wait for it (with no busy timeout, a read that had to would fail)."""
    EngagementStore(ledger, clock).record("111", "a", 0, Counts(1, 2, 3))
    writer = sqlite3.connect(tmp_path / "ledger.sqlite3", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE meta SET value = value")
        with Ledger.open(tmp_path / "ledger.sqlite3", clock, busy_timeout=0) as reader:
            assert latest_engagement(reader) == {"111": Counts(1, 2, 3)}
        writer.execute("ROLLBACK")
    finally:
        writer.close()
