"""Engagement: when each status is due for a count, what a count reads from the instance, and
the tables the report makes of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import responses

from bot.cli.report_command import _cell
from bot.core.clock import FakeClock
from bot.core.states import State
from bot.mastodon.client import MastodonClient
from bot.service.engagement import Collector, due_for_collection
from bot.service.reporting import PartRow, PostRow, by_time
from bot.storage.engagement import Counts, EngagementStore, latest_engagement, read_snapshots
from bot.storage.ledger import Ledger

BASE = "https://campaign.example"
FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
START = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3", clock) as opened:
        opened.begin_attempt("p", "p", START, "h")
        opened.record_part_intent("p", 0, "k")
        opened.record_part_published("p", 0, "111", "https://x/111")
        opened.mark_published("p")
        yield opened


def test_a_status_is_counted_after_each_checkpoint_once(ledger: Ledger, clock: FakeClock) -> None:
    """Nothing before an hour; then once per passed checkpoint; never after it is gone."""
    store = EngagementStore(ledger, clock)

    def due() -> list[str]:
        return [
            d.status_id for d in due_for_collection(ledger, read_snapshots(ledger), clock.now())
        ]

    clock.advance(timedelta(minutes=59))
    assert due() == []
    clock.advance(timedelta(minutes=1))
    assert due() == ["111"]
    store.record("111", "p", 0, Counts(1, 2, 3))
    assert due() == []
    clock.advance(timedelta(hours=5))
    assert due() == ["111"]
    store.record("111", "p", 0, None)
    clock.advance(timedelta(days=10))
    assert due() == []
    assert latest_engagement(ledger) == {"111": Counts(1, 2, 3, None, gone=True)}
    assert [e.kind for e in ledger.events("p")][-1] == "status-gone"


def test_collect_reads_the_counts_mastodon_returns(ledger: Ledger, clock: FakeClock) -> None:
    """favourites_count, reblogs_count, replies_count and quotes_count (4.5+) are stored."""
    status = json.loads((FIXTURES / "status_reply.json").read_text(encoding="utf-8"))
    status.update(favourites_count=7, reblogs_count=3, replies_count=2, quotes_count=1)
    clock.advance(timedelta(hours=2))
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/api/v1/statuses/111", json=status)
        collected = Collector(MastodonClient(BASE, "t", clock=clock), ledger, clock).collect()
    assert (collected.read, collected.gone) == (1, 0)
    assert latest_engagement(ledger) == {"111": Counts(7, 3, 2, 1)}


def test_collect_yields_to_a_due_post(ledger: Ledger, clock: FakeClock) -> None:
    """When a post is due, counting stops before its first request and is left for later."""
    clock.advance(timedelta(hours=2))
    collector = Collector(
        MastodonClient(BASE, "t", clock=clock), ledger, clock, should_yield=lambda: True
    )
    with responses.RequestsMock():
        collected = collector.collect()
    assert (collected.read, collected.left) == (0, 1)


def test_best_hours_and_weekdays_come_first() -> None:
    """Groups are ranked by the average engagement of their posts, in the campaign's zone."""

    def row(when: datetime, favourites: int) -> PostRow:
        part = PartRow(1, "1", "u", Counts(favourites, 0, 0), None, when)
        return PostRow("k", "k", when, State.PUBLISHED, (), (part,))

    rows = [row(START, 10), row(START + timedelta(days=1), 2), row(START + timedelta(hours=3), 1)]
    london = ZoneInfo("Europe/London")
    assert [(g.label, g.posts) for g in by_time(rows, london, "hour")] == [
        ("09:00", 2),
        ("12:00", 1),
    ]
    assert by_time(rows, london, "weekday")[0].label == "Tuesday"


@pytest.mark.parametrize(
    ("value", "cell"), [("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("-3", "'-3"), (-3, -3), (None, "")]
)
def test_csv_cells_never_run_as_formulas(value: object, cell: object) -> None:
    """A text starting like a formula is quoted; numbers stay numbers."""
    assert _cell(value) == cell
