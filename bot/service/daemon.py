"""`campaign-bot run`: the unattended bot.

APScheduler holds one date job per planned occurrence; a single worker thread publishes, so posts
go out one at a time in planned order. A second worker watches the posts folder (live reload),
the pause switch and writes the heartbeat. Every decision is one log line carrying the post id.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.core.clock import Clock, SystemClock
from bot.core.errors import CampaignBotError
from bot.core.posts import CampaignPost
from bot.core.states import Result, State
from bot.core.timespec import to_zone
from bot.core.words import counted
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import ApiError, AuthError, StatusRequest
from bot.publishing.coalition import CoalitionPublisher
from bot.publishing.runner import Publishes, Runner, RunSummary
from bot.schedule.due import LAST_RUN
from bot.schedule.planner import Occurrence
from bot.service.alerts import Alerter
from bot.service.app import App
from bot.service.config_watch import ConfigWatch
from bot.service.living import LivingRound
from bot.service.shutdown import stop_requested_early
from bot.storage import control
from bot.storage.ledger import Ledger

logger = logging.getLogger(__name__)

HORIZON = timedelta(days=35)  # occurrences further ahead are scheduled by a later re-plan
REPLAN_EVERY = timedelta(hours=6)
TOKEN_RECHECK = timedelta(minutes=5)
RECONNECT = timedelta(minutes=1)
STOP_GRACE = 5.0  # seconds a request in flight may take to finish after SIGTERM
JOB_PREFIX = "post:"
# APScheduler drops a run of a job whose id already has `max_instances` runs queued or running
# (MaxInstancesReachedError). Reload and catch-up always work from the latest files and ledger,
# so one run in progress plus one waiting covers every change made meanwhile.
CATCH_ALL_RUNS = 2
# How often the running bot edits what `amend:` allows and counts engagement, between posts.
LIVING_EVERY = timedelta(minutes=5)


class Daemon:
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
        self.planned: dict[str, Occurrence] = {}
        self.token_rejected: str | None = None
        self.paused = False
        self._pause_lock = threading.Lock()
        self.publisher: Publishes | None = None
        # The connection's client, for token checks and alert messages; None in a dry run.
        self.client: MastodonClient | None = None
        self._snapshot: tuple[tuple[str, int, int], ...] = ()
        # A dry run reads the real ledger if there is one and never creates it.
        self.ledger: Ledger = app.ledger_for(dry_run=dry_run)
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
        self.living: LivingRound | None = None

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
        self._snapshot = self._posts_snapshot()
        self._load("start")
        self.scheduler.start()
        self._every(self._watch, timedelta(seconds=self.watch_interval), "watch")
        self._every(self._heartbeat, control.HEARTBEAT_EVERY, "heartbeat")
        self._every(lambda: self._reload("periodic re-plan"), REPLAN_EVERY, "replan", "publish")
        self._every(self._living_round, LIVING_EVERY, "living", "publish")
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

    def _token_works(self) -> None:
        events = self.ledger.events("token")
        if events and events[-1].kind == "alerted":
            self.ledger.record_event("token", "recovered", "the instance accepts the token again")

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

    def _at(self, job: Callable[..., None], when: datetime, name: str, *args: object) -> None:
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

    def _publish(self, due: Sequence[Occurrence]) -> None:
        # The pause file is read again here, not only by the 2-second watch: a post due the
        # moment after `campaign-bot pause` must not go out.
        if not due or self.stopping.is_set() or self._check_pause() or self.token_rejected:
            return
        if self.runner is None:
            return
        with self.busy:
            try:
                summary = self.runner.run(due)
            except AuthError as exc:
                self._token_problem(exc)
                return
        self._after(summary)

    def _due_job(self, key: str) -> None:
        occurrence = self.planned.get(key)
        # A run already handed to the worker survives the removal of its job: a post removed or
        # moved later since then is left to its new job.
        if occurrence is not None and occurrence.planned_at <= self.clock.now():
            self._publish([occurrence])

    def _catch_up(self) -> None:
        if self.runner is None or self.paused or self.token_rejected or self.stopping.is_set():
            return
        self._publish(self.runner.upcoming(self.posts, self.clock.now()))

    def _after(self, summary: RunSummary) -> None:
        for outcome in summary.outcomes:
            if outcome.result is Result.FAILED:
                self.alerter.alert(outcome.key, "failed", f"{outcome.key} failed: {outcome.error}")
        for key, reason in summary.missed:
            logger.debug("missed %s: %s", key, reason)
        retry_at = summary.next_retry
        if retry_at is not None:
            logger.info("trying the deferred posts again at %s", retry_at.isoformat())
            self._at(self._catch_up, retry_at, "catch-up-retry")

    def _living_round(self) -> None:
        """Between posts: the edits `amend:` allows, then the engagement counts that are due."""
        client = self.client
        if client is None or self.runner is None or self._check_pause():
            return
        if self.token_rejected or self.stopping.is_set():
            return
        if self.living is None:
            self.living = LivingRound(self.app, self.ledger, client, self.alerter.alert)
        upcoming = self.runner.upcoming(self.posts, self.clock.now() + LIVING_EVERY)
        try:
            self.living.run(list(self.posts), min((o.planned_at for o in upcoming), default=None))
        except AuthError as exc:
            self._token_problem(exc)
        except CampaignBotError as exc:
            logger.warning("engagement and edits wait for the next round: %s", exc)

    def _check_pause(self) -> bool:
        """Whether paused now; logs a change and queues the catch-up on resume."""
        with self._pause_lock:
            paused = control.is_paused(self.settings.data_dir)
            if paused != self.paused:
                self.paused = paused
                if paused:
                    logger.warning("paused: nothing is published until `campaign-bot resume`")
                else:
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
        snapshot = self._posts_snapshot()
        if snapshot != self._snapshot:
            self._snapshot = snapshot
            self.request_reload("post files changed")

    def _heartbeat(self) -> None:
        if self.stopping.is_set():
            return
        upcoming = [o.planned_at for o in self.planned.values() if o.planned_at > self.clock.now()]
        beat = control.Heartbeat(
            at=self.clock.now().isoformat(),
            pid=os.getpid(),
            paused=self.paused,
            token_rejected=self.token_rejected,
            scheduled=len(upcoming),
            next_post=min(upcoming).isoformat() if upcoming else None,
            dry_run=self.dry_run,
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
        self._load(why)
        self._catch_up()

    def _load(self, why: str) -> None:
        self.posts = self.app.valid_posts(online=False)
        self._schedule(why)

    def _schedule(self, why: str) -> None:
        if self.runner is None:
            return
        now = self.clock.now()
        upcoming = self.runner.upcoming(self.posts, now + HORIZON)
        planned = {o.key: o for o in upcoming}
        zone = self.settings.zone
        states = self.ledger.states()
        changes = {"new": 0, "moved": 0, "cancelled": 0}
        for key in set(self.planned) - set(planned):
            if self.scheduler.get_job(JOB_PREFIX + key):
                self.scheduler.remove_job(JOB_PREFIX + key)
            if not states.get(key, State.PENDING).settled:
                changes["cancelled"] += 1
                logger.info(
                    "cancelled: removed from the post files, or moved",
                    extra={"post_id": self.planned[key].post.id},
                )
        for key, occurrence in planned.items():
            before = self.planned.get(key)
            if before is not None and before.planned_at == occurrence.planned_at:
                continue
            changes["new" if before is None else "moved"] += 1
            if occurrence.planned_at > now:
                self._at(self._due_job, occurrence.planned_at, JOB_PREFIX + key, key)
            if changes["new"] + changes["moved"] <= 50:
                logger.info(
                    "planned for %s",
                    to_zone(occurrence.planned_at, zone),
                    extra={"post_id": occurrence.post.id},
                )
        self.planned = planned
        logger.info(
            "%s: %s, %s planned in the next %d days (%s)",
            why,
            counted(len(self.posts), "post"),
            counted(len(planned), "occurrence"),
            HORIZON.days,
            ", ".join(f"{n} {what}" for what, n in changes.items() if n) or "no change",
        )

    def _posts_snapshot(self) -> tuple[tuple[str, int, int], ...]:
        entries = []
        for root, dirs, files in os.walk(self.settings.posts_dir):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                path = Path(root) / name
                try:
                    info = path.stat()
                except OSError:
                    continue
                entries.append((str(path), info.st_mtime_ns, info.st_size))
        return tuple(sorted(entries))

    # --- the instance --------------------------------------------------------------------------

    def _connect(self) -> None:
        if self.dry_run:
            self.publisher = self.app.publisher(self.ledger, dry_run=True)
        else:
            try:
                connection = self.app.connect(self.ledger, stop_requested=self.stopping.is_set)
            except AuthError as exc:
                self._token_problem(exc)
                return
            except ApiError as exc:
                # The network or the instance is down: wait for it rather than exit, so a
                # server that boots before its network, or an instance's outage, costs nothing.
                logger.warning(
                    "cannot reach %s (%s); trying again in %d s",
                    self.settings.instance,
                    exc,
                    RECONNECT.total_seconds(),
                )
                self._at(self._reconnect, self.clock.now() + RECONNECT, "reconnect")
                return
            self.client, self.publisher = connection.client, connection.publisher
            if isinstance(connection.publisher, CoalitionPublisher):
                # Another account's rejected token holds up only that account; say which.
                connection.publisher.on_token_problem = lambda name, exc: self.alerter.alert(
                    f"token:{name}", "token", f"account {name!r}: publishing stopped: {exc}"
                )
            self._token_works()
        self.runner = self.app.runner(self.ledger, self.publisher, dry_run=self.dry_run)

    def _reconnect(self) -> None:
        if self.stopping.is_set():
            return
        self._connect()
        if self.runner is not None:
            logger.info("connected to %s; planning and catching up", self.settings.instance)
            self._schedule("connected")
            self._catch_up()

    def _token_problem(self, exc: AuthError) -> None:
        self.token_rejected = str(exc)
        # The error already says what the instance refused and what to do about it.
        logger.critical("%s; publishing is stopped until the token works", exc)
        self.alerter.alert("token", "token", f"publishing stopped: {exc}")
        self._heartbeat()
        self._at(self._recheck_token, self.clock.now() + TOKEN_RECHECK, "token-recheck")

    def _recheck_token(self) -> None:
        try:
            if self.client is not None:
                self.client.verify_credentials()
            else:
                self._connect()
        except AuthError as exc:
            self.token_rejected = None
            self._token_problem(exc)
            return
        except Exception as exc:  # noqa: BLE001 - unreachable instance: try again later
            logger.warning("token check failed: %s", exc)
            return
        if self.runner is not None and self.publisher is not None:
            self.token_rejected = None
            self._token_works()
            logger.info("the access token works again; catching up")
            self._schedule("token accepted")
            self._catch_up()

    def _send_direct_message(self, text: str) -> None:
        if self.client is None:
            # Raising lets the alerter report it and try again later, instead of counting an
            # alert nobody received as delivered.
            raise RuntimeError("not connected to the instance (was the token rejected?)")
        request = StatusRequest(
            text=text, spoiler_text=None, sensitive=False, visibility="direct", language=None
        )
        key = "campaign-bot-alert-" + hashlib.sha256(text.encode()).hexdigest()[:32]
        self.client.post_status(request, key)


def run_daemon(app: App, *, dry_run: bool = False) -> int:
    if not isinstance(app.clock, SystemClock):
        app.clock = SystemClock()
    daemon = Daemon(app, dry_run=dry_run)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        daemon.stop(signal.Signals(signum).name)

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        logger.info("SIGHUP: reloading the post files")
        daemon.request_reload("SIGHUP")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    if stop_requested_early.is_set():
        logger.info("stopped before starting (a stop was requested during start-up)")
        daemon.ledger.close()
        return 0
    daemon.start()
    daemon.wait()
    if not daemon.shutdown():
        logging.shutdown()
        sys.stderr.flush()
        # The ledger is consistent at every instant (intent before request), so leaving now is
        # safe; waiting for a hung request could take far longer than Docker's stop timeout.
        os._exit(0)
    return 0
