"""`campaign-bot doctor`: every precondition of an unattended run checked, in order, each
failure with what to do about it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bot.config.settings import TOKEN_ENV, load_settings, read_access_token, token_env_name
from bot.core.clock import Clock
from bot.core.errors import CampaignBotError, ConfigError
from bot.core.words import counted
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import Account, ApiError, AuthError
from bot.service.app import App
from bot.service.checks import Check
from bot.service.ledger_check import ledger_check
from bot.service.logs import register_secret

# What the bot does with the token: post, upload, check the account, find its own posts again.
NEEDED_SCOPES = ("write:statuses", "write:media", "read:accounts", "read:statuses")
MAX_CLOCK_SKEW = timedelta(seconds=60)


def scope_missing(granted: tuple[str, ...], needed: str) -> bool:
    # `write` covers every `write:*` scope, `read` every `read:*`; `profile` stands for
    # read:accounts where verify_credentials is concerned (Mastodon 4.3+).
    top = needed.split(":", 1)[0]
    covered = needed in granted or top in granted
    if needed == "read:accounts" and "profile" in granted:
        covered = True
    return not covered


def run_checks(config: Path, env: Mapping[str, str], clock: Clock) -> Iterator[Check]:
    try:
        settings = load_settings(config, env)
    except ConfigError as exc:
        lines = "; ".join(p.render() for p in exc.problems)
        yield Check("config", False, lines, "fix the config file, then run doctor again")
        return
    yield Check("config", True, f"{config} is valid")
    app = App(settings, clock=clock, env=dict(env))
    names: list[str | None] = [None]
    if settings.several_accounts:
        names = list(settings.account_names())
    # The default account, as the token found it: the ledger check compares the two.
    found: list[tuple[MastodonClient, Account, timedelta]] = []
    for name in names:
        yield from _account_checks(app, env, clock, name, found)
    found_account = found[0] if found else None
    try:
        campaign = app.campaign(online=False, overdue=True)
    except CampaignBotError as exc:
        # Loading reads which posts the ledger holds; a broken ledger is reported below.
        yield Check("posts", False, f"could not be checked: {exc}", "see the ledger check below")
        campaign = None
    if campaign is None:
        pass
    elif campaign.errors:
        first = campaign.errors[0].render()
        yield Check(
            "posts",
            False,
            f"{counted(len(campaign.errors), 'problem')}, first: {first}",
            "run `campaign-bot validate` and fix them",
        )
    else:
        posts, files = counted(len(campaign.posts), "post"), counted(len(campaign.files), "file")
        yield Check("posts", True, f"{posts} valid in {files}")
    yield _data_dir_check(app)
    yield ledger_check(app, found_account, campaign.posts if campaign else None)


def _scopes_check(client: MastodonClient) -> Check:
    unlisted = "the instance does not list the token's scopes"
    what_to_do = "publishing will tell; check the token's scopes in the instance's web interface"
    try:
        scopes = client.app_scopes()
    except ApiError as exc:
        # The token already proved valid: a server that cannot tie it to an application (or
        # has no /api/v1/apps/verify_credentials) simply does not say what it may do.
        status = f"HTTP {exc.http_status}" if exc.http_status else "no answer"
        return Check("scopes", None, f"{unlisted} ({status})", what_to_do)
    if scopes is None:
        return Check("scopes", None, unlisted, what_to_do)
    missing = [s for s in NEEDED_SCOPES if scope_missing(scopes, s)]
    if missing:
        return Check(
            "scopes",
            False,
            f"the token lacks {' '.join(missing)}",
            "create a token with the scopes listed in the README "
            "(Preferences → Development), or run `campaign-bot login`",
        )
    return Check("scopes", True, " ".join(sorted(scopes)))


def _skew(client: MastodonClient, clock: Clock) -> timedelta | None:
    date = client.server_date()
    return None if date is None else clock.now() - date


def _data_dir_check(app: App) -> Check:
    data_dir = app.settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".doctor-"):
            pass
    except (FileExistsError, NotADirectoryError):
        return Check(
            "data_dir",
            False,
            f"{data_dir} is not a folder (a file is in the way)",
            "move that file away, or point `data_dir:` at a folder",
        )
    except OSError as exc:
        return Check(
            "data_dir",
            False,
            f"{data_dir} is not writable: {exc.strerror}",
            "give the bot's user write access to it (a Docker volume: check its owner)",
        )
    return Check("data_dir", True, f"{data_dir} is writable")


def _account_checks(
    app: App,
    env: Mapping[str, str],
    clock: Clock,
    name: str | None,
    found: list[tuple[MastodonClient, Account, timedelta]],
) -> Iterator[Check]:
    """Instance reachable, token valid and scoped, clock, limits: for one account (the
    default one for None); each check names the account when there are several."""
    settings = app.settings
    instance = app.instance_of(name)
    several = settings.several_accounts

    def label(what: str) -> str:
        return f"{what} ({name})" if several else what

    client: MastodonClient | None = None
    if not instance:
        yield Check(
            label("instance"),
            False,
            "no instance configured",
            "set `instance:` in the config or MASTODON_BASE_URL",
        )
    else:
        probe = MastodonClient(instance, None, clock=clock, timeout=15)
        try:
            info = probe.server_info()
            software = "software not recognised" if info.software == "unknown" else info.software
            yield Check(label("instance"), True, f"{instance} answers ({software}, {info.version})")
            client = probe
        except ApiError as exc:
            yield Check(
                label("instance"),
                False,
                f"{instance}: {exc}",
                "check the address, DNS and the server's firewall",
            )
    token: str | None = None
    try:
        token = read_access_token(settings, env, name)
        if token is None:
            yield Check(
                label("token"),
                False,
                "no access token",
                f"run `campaign-bot login{f' --account {name}' if several else ''}`, or set "
                f"{token_env_name(name) if several and name else TOKEN_ENV} or access_token_file",
            )
    except ConfigError as exc:
        yield Check(label("token"), False, exc.problems[0].message, exc.problems[0].hint)
    register_secret(token)
    if token is None:
        pass
    elif client is not None and instance:
        authed = MastodonClient(instance, token, clock=clock, timeout=15)
        try:
            account = authed.verify_credentials()
        except AuthError as exc:
            yield Check(label("token"), False, str(exc), "or run `campaign-bot login`")
        except ApiError as exc:
            yield Check(label("token"), False, f"could not check it: {exc}", "try again later")
        else:
            yield Check(label("token"), True, f"valid, for @{account.acct}")
            check = _scopes_check(authed)
            yield replace(check, name=label(check.name))
            skew = _skew(authed, clock)
            if name in (None, settings.default_account):
                found.append((authed, account, skew or timedelta(0)))
            if skew is not None:
                ok = abs(skew) <= MAX_CLOCK_SKEW
                yield Check(
                    label("clock"),
                    ok,
                    f"{abs(skew.total_seconds()):.0f} s from the instance's clock",
                    "set up NTP (e.g. systemd-timesyncd) so posts go out on time",
                )
    report = app.limits(online=client is not None, account=name)
    fetched = report.source.startswith("read from")
    yield Check(
        label("limits"),
        fetched or not instance,
        report.source,
        "the instance's limits could not be read; validation uses defaults",
    )
