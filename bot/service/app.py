"""The one composition root: builds what every command needs from the settings — the clock, the
client, the ledger, the valid posts and the publisher. Nothing else constructs these."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bot.campaign.folder import Listing
from bot.campaign.loading import Campaign, load_campaign
from bot.config.instance_limits import learn_limits
from bot.config.settings import Settings, read_access_token
from bot.core.clock import Clock, SystemClock
from bot.core.errors import CampaignBotError
from bot.core.limits import LimitsReport
from bot.core.posts import CampaignPost
from bot.core.states import State
from bot.core.words import counted
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import AuthError, RemoteStatus, TokenRefused
from bot.publishing.coalition import CoalitionPublisher
from bot.publishing.outage import OUTAGE_META, InstanceWatch
from bot.publishing.pacing import DEFAULT_WINDOWS, Pacer
from bot.publishing.publisher import Publisher
from bot.publishing.rebuild import guard_fresh_ledger
from bot.publishing.runner import DryRunPublisher, Publishes, Runner
from bot.schedule.followups import account_of_key
from bot.service.logs import register_secret
from bot.storage.binding import Binding, check_binding
from bot.storage.ledger import Ledger
from bot.storage.media import uploads_since
from bot.storage.recovery import ORIGIN

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Connection:
    """A checked connection to the account: its client, and the publisher that uses it."""

    client: MastodonClient
    publisher: Publisher


@dataclass
class App:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # How often a media upload is asked whether the instance has processed it.
    media_poll_interval: float = 2.0
    # False only for a ledger thrown away afterwards (the rehearsal's): commits skip the sync.
    durable_ledger: bool = True
    # Per account: the limits, and whether they were asked of the instance.
    _limits: dict[str, tuple[LimitsReport, bool]] = field(default_factory=dict)
    _scratch: list[tempfile.TemporaryDirectory[str]] = field(default_factory=list)

    def token(self, account: str | None = None) -> str | None:
        """The account's token (the default account's for None)."""
        token = read_access_token(self.settings, self.env, account)
        register_secret(token)
        return token

    def instance_of(self, account: str | None = None) -> str | None:
        if account is None or account in ("", self.settings.default_account):
            return self.settings.instance
        return self.settings.account(account).instance

    def client(self, account: str | None = None) -> MastodonClient:
        """A client for the account's instance with its token (the default account's for None)."""
        instance = self.instance_of(account)
        several = self.settings.several_accounts
        who = f" for the account {account or self.settings.default_account!r}" if several else ""
        if not instance:
            raise CampaignBotError(
                f"no instance configured{who}: set `instance:` in the config or MASTODON_BASE_URL"
            )
        token = self.token(account)
        if not token:
            raise CampaignBotError(
                f"no access token{who}: set MASTODON_ACCESS_TOKEN or `access_token_file:` in the "
                "config (see `campaign-bot login`)"
            )
        return MastodonClient(
            instance,
            token,
            clock=self.clock,
            timeout=self.settings.request_timeout,
            media_poll_interval=self.media_poll_interval,
        )

    def limits(self, *, online: bool = True, account: str | None = None) -> LimitsReport:
        """The limits of the account's instance (the default account's for None)."""
        name = account or self.settings.default_account
        # Limits learnt offline (the cache or the defaults) must not stand in for the instance's
        # own when they are asked for later.
        learnt = self._limits.get(name)
        if learnt is None or (online and not learnt[1]):
            instance = self.instance_of(account)
            fetch = None
            if online and instance:

                def fetch() -> tuple[dict[str, object] | None, dict[str, object] | None]:
                    assert instance
                    anonymous = MastodonClient(
                        instance,
                        None,
                        clock=self.clock,
                        timeout=min(self.settings.request_timeout, 10.0),
                    )
                    info = anonymous.server_info()
                    return info.v2, info.v1

            self._limits[name] = (learn_limits(self.settings, self.clock, fetch, account), online)
        return self._limits[name][0]

    def account_limits(self, *, online: bool = True) -> dict[str, LimitsReport]:
        """Every account's instance limits, by account name."""
        return {
            name: self.limits(online=online, account=name) for name in self.settings.account_names()
        }

    def ledger(self, *, create: bool = True) -> Ledger:
        """The ledger; a missing one is created only with `create` (never over a damaged one)."""
        return Ledger.open(
            self.settings.ledger_path, self.clock, create=create, durable=self.durable_ledger
        )

    def ledger_for(self, *, dry_run: bool) -> Ledger:
        """The ledger; for a dry run, a throwaway one unless a real one exists to read from
        (a dry run never writes to it)."""
        if not dry_run or self.settings.ledger_path.exists():
            return self.ledger()

        scratch = tempfile.TemporaryDirectory(prefix="campaign-bot-dry-run-")
        self._scratch.append(scratch)
        return Ledger.open(Path(scratch.name) / "ledger.sqlite3", self.clock)

    def ledger_if_exists(self) -> Ledger | None:
        return self.ledger() if self.settings.ledger_path.exists() else None

    def campaign(
        self,
        paths: Sequence[Path] | None = None,
        *,
        online: bool = True,
        overdue: bool = False,
        listing: Listing | None = None,
    ) -> Campaign:
        """The campaign's valid posts and every problem; with `overdue`, also a warning for each
        post whose time has passed that the ledger has not seen (for `validate` and `plan`).
        A `listing` of the posts folder just made is read instead of listing it again."""
        report = self.limits(online=online)
        # Each post is checked against the limits of its own account's instance.
        by_account = {n: r.limits for n, r in self.account_limits(online=online).items()}
        return load_campaign(
            self.settings,
            report.limits,
            account_limits=by_account,
            paths=paths,
            published=self._ledger_states() if overdue else None,
            now=self.clock.now() if overdue else None,
            listing=listing,
        )

    def _ledger_states(self) -> dict[str, State]:
        """Occurrence key -> state, as far as the overdue warning is concerned."""
        ledger = self.ledger_if_exists()
        if ledger is None:
            return {}
        with ledger:
            # A thread with a part out is under way, even when put back to pending.
            return {
                r.key: State.SENDING if r.state is State.PENDING and r.urls() else r.state
                for r in ledger.all()
            }

    def valid_posts(self, *, online: bool = True) -> list[CampaignPost]:
        """The campaign's valid posts; every problem is logged once, the invalid posts left out."""
        return self.logged_campaign(online=online).posts

    def logged_campaign(self, *, online: bool = True, listing: Listing | None = None) -> Campaign:
        """The campaign with every problem logged once; its posts are the valid ones (`run`,
        `publish` and each load of the running bot)."""
        campaign = self.campaign(online=online, listing=listing)
        for problem in campaign.problems:
            logger.warning("%s", problem.render())
        if campaign.errors:
            logger.warning(
                "%s in the post files: the posts concerned are left out until %s fixed; "
                "the rest of the campaign runs",
                counted(len(campaign.errors), "problem"),
                "it is" if len(campaign.errors) == 1 else "they are",
            )
        return campaign

    def connect(
        self,
        ledger: Ledger,
        *,
        stop_requested: Callable[[], bool] | None = None,
        on_status: Callable[[RemoteStatus], None] | None = None,
        watch: InstanceWatch | None = None,
    ) -> Connection:
        """The publisher for the default account; with several accounts, one that hands each
        account's posts, boosts and quotes to that account's own publisher (made on first use,
        with its own client, token and pacing). Checks the default account's token: refused,
        it stops a single account's publishing; with several accounts it holds up only the
        default account's work (unless the ledger is new or lost, which only that account's
        posts on the instance can tell)."""
        if not self.settings.several_accounts:
            client, publisher = self._account(
                ledger, None, Publisher, stop_requested, on_status, watch
            )
            return Connection(client, publisher)
        default = self.settings.default_account
        refused: AuthError | None = None
        try:
            client, publisher = self._account(
                ledger, None, CoalitionPublisher, stop_requested, on_status, watch
            )
        except TokenRefused as exc:
            if ledger.get_meta(ORIGIN) is None and not ledger.states():
                raise
            refused = exc
            client = self.client(None)
            publisher = CoalitionPublisher(
                client,
                ledger,
                self.clock,
                instance=self.instance_of(None) or "",
                account_id="",
                honours_idempotency_keys=False,
                stop_requested=stop_requested,
                on_status=on_status,
                watch=watch,
            )
        assert isinstance(publisher, CoalitionPublisher)

        def others(name: str) -> Publisher:
            # Each account's instance has its own watch: an outage there holds up only that
            # account (the default account's is the bot's own, kept in the ledger).
            own = watch if name == default else InstanceWatch(self.clock)
            return self._account(ledger, name, Publisher, stop_requested, on_status, own)[1]

        publisher.setup(
            default,
            others,
            self.settings.catch_up,
            instances={n: self.instance_of(n) or "" for n in self.settings.account_names()},
            refused=refused,
        )
        return Connection(client, publisher)

    def _account(
        self,
        ledger: Ledger,
        name: str | None,
        kind: type[Publisher],
        stop_requested: Callable[[], bool] | None,
        on_status: Callable[[RemoteStatus], None] | None,
        watch: InstanceWatch | None,
    ) -> tuple[MastodonClient, Publisher]:
        """One account's client and publisher (the default account's for None)."""
        client = self.client(name)
        instance = self.instance_of(name)
        assert instance
        info = client.server_info()
        account = client.verify_credentials()
        served_at = client.server_date()
        skew = self.clock.now() - served_at if served_at is not None else timedelta(0)
        if name in (None, self.settings.default_account):
            check_binding(ledger, Binding(instance, account.id, account.acct))
            guard_fresh_ledger(
                ledger,
                client,
                account_id=account.id,
                posts=lambda: self.campaign(online=False).posts,
                settings=self.settings,
                skew=skew,
            )
        else:
            # The one ledger holds every account's records, each account bound under its name.
            check_binding(ledger, Binding(instance, account.id, account.acct), name)
        mode = self.settings.idempotency_keys
        honours = info.honours_idempotency_keys if mode == "auto" else mode == "honoured"
        pacer = self.pacer(ledger, name)
        publisher = kind(
            client,
            ledger,
            self.clock,
            instance=instance,
            account_id=account.id,
            honours_idempotency_keys=honours,
            pacer=pacer,
            clock_skew=skew,
            stop_requested=stop_requested,
            on_status=on_status,
            watch=watch,
        )
        return client, publisher

    def pacer(self, ledger: Ledger, account: str | None = None) -> Pacer:
        """The account's pacing (the default account's for None). Each instance counts one
        account's statuses over 3 hours and its uploads over 30 minutes, whatever our restarts;
        so does the pacer, from that account's records in the ledger, or a `run --once` every
        few minutes would never be paced — and one account's burst never slows another's."""
        now = self.clock.now()
        since = now - DEFAULT_WINDOWS["status"].period
        mine = self._owned_by(account or self.settings.default_account)
        records = ledger.all()
        pacer = Pacer(self.clock)
        pacer.seed(
            "status",
            (
                part.published_at
                for record in records
                if mine(record.key, record.post_id)
                for part in record.parts
                if part.published_at is not None and part.published_at > since
            ),
        )
        media_since = now - DEFAULT_WINDOWS["media"].period
        owners = {record.key: record.post_id for record in records}
        pacer.seed(
            "media",
            uploads_since(ledger, media_since, lambda key: mine(key, owners.get(key, key))),
        )
        return pacer

    def _owned_by(self, account: str) -> Callable[[str, str], bool]:
        """Whether an occurrence (its key and post id) is the account's to publish."""
        if not self.settings.several_accounts:
            return lambda key, post_id: True
        default = self.settings.default_account
        owners = {p.id: p.account for p in self.campaign(online=False).posts}
        return lambda key, post_id: account_of_key(key, post_id, owners, default) == account

    def instance_watch(self, ledger: Ledger, *, dry_run: bool = False) -> InstanceWatch:
        """Whether the instance is failing, kept in the ledger so that `status` shows an outage
        and a later run knows since when it has lasted (a dry run keeps it to itself)."""
        return InstanceWatch(
            self.clock,
            load=lambda: ledger.get_meta(OUTAGE_META),
            save=None if dry_run else lambda value: ledger.set_meta(OUTAGE_META, value),
        )

    def publisher(
        self, ledger: Ledger, *, dry_run: bool = False, watch: InstanceWatch | None = None
    ) -> Publishes:
        """What `run --once`, `publish` and `retry` publish with."""
        if dry_run:
            return DryRunPublisher(self.settings, ledger)
        return self.connect(ledger, watch=watch).publisher

    def runner(
        self,
        ledger: Ledger,
        publisher: Publishes,
        *,
        dry_run: bool = False,
        watch: InstanceWatch | None = None,
    ) -> Runner:
        return Runner(self.settings, ledger, self.clock, publisher, dry_run=dry_run, watch=watch)
