"""What is due and what is missed, with a controlled clock and the real ledger: the Runner, and
the daemon's scheduling and pause handling around it. Nothing here sleeps or talks HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config.settings import Settings, load_settings
from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost
from bot.core.states import Result, State
from bot.mastodon.types import TransientError
from bot.publishing.publisher import Outcome
from bot.publishing.runner import DryRunPublisher, Runner, RunSummary
from bot.schedule.planner import Occurrence
from bot.service.app import App, Connection
from bot.service.daemon import Daemon
from bot.service.planning import JOB_PREFIX
from bot.storage import control
from bot.storage.ledger import Ledger

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@dataclass
class FakePublisher:
    """Publishes into the real ledger without HTTP, and remembers what went out when."""

    ledger: Ledger
    clock: FakeClock
    sent: list[tuple[str, datetime]] = field(default_factory=list)

    def publish(self, occurrence: Occurrence) -> Outcome:
        key = occurrence.key
        record = self.ledger.begin_attempt(
            key, occurrence.post.id, occurrence.planned_at, occurrence.post.content_hash
        )
        for part in occurrence.post.parts:
            if record.part(part.index) is None:
                self.ledger.record_part_intent(key, part.index, f"idem-{key}-{part.index}")
            stored = self.ledger.get(key)
            assert stored is not None
            done = stored.part(part.index)
            if done is None or done.status_id is None:
                status = f"{len(self.sent)}-{part.index}"
                self.ledger.record_part_published(key, part.index, status, f"https://x/{status}")
        self.ledger.mark_published(key)
        self.sent.append((key, self.clock.now()))
        return Outcome(key, "published")


@dataclass
class World:
    """A campaign folder, its settings and ledger, a fake clock and a fake publisher."""

    root: Path
    clock: FakeClock
    config: dict[str, Any] = field(default_factory=dict)
    _ledger: Ledger | None = None

    def write(self, posts: list[dict[str, Any]], name: str = "posts.yaml") -> None:
        folder = self.root / "posts"
        folder.mkdir(parents=True, exist_ok=True)
        lines = "".join(f"  - {json.dumps({'text': p['id'], **p})}\n" for p in posts)
        (folder / name).write_text("posts:\n" + lines, encoding="utf-8")

    @property
    def settings(self) -> Settings:
        body = {"timezone": "Europe/London", "catch_up": "1h", **self.config}
        path = self.root / "bot.yaml"
        path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in body.items()))
        return load_settings(path, env={})

    @property
    def app(self) -> App:
        return App(self.settings, clock=self.clock, env={})

    def posts(self) -> list[CampaignPost]:
        campaign = self.app.campaign(online=False)
        assert not campaign.errors, [p.render() for p in campaign.errors]
        return campaign.posts

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.open(self.settings.ledger_path, self.clock)
        return self._ledger

    def runner(self) -> tuple[Runner, FakePublisher]:
        publisher = FakePublisher(self.ledger, self.clock)
        return Runner(self.settings, self.ledger, self.clock, publisher), publisher

    def states(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.ledger.states().items()}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path, FakeClock(NOW))
    yield made
    if made._ledger is not None:
        made._ledger.close()


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("planned", "not_after", "catch_up", "expected"),
    [
        (ago(minutes=0), None, "1h", "published"),
        (ago(minutes=59), None, "1h", "published"),
        (ago(minutes=61), None, "1h", "missed"),
        (ago(hours=5), None, "6h", "published"),
        (ago(minutes=20), "10m", "1h", "missed"),
        (ago(hours=3), "4h", "1h", "published"),
        (ago(hours=3), (NOW + timedelta(minutes=1)).isoformat(), "1h", "published"),
        (ago(minutes=5), (NOW - timedelta(minutes=1)).isoformat(), "1h", "missed"),
    ],
)
def test_due_or_missed_by_window(
    world: World, planned: str, not_after: str | None, catch_up: str, expected: str
) -> None:
    """A past occurrence goes out while within `not_after` (default: catch_up), else is missed."""
    world.config["catch_up"] = catch_up
    body: dict[str, Any] = {"id": "p", "at": planned, "text": "hello"}
    if not_after is not None:
        body["not_after"] = not_after
    world.write([body])
    runner, publisher = world.runner()
    summary = runner.run_due(world.posts())
    assert world.states() == {"p": expected}
    assert [k for k, _ in publisher.sent] == (["p"] if expected == "published" else [])
    if expected == "missed":
        [(key, reason)] = summary.missed
        assert key == "p"
        assert "past its not_after window" in reason
        [event] = [e for e in world.ledger.events("p") if e.kind == "missed"]
        assert event.detail == reason


def test_future_posts_are_not_due(world: World) -> None:
    """An occurrence planned after now is neither published nor recorded."""
    world.write([{"id": "later", "at": (NOW + timedelta(seconds=1)).isoformat(), "text": "x"}])
    runner, publisher = world.runner()
    summary = runner.run_due(world.posts())
    assert (summary.outcomes, summary.missed, publisher.sent) == ([], [], [])
    assert world.states() == {}


def test_catch_up_goes_oldest_first(world: World) -> None:
    """After downtime the occurrences still in their window go out oldest first."""
    world.write(
        [
            {"id": "c", "at": ago(minutes=10), "text": "c"},
            {"id": "a", "at": ago(minutes=50), "text": "a"},
            {"id": "stale", "at": ago(hours=2), "text": "s"},
            {"id": "b", "at": ago(minutes=30), "text": "b"},
        ]
    )
    runner, publisher = world.runner()
    summary = runner.run_due(world.posts())
    assert [k for k, _ in publisher.sent] == ["a", "b", "c"]
    assert [k for k, _ in summary.missed] == ["stale"]
    assert runner.run_due(world.posts()).outcomes == []


def test_interrupted_sending_is_finished_past_its_window(world: World) -> None:
    """An occurrence left in `sending` by a stop is finished, even long after its window."""
    planned = NOW - timedelta(days=2)
    world.write([{"id": "half", "at": planned.isoformat(), "text": "x", "thread": [{"text": "y"}]}])
    [post] = world.posts()
    world.ledger.begin_attempt("half", "half", planned, post.content_hash)
    world.ledger.record_part_intent("half", 0, "idem-half-0")
    world.ledger.record_part_published("half", 0, "s0", "https://x/s0")
    runner, publisher = world.runner()
    summary = runner.run_due(world.posts())
    assert summary.missed == []
    assert [k for k, _ in publisher.sent] == ["half"]
    record = world.ledger.get("half")
    assert record is not None
    assert [p.status_id for p in record.parts] == ["s0", "0-1"]
    assert str(record.state) == "published"


def test_removed_post_is_not_published(world: World) -> None:
    """A post taken out of the files is not published, even if the ledger had it pending."""
    world.write(
        [{"id": "stays", "at": ago(minutes=1), "text": "x"}, {"id": "gone", "at": ago(minutes=1)}]
    )
    posts = world.posts()
    world.ledger.begin_attempt("gone", "gone", NOW - timedelta(minutes=1), "h")
    world.ledger.mark_pending_after_error("gone", "503 from the instance")
    runner, publisher = world.runner()
    runner.run_due([p for p in posts if p.id != "gone"])
    assert [k for k, _ in publisher.sent] == ["stays"]
    assert world.states() == {"stays": "published", "gone": "pending"}


def step_through(world: World, until: datetime) -> FakePublisher:
    """Jump the clock from one planned moment to the next, running what is due at each."""
    runner, publisher = world.runner()
    posts = world.posts()
    while True:
        upcoming = [o for o in runner.upcoming(posts, until) if o.planned_at > world.clock.now()]
        if not upcoming:
            return publisher
        world.clock.set(upcoming[0].planned_at)
        runner.run_due(posts)


def test_recurring_posts_go_out_once_per_occurrence(world: World) -> None:
    """A cron post goes out at each occurrence, once, keyed by its UTC time, within from/until."""
    world.write(
        [
            {
                "id": "daily",
                "cron": "0 18 * * *",
                "from": "2026-06-11",
                "until": "2026-06-14",
                "text": "x",
            }
        ]
    )
    publisher = step_through(world, NOW + timedelta(days=10))
    assert publisher.sent == [
        (f"daily@2026-06-{d}T17:00:00Z", datetime(2026, 6, d, 17, tzinfo=UTC))
        for d in (11, 12, 13, 14)
    ]


def test_recurring_post_missed_during_downtime(world: World) -> None:
    """After hours down, the recurring occurrences past their window are recorded missed, the
    one still inside it goes out, and none is sent twice."""
    world.write(
        [{"id": "hourly", "cron": "30 * * * *", "from": "2026-06-10 12:00", "not_after": "45m"}]
    )
    runner, publisher = world.runner()
    runner.run_due(world.posts())  # 12:00 UTC: the 11:30 UTC one is 30 minutes late
    world.clock.set(NOW + timedelta(hours=3, minutes=40))
    summary = runner.run_due(world.posts())
    assert [k for k, _ in publisher.sent] == [
        "hourly@2026-06-10T11:30:00Z",
        "hourly@2026-06-10T15:30:00Z",
    ]
    assert [k for k, _ in summary.missed] == [
        "hourly@2026-06-10T12:30:00Z",
        "hourly@2026-06-10T13:30:00Z",
        "hourly@2026-06-10T14:30:00Z",
    ]
    assert runner.run_due(world.posts()).outcomes == []


def test_slot_queued_posts_take_the_next_free_slots(world: World) -> None:
    """Posts without a time fill the weekly slots in file order, skipping one a dated post has."""
    world.config["slots"] = ["mon-fri 09:30", "sat 10:00"]
    # 2026-06-10 is a Wednesday; 09:30 in London is 08:30 UTC in summer.
    world.write(
        [
            {"id": "first", "text": "1"},
            {"id": "pinned", "at": "2026-06-11 09:30", "text": "p"},
            {"id": "second", "text": "2"},
            {"id": "third", "text": "3"},
        ]
    )
    publisher = step_through(world, NOW + timedelta(days=7))
    assert publisher.sent == [
        ("pinned", datetime(2026, 6, 11, 8, 30, tzinfo=UTC)),
        ("first", datetime(2026, 6, 12, 8, 30, tzinfo=UTC)),
        ("second", datetime(2026, 6, 13, 9, 0, tzinfo=UTC)),
        ("third", datetime(2026, 6, 15, 8, 30, tzinfo=UTC)),
    ]


DAYS = 5


def _daily_at_0930(kind: str, first_day: str) -> list[dict[str, Any]]:
    days = [date.fromisoformat(first_day) + timedelta(days=n) for n in range(DAYS)]
    if kind == "cron":
        return [{"id": "c", "cron": "30 9 * * *", "from": first_day, "until": str(days[-1])}]
    if kind == "at":
        return [{"id": f"at-{n}", "at": f"{day} 09:30"} for n, day in enumerate(days)]
    return [{"id": f"slot-{n}"} for n in range(DAYS)]


@pytest.mark.parametrize("kind", ["cron", "at", "slot"])
@pytest.mark.parametrize(
    "first_day", ["2026-03-27", "2026-10-23"], ids=["clocks-forward", "clocks-back"]
)
def test_local_time_holds_across_daylight_saving(world: World, kind: str, first_day: str) -> None:
    """09:30 Europe/London stays 09:30 local on both sides of a daylight-saving change."""
    start = datetime.fromisoformat(first_day).replace(tzinfo=LONDON)
    world.clock = FakeClock(start)
    world.config["slots"] = ["daily 09:30"]
    world.write(_daily_at_0930(kind, first_day))
    publisher = step_through(world, start + timedelta(days=DAYS, hours=-1))
    local = [moment.astimezone(LONDON) for _, moment in publisher.sent]
    assert [t.strftime("%H:%M") for t in local] == ["09:30"] * DAYS
    assert len({t.date() for t in local}) == DAYS
    # Both offsets were used: the change fell inside the five days.
    assert {t.utcoffset() for t in local} == {timedelta(0), timedelta(hours=1)}


# --- the daemon around the runner -------------------------------------------------------------


@pytest.fixture
def daemon(world: World) -> Iterator[tuple[Daemon, FakePublisher]]:
    """A daemon on the fake clock whose scheduler is never started: jobs are only inspected."""
    made = Daemon(world.app)
    publisher = FakePublisher(made.ledger, world.clock)
    made.publisher = publisher
    made.runner = Runner(made.settings, made.ledger, world.clock, publisher)
    yield made, publisher
    made.ledger.close()


def test_pause_holds_publishing_and_resume_applies_catch_up(
    world: World, daemon: tuple[Daemon, FakePublisher]
) -> None:
    """While paused the daemon publishes nothing, even the instant the pause file appears; on
    resume, what is still in its window goes out and what is not is recorded missed."""
    bot, publisher = daemon
    world.write(
        [
            {"id": "kept", "at": (NOW + timedelta(minutes=1)).isoformat(), "text": "k"},
            {"id": "short", "at": (NOW + timedelta(minutes=1)).isoformat(), "not_after": "5m"},
        ]
    )
    bot._load("start")
    control.pause(world.settings.data_dir, "test", world.clock.now())
    world.clock.advance(timedelta(minutes=1))
    for key in ("kept", "short"):
        bot._due_job(key)
    assert publisher.sent == []
    assert bot.paused

    world.clock.advance(timedelta(minutes=30))
    bot._catch_up()
    assert publisher.sent == []
    control.resume(world.settings.data_dir)
    bot._watch()
    assert not bot.paused
    assert "catch-up" in {job.id for job in bot.scheduler.get_jobs()}
    bot._catch_up()
    assert [k for k, _ in publisher.sent] == ["kept"]
    assert world.states() == {"kept": "published", "short": "missed"}


def test_due_job_skips_a_post_moved_later_or_removed(
    world: World, daemon: tuple[Daemon, FakePublisher]
) -> None:
    """A job that fires for a post since moved to a later time, or removed, publishes nothing."""
    bot, publisher = daemon
    soon = NOW + timedelta(minutes=1)
    world.write([{"id": "moved", "at": soon.isoformat()}, {"id": "gone", "at": soon.isoformat()}])
    bot._load("start")
    world.write([{"id": "moved", "at": (soon + timedelta(hours=1)).isoformat()}])
    bot._load("post files changed")
    world.clock.set(soon)
    bot._due_job("moved")
    bot._due_job("gone")
    assert publisher.sent == []
    world.clock.set(soon + timedelta(hours=1))
    bot._due_job("moved")
    assert [k for k, _ in publisher.sent] == ["moved"]


def test_daemon_schedules_one_date_job_per_occurrence(
    world: World, daemon: tuple[Daemon, FakePublisher]
) -> None:
    """Each future occurrence gets a date job at its exact instant; a reload moves, adds and
    cancels jobs to match the files."""
    bot, _ = daemon
    world.write(
        [
            {"id": "once", "at": "2026-06-11 09:30:15"},
            {"id": "weekly", "cron": "30 9 * * mon", "until": "2026-06-30"},
        ]
    )
    bot._load("start")
    jobs = {job.id: job for job in bot.scheduler.get_jobs()}
    runs = {
        k.removeprefix(JOB_PREFIX): j.trigger.run_date
        for k, j in jobs.items()
        if k.startswith(JOB_PREFIX)
    }
    assert runs == {
        "once": datetime(2026, 6, 11, 8, 30, 15, tzinfo=UTC),
        "weekly@2026-06-15T08:30:00Z": datetime(2026, 6, 15, 8, 30, tzinfo=UTC),
        "weekly@2026-06-22T08:30:00Z": datetime(2026, 6, 22, 8, 30, tzinfo=UTC),
        "weekly@2026-06-29T08:30:00Z": datetime(2026, 6, 29, 8, 30, tzinfo=UTC),
    }

    world.write([{"id": "once", "at": "2026-06-12 10:00"}, {"id": "new", "at": "2026-06-13 10:00"}])
    bot._load("post files changed")
    runs = {
        j.id.removeprefix(JOB_PREFIX): j.trigger.run_date
        for j in bot.scheduler.get_jobs()
        if j.id.startswith(JOB_PREFIX)
    }
    assert runs == {
        "once": datetime(2026, 6, 12, 9, 0, tzinfo=UTC),
        "new": datetime(2026, 6, 13, 9, 0, tzinfo=UTC),
    }


def test_an_edit_made_while_the_worker_is_busy_is_not_lost(
    world: World, daemon: tuple[Daemon, FakePublisher], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two reloads requested while the publishing worker is busy both run, the last one after
    the last edit: APScheduler would otherwise drop the second as a duplicate run."""
    bot, _ = daemon
    reloads: list[str] = []
    monkeypatch.setattr(bot, "_reload", reloads.append)
    gate = threading.Event()
    bot.scheduler.start()
    try:
        bot.scheduler.add_job(gate.wait, args=[10], executor="publish", id="slow-publish")
        bot.request_reload("first edit")
        _poll(lambda: bot.scheduler.get_job("reload") is None)  # handed to the busy worker
        bot.request_reload("second edit")
        _poll(lambda: bot.scheduler.get_job("reload") is None)
        gate.set()
        _poll(lambda: len(reloads) == 2)
    finally:
        gate.set()
        bot.scheduler.shutdown(wait=True)
    assert reloads == ["first edit", "second edit"]


