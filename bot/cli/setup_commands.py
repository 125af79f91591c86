"""`login` and `doctor`: getting a token, and checking everything an unattended run needs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from bot.config.secrets import write_token_file
from bot.config.settings import config_path, load_settings
from bot.core.clock import SystemClock
from bot.core.errors import CampaignBotError, ConfigError, UsageError
from bot.core.urls import insecure_instance_reason
from bot.core.words import counted
from bot.mastodon.client import MastodonClient
from bot.service.doctor import NEEDED_SCOPES, run_checks
from bot.service.logs import register_secret

DEFAULT_TOKEN_FILE = Path("secrets/mastodon-token")


def register(commands: Any) -> None:
    login = commands.add_parser("login", help="get an access token and save it to a file")
    login.add_argument("--instance", metavar="URL", help="default: the config's `instance`")
    login.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help="where to save it (default: the config's access_token_file, else "
        "secrets/mastodon-token)",
    )
    login.add_argument("--code", help="the authorization code (asked for when not given)")
    login.add_argument("--app-name", default="campaign-bot", help="the application's name")
    login.set_defaults(handler=run_login, needs_config=False)

    doctor = commands.add_parser("doctor", help="check config, instance, token, posts and data")
    doctor.set_defaults(handler=run_doctor, needs_config=False)


def run_login(args: argparse.Namespace) -> int:
    instance, token_file = args.instance, args.token_file
    try:
        settings = load_settings(config_path(args.config, os.environ))
        instance = instance or settings.instance
        token_file = token_file or settings.access_token_file
    except ConfigError:
        # Without a config, --instance is enough: the token goes to the default file.
        if not instance:
            raise
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
    client_id, secret = client.register_app(args.app_name, NEEDED_SCOPES)
    url = client.authorization_url(client_id, secret, NEEDED_SCOPES)
    code = args.code
    if not code:
        print(
            f"Open this address, log in as the campaign's account and approve "
            f"({' '.join(NEEDED_SCOPES)}):\n\n  {url}\n"
        )
        print("Then paste the code shown: ", end="", flush=True)
        code = sys.stdin.readline().strip()
        if not code:
            raise UsageError("no code given")
    token = client.exchange_code(client_id, secret, code, NEEDED_SCOPES)
    register_secret(token)
    account = MastodonClient(instance, token, clock=SystemClock()).verify_credentials()
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
