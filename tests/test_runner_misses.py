"""The Runner's misses and dry runs in detail: `expire` during an outage or a refused token, the
outage named in a miss, `retry` giving a missed occurrence a new window, the catching-up line,
and what the dry-run publisher says of a boost or quote. A real ledger and a fake clock."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config.settings import Settings, load_settings
from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, FollowKind, FollowUp, Part, Schedule
from bot.core.states import Result, State
from bot.mastodon.types import TransientError
from bot.publishing.outage import InstanceWatch, Outage
from bot.publishing.publisher import Outcome
from bot.publishing.runner import DryRunPublisher, Runner
from bot.schedule.planner import Occurrence
from bot.storage.ledger import Ledger

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def part(index: int, text: str) -> Part:
    return Part(
        index=index,
        text=text,
        spoiler_text=None,
        sensitive=False,
        visibility="public",
        language="en",
        media=(),
        poll=None,
        characters=len(text),
    )


def post(post_id: str, at: datetime, *, follows: FollowUp | None = None) -> CampaignPost:
    return CampaignPost(
        post_id,
        "posts/test.yaml",
        1,
        0,
        Schedule(at=at),
        None,
        (part(0, f"Text of {post_id}."),),
        f"hash-{post_id}",
        follows=follows,
    )


@dataclass
class Sender:
    """Publishes nothing; remembers what it was asked to publish."""

    asked: list[str] = field(default_factory=list)

    def publish(self, occurrence: Occurrence) -> Outcome:
        self.asked.append(occurrence.key)
        return Outcome(occurrence.key, Result.PUBLISHED)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "bot.yaml"
    config = {"timezone": "UTC", "catch_up": "1h", "data_dir": str(tmp_path / "data")}
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in config.items()))
    return load_settings(path, env={})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    made = Ledger.open(tmp_path / "ledger.sqlite3", clock)
    yield made
    made.close()


def occurrence(key: str, planned: datetime, deadline: datetime, state: State) -> Occurrence:
    return Occurrence(key, post(key, planned), planned, deadline, state)


def test_expire_records_as_missed_only_what_is_past_its_deadline_and_not_in_flight(
    settings: Settings, ledger: Ledger, clock: FakeClock
) -> None:
    """Past the deadline: missed, with what kept it back first. At the deadline, or already
    being sent: left alone. Nothing is sent."""
    sender = Sender()
    runner = Runner(settings, ledger, clock, sender)
    late = occurrence("late", NOW - timedelta(hours=2), NOW - timedelta(seconds=1), State.PENDING)
    edge = occurrence("edge", NOW - timedelta(hours=1), NOW, State.PENDING)
    flying = occurrence("flying", NOW - timedelta(hours=3), NOW - timedelta(hours=2), State.SENDING)
    summary = runner.expire([late, edge, flying], "the instance refused the access token")
    reason = (
        "the instance refused the access token; planned for 2026-06-10 10:00 UTC, and it is now "
        "2h later, past its not_after window (until 2026-06-10 11:59 UTC)"
    )
    assert summary.missed == [("late", reason)]
    assert summary.outcomes == []
    assert sender.asked == []
    assert {k: str(v) for k, v in ledger.states().items()} == {"late": "missed"}


def test_a_miss_during_an_outage_names_it(tmp_path: Path, ledger: Ledger, clock: FakeClock) -> None:
    """With the instance down, a missed occurrence says since when and what it answered, in
    the campaign's zone."""
    path = tmp_path / "london.yaml"
    path.write_text('timezone: "Europe/London"\ncatch_up: "1h"\n')
    settings = load_settings(path, env={})
    down = Outage(NOW - timedelta(hours=3), "503", 4, NOW + timedelta(minutes=1))
    watch = InstanceWatch(clock, load=down.to_json)
    runner = Runner(settings, ledger, clock, Sender(), watch=watch)
    late = occurrence("late", NOW - timedelta(hours=2), NOW - timedelta(hours=1), State.PENDING)
    summary = runner.run([late])
    [(key, reason)] = summary.missed
    assert key == "late"
    assert reason == (
        "the instance was unavailable from 2026-06-10 10:00 BST to 2026-06-10 13:00 BST; last "
        "answer: 503; planned for 2026-06-10 11:00 BST, and it is now 2h later, past its "
        "not_after window (until 2026-06-10 12:00 BST)"
    )
    # Given its own reason, the miss does not add the outage's.
    again = occurrence("other", NOW - timedelta(hours=2), NOW - timedelta(hours=1), State.PENDING)
    [(_, told)] = runner.expire([again], "the access token was refused").missed
    assert told.startswith("the access token was refused; planned for ")


def test_a_retried_miss_gets_a_new_window(
    settings: Settings, ledger: Ledger, clock: FakeClock
) -> None:
    """`retry` on a missed occurrence: the next run publishes it, it is not missed again."""
    sender = Sender()
    old = post("old", NOW - timedelta(hours=5))
    ledger.mark_missed("old", "old", NOW - timedelta(hours=5), "too late")
    clock.advance(timedelta(minutes=10))
    ledger.retry("old")
    summary = Runner(settings, ledger, clock, sender).run_due([old])
    assert summary.missed == []
    assert sender.asked == ["old"]