def _poll(check: Callable[[], bool]) -> None:
    """Wait for the scheduler's threads to get there; the deadline only keeps a bug from hanging."""
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, "the scheduler did not get there within 30 s"
        time.sleep(0.01)


def test_an_edit_made_while_the_bot_starts_is_reloaded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post file edited while the starting daemon reads the files is reloaded by the watch."""
    world.write([{"id": "first", "at": (NOW + timedelta(days=1)).isoformat()}])
    bot = Daemon(world.app, dry_run=True)
    load = bot._load

    def load_then_edit(why: str) -> None:
        load(why)
        world.write([{"id": "first", "at": (NOW + timedelta(days=2)).isoformat(), "text": "v2"}])

    monkeypatch.setattr(bot, "_load", load_then_edit)
    reloads: list[str] = []
    monkeypatch.setattr(bot, "request_reload", reloads.append)
    try:
        bot.start()
        bot._watch()
    finally:
        bot.stop("test over")
        bot.scheduler.shutdown(wait=True)
        bot.ledger.close()
    assert reloads == ["post files changed"]


def test_a_new_recurring_post_brings_no_week_of_missed_records(world: World) -> None:
    """A recurring post added to a running bot starts now: its earlier times are not 'missed'
    (the one a minute ago is still inside its catch-up window and goes out)."""
    runner, _ = world.runner()
    runner.run_due([])
    world.clock.advance(timedelta(minutes=1))
    world.write([{"id": "hourly", "cron": "0 * * * *"}])
    summary = runner.run_due(world.posts())
    assert summary.missed == []
    assert world.states() == {"hourly@2026-06-10T12:00:00Z": "published"}


def test_recurring_occurrences_since_the_bot_last_looked_are_recorded_missed(
    world: World,
) -> None:
    """After two days down, each daily occurrence of those days is recorded missed, no more."""
    world.write([{"id": "daily", "cron": "0 9 * * *"}])
    runner, _ = world.runner()
    runner.run_due(world.posts())
    world.clock.advance(timedelta(days=2))
    summary = runner.run_due(world.posts())
    assert [k for k, _ in summary.missed] == [
        "daily@2026-06-11T08:00:00Z",
        "daily@2026-06-12T08:00:00Z",
    ]


def test_a_first_run_looks_back_only_over_the_catch_up_window(world: World) -> None:
    """With no earlier run in the ledger, only occurrences inside catch_up count."""
    world.write([{"id": "every-20m", "cron": "*/20 * * * *"}])
    runner, publisher = world.runner()
    summary = runner.run_due(world.posts())
    assert summary.missed == []
    assert [k for k, _ in publisher.sent] == [
        "every-20m@2026-06-10T11:00:00Z",
        "every-20m@2026-06-10T11:20:00Z",
        "every-20m@2026-06-10T11:40:00Z",
        "every-20m@2026-06-10T12:00:00Z",
    ]


def test_an_unreachable_instance_at_start_is_waited_for(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the instance cannot be reached when the bot starts, it keeps running, tries again
    after a jittered backoff (the instance counts as unavailable meanwhile), and then plans and
    catches up as usual."""
    world.write([{"id": "due", "at": (NOW - timedelta(minutes=5)).isoformat(), "text": "x"}])
    bot = Daemon(world.app)
    publisher = FakePublisher(bot.ledger, world.clock)
    answers: list[Any] = [TransientError("connection refused"), publisher]

    def flaky(app: App, ledger: Ledger, **_: Any) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Connection(client=None, publisher=answer)  # type: ignore[arg-type]

    monkeypatch.setattr(App, "connect", flaky)
    try:
        bot._connect()
        assert bot.runner is None
        job = bot.scheduler.get_job("reconnect")
        assert job is not None
        wait = job.trigger.run_date - world.clock.now()
        assert timedelta(seconds=2) <= wait <= timedelta(seconds=10)
        assert bot.watch.down
        bot._load("start")
        assert bot.planned == {}
        world.clock.set(job.trigger.run_date)
        bot._reconnect()
        assert [k for k, _ in publisher.sent] == ["due"]
        assert not bot.watch.down
    finally:
        bot.ledger.close()


