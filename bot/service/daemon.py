"""`campaign-bot run`: the unattended bot.

APScheduler holds one date job per planned occurrence; a single worker thread publishes, so posts
go out one at a time in planned order. A second worker watches the posts folder (live reload),
the pause switch and the operator's nudges (`watching`), and writes the heartbeat. An outage of
the instance or a refused token is handled by `outages`. Every decision is one log line carrying
the post id.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.core.clock import Clock, SystemClock
from bot.core.posts import CampaignPost
from bot.core.states import Result
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import TokenRefused
from bot.publishing.coalition import CoalitionPublisher
from bot.publishing.runner import Publishes, Runner, RunSummary
from bot.schedule.due import LAST_RUN
from bot.schedule.planner import Occurrence
from bot.service.alerts import Alerter
from bot.service.app import App
from bot.service.config_watch import ConfigWatch
from bot.service.connection import LIVING_EVERY, InstanceLink
from bot.service.outages import Monitor
from bot.service.planning import HORIZON, Timetable
from bot.service.shutdown import stop_requested_early
from bot.service.watching import Watch, heartbeat
from bot.storage import control
from bot.storage.backups import CHECK_EVERY, backup_job
from bot.storage.ledger import Ledger

logger = logging.getLogger(__name__)

REPLAN_EVERY = timedelta(hours=6)
STOP_GRACE = 5.0  # seconds a request in flight may take to finish after SIGTERM
# APScheduler drops a run of a job whose id already has `max_instances` runs queued or running
# (MaxInstancesReachedError). Reload and catch-up always work from the latest files and ledger,
# so one run in progress plus one waiting covers every change made meanwhile.
CATCH_ALL_RUNS = 2


class Daemon(InstanceLink):
    def __init__(self, app: App, *, dry_run: bool = False, watch_interval: float = 2.0) -> None:
        self.app = app
        # `run_daemon` gives it the system clock; tests give it a FakeClock.
        self.clock: Clock = app.clock
        self.dry_run = dry_run
        self.watch_interval = watch_interval
        self.settings = app.settings
        self.stopping = threading.Event()
        self.busy = threading.Lock()  # held while publishing
        self.posts: Sequence[CampaignPost] = ()
        # Ids of posts left out by an error in their file.
        self.held_back: list[str] = []
        self.paused = False
        self._pause_lock = threading.Lock()
        self.publisher: Publishes | None = None
        self.client: MastodonClient | None = None
        self.watched = Watch(self.settings.posts_dir, self.settings.data_dir)
        # A dry run reads the real ledger if there is one and never creates it.
        self.ledger: Ledger = app.ledger_for(dry_run=dry_run)
        self.watch = app.instance_watch(self.ledger, dry_run=dry_run)
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"publish": ThreadPoolExecutor(1), "control": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        self.alerter = Alerter(
            webhook=self.settings.alert_webhook,
            direct_message_to=self.settings.alert_direct_message,
            send_direct_message=None if dry_run else self._send_direct_message,
            already_alerted=self._already_alerted,
            remember=lambda subject, detail: self.ledger.record_event(subject, "alerted", detail),
        )
        self.runner: Runner | None = None
        # The config is read once; an edit of it is named in the log, never silently ignored.
        self.config_watch = ConfigWatch(self.settings.path)
        self.timetable = Timetable(
            self.scheduler,
            self.settings,
            self.ledger,
            self.clock,
            self.alerter,
            self._at,
            self._due_job,
        )
        self.monitor = Monitor(
            self, self.watch, self.settings, self.ledger, self.clock, self.alerter
        )
        # Edits `amend:` allows and engagement counts, between posts (made when first needed).
        self.living = None

    @property
    def planned(self) -> dict[str, Occurrence]:
        return self.timetable.planned

    @property
    def token_rejected(self) -> str | None:
        """Why publishing is paused for the token, or None."""
        token = self.monitor.token
        return token.reason if token is not None else None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        mode = " (dry run: nothing is sent, the ledger is not written)" if self.dry_run else ""
        logger.info("starting campaign-bot for %s%s", self.settings.instance or "no instance", mode)
        self.paused = control.is_paused(self.settings.data_dir)
        if self.paused:
            logger.warning(
                "paused (remove %s or run `campaign-bot resume`)",
                control.pause_path(self.settings.data_dir),
            )
        self._connect()
        # Post files are checked against the instance's own limits (a dry run stays offline and
        # uses the cached or default ones); later reloads reuse what was learnt here.
        report = self.app.limits(online=not self.dry_run)
        logger.info("limits: %s", report.source)
        # Taken before reading the files: an edit made while they are read changes the snapshot
        # and is reloaded by the watch, instead of being hidden in the first snapshot.
        self.watched.take_snapshot()
        self._load("start")
        self.scheduler.start()
        self._every(self._watch, timedelta(seconds=self.watch_interval), "watch")
        self._every(self._heartbeat, control.HEARTBEAT_EVERY, "heartbeat")
        self._every(lambda: self._reload("periodic re-plan"), REPLAN_EVERY, "replan", "publish")
        self._every(self._living_round, LIVING_EVERY, "living", "publish")
        if not self.dry_run:
            self._every(backup_job(self.ledger, self.settings.data_dir), CHECK_EVERY, "backup")
        self._heartbeat()
        self._queue_catch_up()

    def wait(self) -> None:
        while not self.stopping.wait(1.0):
            pass

    def stop(self, why: str) -> None:
        if self.stopping.is_set():
            return
        logger.info("stopping (%s)", why)
        self.stopping.set()
        if isinstance(self.clock, SystemClock):
            self.clock.wake()

    def shutdown(self) -> bool:
        """Stop the scheduler; True when nothing was left in flight."""
        self.scheduler.shutdown(wait=False)
        # No heartbeat means "not running" to `health` at once, not only once it has gone stale.
        control.clear_heartbeat(self.settings.data_dir)
        finished = self.busy.acquire(timeout=STOP_GRACE)
        if finished:
            self.busy.release()
            self.ledger.close()
            logger.info("stopped")
        else:
            logger.warning(
                "a request was still in flight after %.0f s and is abandoned; the ledger records "
                "it as being sent, and the next start finishes it without posting twice",
                STOP_GRACE,
            )
        return finished

    def _already_alerted(self, subject: str) -> bool:
        """Alerted since the subject last recovered: a post fails once, but a token that works
        again and is later revoked is a new failure to tell someone about."""
        alerted = False
        for event in self.ledger.events(subject):
            if event.kind == "alerted":
                alerted = True
            elif event.kind == "recovered":
                alerted = False
        return alerted

    # --- jobs --------------------------------------------------------------------------------

    def _every(self, job: object, every: timedelta, name: str, executor: str = "control") -> None:
        self.scheduler.add_job(
            job,
            "interval",
            seconds=every.total_seconds(),
            id=name,
            executor=executor,
            replace_existing=True,
        )

    def _at(self, job: Callable[..., object], when: datetime, name: str, *args: object) -> None:
        """Run `job` once at `when` on the publishing worker (replacing one of the same name)."""
        self.scheduler.add_job(
            job,
            "date",
            run_date=when,
            args=list(args),
            id=name,
            executor="publish",
            replace_existing=True,
        )

    def _stopped_because(self) -> str | None:
        # The pause file is read again here, not only by the 2-second watch: a post due the
        # moment after `campaign-bot pause` must not go out.
        if self._check_pause():
            return "paused by the operator; `campaign-bot resume` starts it again"
        if self.token_rejected:
            return "the instance refused the access token"
        if self.runner is None:
            return "not connected to the instance yet"
        return None

    def _publish(self, due: Sequence[Occurrence]) -> None:
        if not due or self.stopping.is_set() or self._stopped_because() is not None:
            return
        assert self.runner is not None
        with self.busy:
            try:
                summary = self.runner.run(due)
            except TokenRefused as exc:
                self.monitor.token_refused(exc)
                return
        self._after(summary, due)

    def _due_job(self, key: str) -> None:
        occurrence = self.planned.get(key)
        # A run already handed to the worker survives the removal of its job: a post removed or
        # moved later since then is left to its new job.
        if occurrence is None or occurrence.planned_at > self.clock.now():
            return
        why = self._stopped_because()
        if why is not None and not self.stopping.is_set():
            self.monitor.due_while_stopped(occurrence, why)
            return
        self._publish([occurrence])

    def _catch_up(self) -> None:
        if self.runner is None or self.paused or self.token_rejected or self.stopping.is_set():
            return
        self._publish(self.due_now())

    def _after(self, summary: RunSummary, due: Sequence[Occurrence] = ()) -> None:
        for outcome in summary.outcomes:
            if outcome.result is Result.FAILED:
                self.alerter.alert(outcome.key, "failed", f"{outcome.key} failed: {outcome.error}")
        for key, reason in summary.missed:
            logger.debug("missed %s: %s", key, reason)
        self.monitor.after(summary.outcomes, due)
        retry_at = summary.next_retry
        if retry_at is not None and not self.watch.down:
            logger.info("trying the deferred posts again at %s", retry_at.isoformat())
            self._at(self._catch_up, retry_at, "catch-up-retry")

    # --- what the outage monitor asks of the bot ----------------------------------------------

    def at(self, job: Callable[[], object], when: datetime, name: str) -> None:
        self._at(job, when, name)

    def due_now(self) -> list[Occurrence]:
        return self.runner.upcoming(self.posts, self.clock.now()) if self.runner else []

    def publish_due(self, due: Sequence[Occurrence]) -> None:
        self._publish(due)

    def _check_pause(self) -> bool:
        """Whether paused now; logs a change and queues the catch-up on resume."""
        with self._pause_lock:
            paused = control.is_paused(self.settings.data_dir)
            if paused != self.paused:
                self.paused = paused
                if paused:
                    logger.warning("paused: nothing is published until `campaign-bot resume`")
                else:
                    self.monitor.resumed()
                    logger.info("resumed: catching up what fell due while paused")
                    self._queue_catch_up()
            return paused

    def _queue_catch_up(self) -> None:
        self.scheduler.add_job(
            self._catch_up,
            executor="publish",
            id="catch-up",
            replace_existing=True,
            max_instances=CATCH_ALL_RUNS,
        )

    def _watch(self) -> None:
        self._check_pause()
        self.config_watch.check()
        if self.watched.nudged():
            logger.info("the ledger was changed by an operator's command; looking again")
            self._queue_catch_up()
        if self.watched.posts_changed():
            self.request_reload("post files changed")

    def _heartbeat(self) -> None:
        if self.stopping.is_set():
            return
        beat = heartbeat(
            self.clock.now(),
            [o.planned_at for o in self.planned.values()],
            paused=self.paused,
            token_rejected=self.token_rejected,
            outage=self.watch.outage,
            waiting=self.monitor.waiting_count(),
            dry_run=self.dry_run,
            accounts=self.account_states(),
        )
        try:
            control.write_heartbeat(self.settings.data_dir, beat)
        except OSError as exc:
            logger.error("cannot write the heartbeat in %s: %s", self.settings.data_dir, exc)
        if not (self.paused or self.token_rejected or self.dry_run):
            # The bot is watching: what falls due from now on is its to publish, so after a
            # later outage only the time since this moment counts as missed.
            self.ledger.set_meta(LAST_RUN, self.clock.now().isoformat())

    def request_reload(self, why: str) -> None:
        self.scheduler.add_job(
            self._reload,
            args=[why],
            executor="publish",
            id="reload",
            replace_existing=True,
            max_instances=CATCH_ALL_RUNS,
        )

    # --- planning ----------------------------------------------------------------------------

    def _reload(self, why: str) -> None:
        self.config_watch.check(always=why == "SIGHUP")
        if why == "SIGHUP" and isinstance(self.publisher, CoalitionPublisher):
            self.publisher.recheck_tokens()  # a replaced token works at once, as for one account
        self._load(why)
        self._catch_up()

    def _load(self, why: str) -> None:
        campaign = self.app.logged_campaign(online=False, listing=self.watched.listing_to_load())
        self.posts = campaign.posts
        self.held_back = campaign.held_back
        self._warn_unamended(self.posts)
        self._schedule(why)

    def _schedule(self, why: str) -> None:
        if self.runner is None:
            return
        upcoming = self.runner.upcoming(self.posts, self.clock.now() + HORIZON)
        self.timetable.update(upcoming, len(self.posts), self.held_back, why)


def run_daemon(app: App, *, dry_run: bool = False) -> int:
    if not isinstance(app.clock, SystemClock):
        app.clock = SystemClock()
    daemon = Daemon(app, dry_run=dry_run)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        daemon.stop(signal.Signals(signum).name)

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        logger.info("SIGHUP: reloading the post files")
        daemon.request_reload("SIGHUP")
        if daemon.token_rejected:
            daemon.scheduler.add_job(
                daemon.recheck_token, executor="publish", id="token-now", replace_existing=True
            )

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    if stop_requested_early.is_set():
        logger.info("stopped before starting (a stop was requested during start-up)")
        daemon.ledger.close()
        return 0
    daemon.start()
    daemon.wait()
    if daemon.refused is not None:
        daemon.shutdown()
        return 1
    if not daemon.shutdown():
        logging.shutdown()
        sys.stderr.flush()
        # The ledger is consistent at every instant (intent before request), so leaving now is
        # safe; waiting for a hung request could take far longer than Docker's stop timeout.
        os._exit(0)
    return 0