def test_catching_up_is_said_for_the_post_unless_it_waits(
    settings: Settings, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A post sent over a minute late is logged as catching up, under its id; not one the
    instance watch holds back (it is not being sent yet)."""
    watch = InstanceWatch(clock)
    runner = Runner(settings, ledger, clock, Sender(), watch=watch)
    late = occurrence("late", NOW - timedelta(minutes=2), NOW + timedelta(hours=1), State.PENDING)
    with caplog.at_level(logging.INFO, logger="bot.publishing.runner"):
        runner.run([late])
    [line] = [r for r in caplog.records if r.getMessage().startswith("catching up")]
    assert line.getMessage() == "catching up, 2m late"
    assert getattr(line, "post_id", None) == "late"
    caplog.clear()
    # The instance failed this post a moment ago: it waits its own turn (others need not).
    watch.failed("late", TransientError("the instance answered 502", http_status=502))
    with caplog.at_level(logging.INFO, logger="bot.publishing.runner"):
        runner.run([late])
    assert not [r for r in caplog.records if r.getMessage().startswith("catching up")]


def boost_of(shared: str) -> Occurrence:
    follow = FollowUp(FollowKind.BOOST, "ally", timedelta(minutes=30))
    key = f"{shared}{follow.suffix}"
    made = post(key, NOW, follows=follow)
    return Occurrence(key, made, NOW, NOW + timedelta(hours=1), State.PENDING)


def test_the_dry_run_publisher_answers_for_the_occurrence(settings: Settings) -> None:
    plain = occurrence("plain", NOW, NOW + timedelta(hours=1), State.PENDING)
    assert DryRunPublisher(settings).publish(plain) == Outcome("plain", Result.DRY_RUN)


def test_a_dry_run_boost_without_a_ledger_waits_for_its_post(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    boost = boost_of("launch")
    with caplog.at_level(logging.INFO, logger="bot.publishing.runner"):
        outcome = DryRunPublisher(settings).publish(boost)
    assert outcome == Outcome(boost.key, Result.DRY_RUN)
    assert [r.getMessage() for r in caplog.records] == [
        "would boost launch once it is out (30m after it) as ally"
    ]


def test_a_dry_run_boost_of_a_failed_thread_is_skipped_even_with_its_first_part_out(
    settings: Settings, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """Part 0 went out, then the thread failed: there is nothing to boost, and it says so
    under the boost's own id."""
    ledger.begin_attempt("launch", "launch", NOW, "hash")
    ledger.record_part_intent("launch", 0, "idem-0")
    ledger.record_part_published("launch", 0, "9", "https://x/9")
    ledger.mark_failed("launch", "part 2 refused")
    boost = boost_of("launch")
    with caplog.at_level(logging.INFO, logger="bot.publishing.runner"):
        DryRunPublisher(settings, ledger).publish(boost)
    [line] = caplog.records
    assert line.getMessage() == (
        "would skip the boost by ally: launch was never published (failed)"
    )
    assert getattr(line, "post_id", None) == boost.post.id


def test_a_dry_run_quote_shows_its_text_and_the_link_fallback_only_when_asked(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    text = "Q" * 90
    for fallback in (False, True):
        follow = FollowUp(
            FollowKind.QUOTE, "ally", timedelta(0), part=part(0, text), fallback_link=fallback
        )
        key = f"launch{follow.suffix}"
        quote = CampaignPost(
            key, "posts/t.yaml", 1, 0, Schedule(at=NOW), None, (part(0, text),), "h", follows=follow
        )
        with caplog.at_level(logging.INFO, logger="bot.publishing.runner"):
            DryRunPublisher(settings).publish(Occurrence(key, quote, NOW, NOW, State.PENDING))
    assert [r.getMessage() for r in caplog.records] == [
        f"would quote launch once it is out (0s after it) as ally: {'Q' * 80!r}",
        f"would quote launch once it is out (0s after it) as ally: {'Q' * 80!r}"
        " (or post it with the link, where the instance cannot quote)",
    ]


def test_a_dry_run_round_does_not_repeat_a_skipped_boost(
    settings: Settings, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A dry run that would record the post as missed skips its boost, and a later round of the
    same dry run has neither left to do."""
    follow = FollowUp(FollowKind.BOOST, "ally", timedelta(minutes=30))
    launch = CampaignPost(
        "launch",
        "posts/test.yaml",
        1,
        0,
        Schedule(at=NOW - timedelta(hours=5)),
        None,
        (part(0, "We launch."),),
        "hash",
        follow_ups=(follow,),
    )
    runner = Runner(settings, ledger, clock, DryRunPublisher(settings, ledger), dry_run=True)
    first = runner.upcoming([launch], NOW)
    boost = f"launch{follow.suffix}"
    assert [o.key for o in first] == ["launch", boost]
    with caplog.at_level(logging.INFO, logger="bot.publishing.runner"):
        summary = runner.run(first)
    [skip] = [r for r in caplog.records if r.getMessage().startswith("would skip")]
    assert skip.getMessage() == "would skip the boost by ally: launch would be recorded as missed"
    assert getattr(skip, "post_id", None) == first[1].post.id
    assert summary.outcomes == [Outcome(boost, Result.DRY_RUN)]
    assert runner.upcoming([launch], NOW) == []
    assert ledger.states() == {}


def test_a_dry_run_boost_of_a_post_still_due_is_described_not_skipped(
    settings: Settings, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Only a boost whose post the dry run records as missed is skipped; this one is told."""
    runner = Runner(settings, ledger, clock, DryRunPublisher(settings, ledger), dry_run=True)
    boost = boost_of("launch")
    with caplog.at_level(logging.INFO, logger="bot.publishing.runner"):
        summary = runner.run([boost])
    assert [r.getMessage() for r in caplog.records] == [
        "would boost launch once it is out (30m after it) as ally"
    ]
    assert summary.outcomes == [Outcome(boost.key, Result.DRY_RUN)]