def test_a_bad_ledger_record_does_not_stop_the_others(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A LedgerError on one occurrence is logged with its post id and reported as failed (so the
    daemon alerts and `run --once` exits 1); the occurrences after it still go out."""
    world.write(
        [
            {"id": "first", "at": ago(minutes=30), "text": "1"},
            {"id": "broken", "at": ago(minutes=20), "text": "2"},
            {"id": "last", "at": ago(minutes=10), "text": "3"},
        ]
    )
    # The ledger's row for `broken` names another post: the ledger refuses to send under it.
    world.ledger.begin_attempt("broken", "someone-else", NOW - timedelta(minutes=20), "h")
    runner, publisher = world.runner()
    with caplog.at_level("ERROR"):
        summary = runner.run_due(world.posts())
    assert [k for k, _ in publisher.sent] == ["first", "last"]
    assert [(o.key, str(o.result)) for o in summary.outcomes] == [
        ("first", "published"),
        ("broken", "failed"),
        ("last", "published"),
    ]
    assert summary.failed
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert getattr(record, "post_id", None) == "broken"
    assert record.getMessage() == (
        "failed: the ledger refused it: occurrence 'broken' belongs to post 'someone-else'; "
        "the other posts go on"
    )
    assert summary.outcomes[1].error == (
        "the ledger refused it: occurrence 'broken' belongs to post 'someone-else'"
    )


def test_recurring_occurrences_that_fall_due_while_paused_never_vanish(
    world: World, daemon: tuple[Daemon, FakePublisher]
) -> None:
    """A pause of three hours over an hourly post: after `resume`, each occurrence of the pause
    is in the ledger, published if still within its window, else missed — none is forgotten,
    although the paused daemon kept writing its heartbeat."""
    bot, publisher = daemon
    world.write([{"id": "tick", "cron": "0 * * * *", "text": "t"}])
    bot._load("start")
    bot._heartbeat()
    bot._catch_up()
    before = set(world.states())
    world.clock.advance(timedelta(minutes=10))
    control.pause(world.settings.data_dir, "test", world.clock.now())
    bot._watch()
    assert bot.paused
    for _ in range(12):  # three hours in steps of a quarter, the heartbeat beating
        world.clock.advance(timedelta(minutes=15))
        bot._watch()
        bot._heartbeat()
        for key in list(bot.planned):
            bot._due_job(key)
    assert set(world.states()) == before
    control.resume(world.settings.data_dir)
    bot._watch()
    assert not bot.paused
    bot._catch_up()
    during = {k: v for k, v in world.states().items() if k not in before}
    assert during == {
        "tick@2026-06-10T13:00:00Z": "missed",
        "tick@2026-06-10T14:00:00Z": "missed",
        "tick@2026-06-10T15:00:00Z": "published",
    }
    assert [k for k, _ in publisher.sent if k not in before] == ["tick@2026-06-10T15:00:00Z"]


def test_a_dry_run_numbers_thread_parts_as_people_count(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """`run --dry-run` names a thread's toots part 1, part 2 (under part 1), as people count."""
    world.write([{"id": "t", "at": ago(minutes=1), "text": "Start", "thread": [{"text": "More"}]}])
    [post] = world.posts()
    due = Occurrence("t", post, NOW, NOW + timedelta(hours=1), State.PENDING)
    with caplog.at_level("INFO"):
        DryRunPublisher(world.settings).publish(due)
    assert [r.getMessage() for r in caplog.records] == [
        "would publish part 1: 'Start'",
        "would publish part 2 under part 1: 'More'",
    ]


def test_a_reload_says_what_changed_in_words_that_count(
    world: World, daemon: tuple[Daemon, FakePublisher], caplog: pytest.LogCaptureFixture
) -> None:
    """A post moved is "moved", not "new"; one post is "1 post"; a reload that changes nothing
    says so."""
    bot, _ = daemon
    later = (NOW + timedelta(days=1)).isoformat()
    world.write([{"id": "a", "at": later, "text": "a"}, {"id": "b", "at": later, "text": "b"}])
    summaries: list[str] = []

    def reload(why: str) -> None:
        caplog.clear()
        with caplog.at_level("INFO"):
            bot._load(why)
        summaries.extend(r.getMessage() for r in caplog.records if r.getMessage().startswith(why))

    reload("start")
    moved = (NOW + timedelta(days=2)).isoformat()
    world.write([{"id": "a", "at": moved, "text": "a"}])
    reload("post files changed")
    world.write([{"id": "a", "at": moved, "text": "a"}, {"id": "c", "at": later, "text": "c"}])
    reload("SIGHUP")
    reload("periodic re-plan")
    world.clock.set(NOW + timedelta(days=1, minutes=1))
    bot._catch_up()  # c goes out: it leaves the plan, published, not cancelled
    reload("later")
    assert summaries == [
        "start: 2 posts, 2 occurrences planned in the next 35 days (2 new)",
        "post files changed: 1 post, 1 occurrence planned in the next 35 days (1 moved, 1 "
        "cancelled)",
        "SIGHUP: 2 posts, 2 occurrences planned in the next 35 days (1 new)",
        "periodic re-plan: 2 posts, 2 occurrences planned in the next 35 days (no change)",
        "later: 2 posts, 1 occurrence planned in the next 35 days (no change)",
    ]


def test_a_problem_in_the_post_files_is_counted_in_words(
    world: World, daemon: tuple[Daemon, FakePublisher], caplog: pytest.LogCaptureFixture
) -> None:
    """One invalid post is "1 problem", not "1 problems"."""
    bot, _ = daemon
    world.write([{"id": "ok", "at": (NOW + timedelta(days=1)).isoformat(), "txt": "typo"}])
    with caplog.at_level("WARNING"):
        bot._load("start")
    assert (
        "1 problem in the post files: the posts concerned are left out until it is fixed; the "
        "rest of the campaign runs"
    ) in [r.getMessage() for r in caplog.records]


def test_a_config_edit_is_named_not_ignored(
    world: World, daemon: tuple[Daemon, FakePublisher], caplog: pytest.LogCaptureFixture
) -> None:
    """The running daemon keeps its config; an edit is logged with the keys it changes, when
    the watch notices it and again on SIGHUP."""
    bot, _ = daemon
    world.write([{"id": "a", "at": (NOW + timedelta(days=1)).isoformat(), "text": "a"}])
    bot._load("start")
    world.config["catch_up"] = "3h"
    world.config["require_alt_text"] = False
    assert world.settings.catch_up == timedelta(hours=3)  # rewrites the config file
    wanted = (
        f"{world.root / 'bot.yaml'} changed (catch_up, require_alt_text); the bot keeps the "
        "config it started with until it is restarted"
    )
    with caplog.at_level("INFO"):
        bot._watch()
        bot._watch()
        bot._reload("SIGHUP")
    assert [r.getMessage() for r in caplog.records].count(wanted) == 2
    assert bot.settings.catch_up == timedelta(hours=1)


def test_recurring_look_back_stops_at_seven_days(world: World) -> None:
    """After ten days down, only the last seven days of a daily post are recorded missed."""
    world.write([{"id": "daily", "cron": "0 9 * * *"}])
    runner, _ = world.runner()
    runner.run_due(world.posts())
    world.clock.advance(timedelta(days=10))
    summary = runner.run_due(world.posts())
    assert [k for k, _ in summary.missed] == [
        f"daily@2026-06-{day}T08:00:00Z" for day in range(14, 21)
    ]


def test_a_cron_posts_not_after_sets_the_look_back_of_a_first_run(world: World) -> None:
    """On a first run, a cron post with `not_after: 3h` catches up 3 hours, not catch_up's 1."""
    world.write([{"id": "hourly", "cron": "0 * * * *", "not_after": "3h"}])
    runner, publisher = world.runner()
    summary = runner.run_due(world.posts())
    assert summary.missed == []
    assert [k for k, _ in publisher.sent] == [
        f"hourly@2026-06-10T{hour}:00:00Z" for hour in ("09", "10", "11", "12")
    ]


def test_a_first_run_looks_back_at_most_seven_days_whatever_not_after_says(world: World) -> None:
    """A recurring post with `not_after: 30d` still brings at most a week of occurrences."""
    world.write([{"id": "daily", "cron": "0 9 * * *", "not_after": "30d"}])
    runner, publisher = world.runner()
    runner.run_due(world.posts())
    assert [k for k, _ in publisher.sent] == [
        f"daily@2026-06-{d:02d}T08:00:00Z" for d in range(4, 11)
    ]


@pytest.mark.parametrize(
    ("late", "logged"),
    [(timedelta(minutes=1), None), (timedelta(seconds=90), "1m30s"), (timedelta(hours=2), "2h")],
)
def test_a_late_post_is_logged_as_caught_up_with_its_delay(
    world: World, caplog: pytest.LogCaptureFixture, late: timedelta, logged: str | None
) -> None:
    """A post going out more than a minute late says how late, with its post id."""
    world.config["catch_up"] = "3h"
    world.write([{"id": "p", "at": (NOW - late).isoformat(), "text": "x"}])
    runner, _ = world.runner()
    with caplog.at_level("INFO", logger="bot.publishing.runner"):
        runner.run_due(world.posts())
    found = [
        (r.getMessage(), getattr(r, "post_id", None))
        for r in caplog.records
        if r.getMessage().startswith("catching up")
    ]
    assert found == ([] if logged is None else [(f"catching up, {logged} late", "p")])


def test_a_missed_post_says_when_it_was_planned_and_until_when_it_could_go(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The reason names the planned time and the window's end in the campaign's zone."""
    world.write([{"id": "p", "at": ago(hours=3), "text": "x", "not_after": "1h"}])
    runner, _ = world.runner()
    with caplog.at_level("WARNING", logger="bot.publishing.runner"):
        summary = runner.run_due(world.posts())
    reason = (
        "planned for 2026-06-10 10:00 BST, and it is now 3h later, past its not_after window "
        "(until 2026-06-10 11:00 BST)"
    )
    assert summary.missed == [("p", reason)]
    assert [(r.getMessage(), getattr(r, "post_id", None)) for r in caplog.records] == [
        (f"missed: {reason}", "p")
    ]


def test_a_dry_run_goes_through_what_is_due_once_and_writes_nothing(world: World) -> None:
    """`run --dry-run`: what is due is shown once, what is too late is reported missed once,
    and the ledger gets neither records nor the time of the run."""
    world.write(
        [
            {"id": "due", "at": ago(minutes=5), "text": "d"},
            {"id": "stale", "at": ago(hours=5), "text": "s"},
        ]
    )
    runner = Runner(
        world.settings, world.ledger, world.clock, DryRunPublisher(world.settings), dry_run=True
    )
    first = runner.run_due(world.posts())
    assert [(o.key, str(o.result)) for o in first.outcomes] == [("due", "dry-run")]
    assert [k for k, _ in first.missed] == ["stale"]
    second = runner.run_due(world.posts())
    assert (second.outcomes, second.missed) == ([], [])
    assert world.states() == {}
    assert world.ledger.get_meta("last_run_at") is None


def test_publish_now_sends_a_post_at_once(world: World) -> None:
    """`publish ID` sends a post planned for later now; it keeps its planned time."""
    planned = NOW + timedelta(days=3)
    world.write([{"id": "later", "at": planned.isoformat(), "text": "x"}])
    [post] = world.posts()
    runner, publisher = world.runner()
    outcome = runner.publish_now(post)
    assert (outcome.key, str(outcome.result)) == ("later", "published")
    record = world.ledger.get("later")
    assert record is not None
    assert (record.planned_at, record.published_at) == (planned, NOW)
    assert publisher.sent == [("later", NOW)]


def test_publish_now_gives_a_recurring_post_an_extra_occurrence_now(world: World) -> None:
    """For a recurring post, `publish ID` adds an occurrence at this very moment."""
    world.write([{"id": "weekly", "cron": "0 9 * * mon"}])
    [post] = world.posts()
    runner, publisher = world.runner()
    runner.publish_now(post)
    assert publisher.sent == [("weekly@2026-06-10T12:00:00Z", NOW)]


def test_publish_now_retries_a_failed_post_keeping_its_planned_time(world: World) -> None:
    """A post that failed is put back and sent; its planned time stays the one it had."""
    planned = NOW - timedelta(hours=2)
    world.write([{"id": "p", "at": planned.isoformat(), "text": "x"}])
    [post] = world.posts()
    world.ledger.begin_attempt("p", "p", planned, post.content_hash)
    world.ledger.mark_failed("p", "refused (422)")
    runner, _ = world.runner()
    outcome = runner.publish_now(post)
    assert str(outcome.result) == "published"
    record = world.ledger.get("p")
    assert record is not None
    assert (str(record.state), record.planned_at, record.attempts) == ("published", planned, 2)
    assert [e.kind for e in world.ledger.events("p")][:3] == ["attempt", "failed", "retry"]


def test_the_summary_line_counts_each_result() -> None:
    """One line: published always, then failed, deferred, dry runs and missed when there are."""
    summary = RunSummary()
    assert summary.line() == "0 published"
    assert not summary.failed
    assert summary.next_retry is None
    soon, later = NOW + timedelta(minutes=5), NOW + timedelta(hours=1)
    summary.outcomes += [
        Outcome("a", Result.PUBLISHED),
        Outcome("b", Result.PUBLISHED),
        Outcome("c", Result.FAILED, error="422"),
        Outcome("d", Result.DEFERRED, retry_at=later),
        Outcome("e", Result.DEFERRED, retry_at=soon),
        Outcome("f", Result.DRY_RUN),
        Outcome("g", Result.ALREADY_PUBLISHED),
    ]
    summary.missed += [("h", "too late"), ("i", "too late")]
    assert summary.line() == "2 published, 1 failed, 2 deferred, 1 dry-run, 2 missed"
    assert summary.failed
    assert summary.next_retry == soon
    assert summary.count(Result.ALREADY_PUBLISHED) == 1


def test_a_dry_run_shows_media_with_alt_text_the_cw_and_the_start_of_the_text(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Each would-be toot shows its first 80 characters, its images with the first 40 of their
    alt text, and its content warning, under its post id."""
    (world.root / "posts" / "media").mkdir(parents=True)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01" * 2 + b"\x08\x02"
    for name in ("a.png", "b.png"):
        (world.root / "posts" / "media" / name).write_bytes(png + b"\x00" * 64)
    text = "T" * 85
    alt = "A" * 45
    world.write(
        [
            {
                "id": "pic",
                "at": ago(minutes=1),
                "text": text,
                "cw": "spoilers",
                "media": [{"file": "media/a.png", "alt": alt}, {"file": "media/b.png", "alt": "b"}],
            }
        ]
    )
    [post] = world.posts()
    due = Occurrence("pic", post, NOW, NOW + timedelta(hours=1), State.PENDING)
    with caplog.at_level("INFO", logger="bot.publishing.runner"):
        DryRunPublisher(world.settings).publish(due)
    assert [(r.getMessage(), getattr(r, "post_id", None)) for r in caplog.records] == [
        (
            f"would publish part 1: {'T' * 80!r} with media/a.png (alt: {'A' * 40}), "
            "media/b.png (alt: b)"
            " [CW: spoilers]",
            "pic",
        )
    ]


def test_publish_now_keeps_the_slot_of_a_queued_post_that_failed(world: World) -> None:
    """A slot-queued post that failed at its slot, sent with `publish ID`, keeps that slot as
    its planned time."""
    world.config["slots"] = ["daily 09:00"]
    world.write([{"id": "queued", "text": "x"}])
    [post] = world.posts()
    slot = NOW - timedelta(hours=5)
    world.ledger.begin_attempt("queued", "queued", slot, post.content_hash)
    world.ledger.mark_failed("queued", "refused (422)")
    runner, _ = world.runner()
    runner.publish_now(post)
    record = world.ledger.get("queued")
    assert record is not None
    assert (str(record.state), record.planned_at) == ("published", slot)
