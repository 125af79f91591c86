"""`login` and `doctor`: getting a token, and checking everything an unattended run needs."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from bot.config.secrets import (
    RegisteredApp,
    app_file_for,
    load_app,
    save_app,
    write_token_file,
)
from bot.config.settings import config_path, load_settings
from bot.core.clock import SystemClock
from bot.core.errors import CampaignBotError, ConfigError, UsageError
from bot.core.urls import insecure_instance_reason
from bot.core.words import counted
from bot.mastodon.client import MastodonClient
from bot.mastodon.oauth import authorization_url
from bot.mastodon.types import ApiError
from bot.service.doctor import NEEDED_SCOPES, run_checks
from bot.service.logs import register_secret

DEFAULT_TOKEN_FILE = Path("secrets/mastodon-token")


# Takahē checks `verify_credentials` against the broad `read` scope and has no granular
# read:accounts (api/views/accounts.py: @scope_required("read"); Token.has_scope compares the
# part before ":" only the other way round), so a token with the bot's narrow scopes is refused
# with 403 out_of_scope_for_token. Such servers get the broad scopes.
BROAD_SCOPES = ("read", "write")
NEEDS_BROAD_SCOPES = ("takahe",)


def register(commands: Any) -> None:
    login = commands.add_parser("login", help="get an access token and save it to a file")
    login.add_argument("--instance", metavar="URL", help="default: the config's `instance`")
    login.add_argument(
        "--account",
        metavar="NAME",
        help="log in as this account of the config's `accounts:` (its instance and token file)",
    )
    login.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help="where to save it (default: the config's access_token_file, else "
        "secrets/mastodon-token)",
    )
    login.add_argument("--code", help="the authorization code (asked for when not given)")
    login.add_argument("--app-name", default="campaign-bot", help="the application's name")
    login.add_argument(
        "--scopes",
        metavar="SCOPES",
        help=f"the scopes to ask for (default: {' '.join(NEEDED_SCOPES)}; `read write` on "
        "servers that need the broad scopes, such as Takahē)",
    )
    login.set_defaults(handler=run_login, needs_config=False)

    doctor = commands.add_parser("doctor", help="check config, instance, token, posts and data")
    doctor.set_defaults(handler=run_doctor, needs_config=False)


def _where(args: argparse.Namespace) -> tuple[str | None, Path | None, str | None]:
    """The instance, token file and account name to log in to, from the flags and config."""
    instance, token_file, account = args.instance, args.token_file, args.account
    try:
        settings = load_settings(config_path(args.config, os.environ))
    except ConfigError:
        # Without a config, --instance is enough: the token goes to the default file.
        if not instance or account:
            raise
        return instance, token_file, None
    if account is not None:
        try:
            chosen = settings.account(account)
        except KeyError:
            raise UsageError(
                f"no account named {account!r} in the config's `accounts:` "
                f"(there are: {', '.join(settings.account_names())})"
            ) from None
    else:
        chosen = settings.account()
    return instance or chosen.instance, token_file or chosen.access_token_file, account


def _scopes(args: argparse.Namespace, client: MastodonClient) -> tuple[str, ...]:
    if args.scopes:
        return tuple(args.scopes.replace(",", " ").split())
    try:
        software = client.server_info().software
    except ApiError:
        return NEEDED_SCOPES
    if software in NEEDS_BROAD_SCOPES:
        print(f"This server ({software}) needs the broad scopes: asking for `read write`.")
        return BROAD_SCOPES
    return NEEDED_SCOPES


def run_login(args: argparse.Namespace) -> int:
    instance, token_file, account_name = _where(args)
    if not instance:
        raise UsageError(
            "no instance: pass --instance https://your.instance or set it in the config"
        )
    instance = instance.rstrip("/")
    if (reason := insecure_instance_reason(instance)) is not None:
        raise UsageError(f"{instance}: {reason}")
    token_file = token_file or DEFAULT_TOKEN_FILE
    _check_writable(token_file)
    client = MastodonClient(instance, None, clock=SystemClock())
    scopes = _scopes(args, client)
    # The code the owner copies belongs to one application: keep using the one registered for
    # this token file, so `login --code` after an earlier `login` matches its address.
    app = load_app(token_file, instance, scopes)
    if app is None:
        client_id, secret = client.register_app(args.app_name, scopes)
        app = RegisteredApp(instance, client_id, secret, scopes, secrets.token_urlsafe(24))
        try:
            save_app(token_file, app)
        except OSError as exc:
            raise CampaignBotError(
                f"cannot write {app_file_for(token_file)}: {exc.strerror} — choose another "
                "path with --token-file"
            ) from None
    code = args.code
    if not code:
        url = authorization_url(instance, app.client_id, scopes, app.state)
        who = f"the {account_name!r} account" if account_name else "the campaign's account"
        print(f"Open this address, log in as {who} and approve ({' '.join(scopes)}):\n\n  {url}\n")
        print("Then paste the code shown: ", end="", flush=True)
        code = sys.stdin.readline().strip()
        if not code:
            raise UsageError("no code given")
    token = client.exchange_code(app.client_id, app.client_secret, code, scopes)
    register_secret(token)
    try:
        account = MastodonClient(instance, token, clock=SystemClock()).verify_credentials()
    except ApiError as exc:
        if "scope" not in str(exc).lower():
            raise
        raise CampaignBotError(
            "the instance accepted the code but refused the account check for lack of a scope "
            "(out_of_scope_for_token): this server needs the broad scopes — run "
            '`campaign-bot login --scopes "read write"` and approve again'
        ) from None
    try:
        write_token_file(token_file, token)
    except OSError as exc:
        raise CampaignBotError(
            f"cannot write the token file {token_file}: {exc.strerror} — choose another path "
            "with --token-file, then run `campaign-bot login` again"
        ) from None
    print(f"Logged in as @{account.acct} on {instance}. The token is in {token_file} (mode 0600).")
    if args.token_file and not args.config:
        # Relative paths in the config are relative to the config file, not to this directory.
        print(f"Point the config at it: access_token_file: {token_file.resolve()}")
    return 0


def _check_writable(token_file: Path) -> None:
    """Fail before registering an application, not after the owner has approved it."""
    folder = token_file.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if token_file.is_dir() or not os.access(folder, os.W_OK):
        raise CampaignBotError(
            f"cannot write the token file {token_file} — choose another path with --token-file"
        )


def run_doctor(args: argparse.Namespace) -> int:
    path = config_path(args.config, os.environ)
    failed = unknown = 0
    for check in run_checks(path, os.environ, SystemClock()):
        print(check.render())
        failed += check.ok is False
        unknown += check.ok is None
    if failed:
        print(f"{counted(failed, 'check')} failed")
        return 1
    if unknown:
        print(f"no check failed; {unknown} could not be made (marked ?)")
        return 0
    print("all checks passed")
    return 0
