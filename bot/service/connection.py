"""The running bot's link to the instance: connecting (and waiting for an instance that cannot
be reached at start), the pause while the instance refuses the token and its recheck with the
token file read again, and the client the outage monitor and the alerts use."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.errors import CampaignBotError
from bot.core.posts import CampaignPost
from bot.core.timespec import format_duration
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import ApiError, AuthError, StatusRequest, TokenRefused
from bot.publishing.coalition import CoalitionPublisher
from bot.publishing.outage import InstanceWatch
from bot.publishing.publisher import Publisher
from bot.publishing.runner import Publishes, Runner
from bot.schedule.planner import Occurrence
from bot.service.alerts import Alerter
from bot.service.app import App
from bot.service.living import LivingRound, waiting_warnings
from bot.service.outages import Monitor
from bot.storage.ledger import Ledger
from bot.storage.migrations import LedgerError

logger = logging.getLogger(__name__)

# How often the running bot edits what `amend:` allows and counts engagement, between posts.
LIVING_EVERY = timedelta(minutes=5)


class InstanceLink:
    """The part of the daemon that talks to the instance outside of publishing."""

    app: App
    settings: Settings
    ledger: Ledger
    clock: Clock
    dry_run: bool
    stopping: threading.Event
    watch: InstanceWatch
    monitor: Monitor
    publisher: Publishes | None
    # The connection's client, for token checks and alert messages; None in a dry run.
    client: MastodonClient | None
    runner: Runner | None
    # Why the bot refused to publish from its ledger (it then stops, exit code 1).
    refused: str | None = None

    posts: Sequence[CampaignPost]
    alerter: Alerter
    living: LivingRound | None

    # Provided by the daemon.
    def _check_pause(self) -> bool:
        raise NotImplementedError

    def _schedule(self, why: str) -> None:
        raise NotImplementedError

    def _catch_up(self) -> None:
        raise NotImplementedError

    def _heartbeat(self) -> None:
        raise NotImplementedError

    def _at(self, job: Callable[..., object], when: datetime, name: str, *args: object) -> None:
        raise NotImplementedError

    def _connect(self) -> None:
        if self.dry_run:
            self.publisher = self.app.publisher(self.ledger, dry_run=True)
        else:
            try:
                connection = self.app.connect(
                    self.ledger, stop_requested=self.stopping.is_set, watch=self.watch
                )
            except TokenRefused as exc:
                self.monitor.token_refused(exc)
                return
            except ApiError as exc:
                # The network or the instance is down: wait for it rather than exit, so a
                # server that boots before its network, or an instance's outage, costs nothing.
                when = self.monitor.unreachable_at_start(exc)
                logger.warning(
                    "cannot reach %s (%s); trying again at %s",
                    self.settings.instance,
                    exc,
                    when.isoformat(timespec="seconds"),
                )
                self._at(self._reconnect, when, "reconnect")
                return
            self.client, self.publisher = connection.client, connection.publisher
            if isinstance(connection.publisher, CoalitionPublisher):
                # An account's rejected token holds up only that account; say which.
                connection.publisher.on_token_problem = self._account_token_refused
                connection.publisher.on_token_back = self._account_token_back
                for name, reason in connection.publisher.token_problems().items():
                    # Refused while connecting, before the alert could be wired.
                    self._account_token_refused(name, reason)
            self.monitor.connected()
        self.runner = self.app.runner(
            self.ledger, self.publisher, dry_run=self.dry_run, watch=self.watch
        )

    def _reconnect(self) -> None:
        if self.stopping.is_set():
            return
        try:
            self._connect()
        except LedgerError as exc:
            # The ledger is another account's, or looks lost: publishing would do harm.
            logger.critical("%s", exc)
            self.refused = str(exc)
            self.stopping.set()
            return
        if self.runner is not None:
            logger.info("connected to %s; planning and catching up", self.settings.instance)
            self._schedule("connected")
            self._catch_up()

    def _account_token_refused(self, name: str, exc: object) -> None:
        self.alerter.alert(
            f"token:{name}",
            "token",
            f"account {name!r}: publishing stopped for this account (its posts, boosts and "
            f"quotes wait; the other accounts go on): {exc} — run `campaign-bot login --account "
            f"{name}` or replace its token (the bot tries it again by itself)",
        )

    def _account_token_back(self, name: str, lasted: timedelta) -> None:
        subject = f"token:{name}"
        message = (
            f"account {name!r}: the access token works again after {format_duration(lasted)}; "
            "its posts, boosts and quotes go on"
        )
        if self.alerter.already_alerted(subject):
            self.alerter.alert(subject, "recovered", message, once=False)
        self.ledger.record_event(subject, "recovered", message)

    def account_states(self) -> dict[str, dict[str, str | None]] | None:
        """With several accounts, for the heartbeat: each account's instance, whether its
        token is rejected, and why its work waits."""
        if not self.settings.several_accounts:
            return None
        coalition = self.publisher if isinstance(self.publisher, CoalitionPublisher) else None
        refused = coalition.token_problems() if coalition else {}
        waiting = coalition.waiting() if coalition else {}
        return {
            name: {
                "instance": self.app.instance_of(name),
                "token_rejected": refused.get(name),
                "waiting": waiting.get(name),
            }
            for name in self.settings.account_names()
        }

    def default_client(self) -> MastodonClient | None:
        """The default account's client while its token works (for alerts by direct message,
        edits and engagement counts)."""
        if isinstance(self.publisher, CoalitionPublisher):
            return self.publisher.working_client(self.settings.default_account)
        return self.client

    def _living_round(self) -> None:
        """Between posts: the edits `amend:` allows, then the engagement counts that are due.
        Not while publishing is stopped, nor while the instance is failing."""
        client = self.default_client()
        if client is None or self.runner is None or self._check_pause():
            return
        if self.monitor.token is not None or self.watch.down or self.stopping.is_set():
            return
        if self.living is None:
            self.living = LivingRound(self.app, self.ledger, client, self.alerter.alert)
        # A replaced token gives the default account a new client.
        self.living.client = client
        upcoming = self.runner.upcoming(self.posts, self.clock.now() + LIVING_EVERY)
        try:
            self.living.run(list(self.posts), min((o.planned_at for o in upcoming), default=None))
        except TokenRefused as exc:
            self._token_problem(exc)
        except CampaignBotError as exc:
            logger.warning("engagement and edits wait for the next round: %s", exc)

    def _warn_unamended(self, posts: Sequence[CampaignPost]) -> None:
        """Log each change to a published post's file that `amend:` does not let the bot
        apply itself (every change in a dry run, or where edits are refused); the changes it
        applies are logged when it does."""
        refused = self.living is not None and self.living.edits_refused
        mode = "manual" if self.dry_run or refused else self.settings.amend
        for problem in waiting_warnings(self.app, self.ledger, list(posts), mode):
            logger.warning("%s", problem.render())

    def _token_problem(self, exc: AuthError) -> None:
        if isinstance(self.publisher, CoalitionPublisher):
            # The default account's token: only that account's work waits.
            self.publisher.token_refused(self.settings.default_account, exc)
        else:
            self.monitor.token_refused(exc)
        self._heartbeat()

    def recheck_token(self) -> None:
        """Try the token (as its file holds it now); on success, connect if need be and catch
        up. Runs periodically while the token is refused, and at once on SIGHUP."""
        if self.monitor.token is None or not self.monitor.check_token():
            return
        if self.publisher is None:
            self._connect()
        if self.runner is not None:
            self._schedule("token accepted")
            self._catch_up()

    def _send_direct_message(self, text: str) -> None:
        client = self.default_client()
        if client is None:
            # Raising lets the alerter report it and try again later, instead of counting an
            # alert nobody received as delivered.
            raise RuntimeError("not connected to the instance (was the token rejected?)")
        request = StatusRequest(
            text=text, spoiler_text=None, sensitive=False, visibility="direct", language=None
        )
        key = "campaign-bot-alert-" + hashlib.sha256(text.encode()).hexdigest()[:32]
        client.post_status(request, key)

    def checking_client(self) -> MastodonClient | None:
        """A client with the token as its file holds it now: replacing the file is enough."""
        if not self.settings.instance:
            return self.client
        try:
            client = self.app.client()
        except CampaignBotError as exc:
            raise TokenRefused(f"the access token cannot be read: {exc}") from exc
        if isinstance(self.publisher, Publisher):
            self.publisher.client = client
        if self.client is not None:
            self.client = client
        return client

    def expire(self, due: Sequence[Occurrence], why: str) -> None:
        if self.runner is not None and not self.dry_run:
            self.runner.expire(due, why)
