"""Reading the operator's config and settling every setting once.

Precedence, written down once: command-line flag, then environment, then the config file, then
the default. Relative paths are relative to the config file.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.campaign.modelerrors import problems_from_validation
from bot.campaign.schema import ACCOUNT_NAME_PATTERN, ConfigFile, Defaults
from bot.campaign.yamlsource import YamlDocument, read_yaml
from bot.core.errors import ConfigError
from bot.core.problems import Problem, dotted
from bot.core.timespec import TimeSpecError, load_zone, parse_duration
from bot.core.urls import insecure_instance_reason
from bot.schedule.due import Timetable
from bot.schedule.slots import Slot, SlotError, parse_slot

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = Path("config/bot.yaml")
CONFIG_ENV = "CAMPAIGN_BOT_CONFIG"
BASE_URL_ENV = "MASTODON_BASE_URL"
TOKEN_FILE_ENV = "MASTODON_ACCESS_TOKEN_FILE"  # noqa: S105 - a variable name
TOKEN_ENV = "MASTODON_ACCESS_TOKEN"  # noqa: S105 - the variable's name, not a token


DEFAULT_ACCOUNT = "default"


def token_env_name(account: str) -> str:
    """MASTODON_ACCESS_TOKEN_<NAME>: the account's name upper-cased, `-` as `_`."""
    return f"{TOKEN_ENV}_{account.upper().replace('-', '_')}"


@dataclass(frozen=True)
class AccountSettings:
    """One account the campaign publishes from: its instance and where its token is."""

    name: str
    instance: str | None
    access_token_file: Path | None


@dataclass(frozen=True)
class Settings:
    """The config with everything resolved: absolute paths, a zone, durations."""

    path: Path
    instance: str | None
    access_token_file: Path | None
    zone: ZoneInfo
    posts_dir: Path
    data_dir: Path
    defaults: Defaults
    catch_up: timedelta
    slots: tuple[Slot, ...]
    require_alt_text: bool
    limit_overrides: dict[str, object]
    idempotency_keys: str
    request_timeout: float
    alert_webhook: str | None
    alert_direct_message: str | None
    # Every account by name, in config order; `instance` and `access_token_file` above are the
    # default account's. A config without `accounts:` has one account, DEFAULT_ACCOUNT.
    accounts: Mapping[str, AccountSettings] = field(default_factory=dict)
    default_account: str = DEFAULT_ACCOUNT
    # Alert when the instance has been failing for longer than this.
    alert_outage_after: timedelta = timedelta(minutes=5)
    amend: str = "manual"  # what the running bot edits by itself: manual, alt-text or auto

    @property
    def timetable(self) -> Timetable:
        return Timetable(self.zone, self.slots, self.catch_up)

    @property
    def ledger_path(self) -> Path:
        return self.data_dir / "ledger.sqlite3"

    @property
    def limits_cache_path(self) -> Path:
        return self.data_dir / "instance-limits.json"

    @property
    def several_accounts(self) -> bool:
        return len(self.accounts) > 1

    def account(self, name: str | None = None) -> AccountSettings:
        """The named account (the default one for None); KeyError if there is no such name."""
        name = name or self.default_account
        if name in self.accounts:
            return self.accounts[name]
        if not self.accounts and name == DEFAULT_ACCOUNT:
            return AccountSettings(DEFAULT_ACCOUNT, self.instance, self.access_token_file)
        raise KeyError(name)

    def account_names(self) -> list[str]:
        return list(self.accounts) or [DEFAULT_ACCOUNT]

    def limits_cache_path_for(self, account: str) -> Path:
        if account == self.default_account:
            return self.limits_cache_path
        return self.data_dir / f"instance-limits.{account}.json"


def config_path(flag: str | None, env: Mapping[str, str]) -> Path:
    return Path(flag or env.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and check the config file; raise ConfigError listing every problem in it."""
    env = os.environ if env is None else env
    display = str(path)
    if not path.is_file():
        raise ConfigError(
            [
                Problem(
                    display,
                    0,
                    0,
                    "",
                    "config file not found",
                    "create it (see config/bot.yaml in the project) "
                    f"or pass --config / {CONFIG_ENV}",
                )
            ]
        )
    doc, problems = read_yaml(path, display_name=display)
    if problems:
        raise ConfigError(problems)
    assert doc is not None
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(display, 1, 1, "", "the config must be a mapping of settings")])
    if "access_token" in data:
        pos = doc.key_position(("access_token",))
        raise ConfigError(
            [
                Problem(
                    display,
                    pos.line,
                    pos.column,
                    "access_token",
                    "the access token must not be written in the config",
                    f"remove it, and put it in a file named by `access_token_file:` (mode 0600) "
                    f"or in the {TOKEN_ENV} environment variable",
                )
            ]
        )
    try:
        model = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, ConfigFile, doc, display)) from None
    return _resolve(model, path, doc, env)


def _resolve(model: ConfigFile, path: Path, doc: YamlDocument, env: Mapping[str, str]) -> Settings:
    display = str(path)
    base = path.resolve().parent
    problems: list[Problem] = []

    def problem(where: tuple[str | int, ...], message: str, hint: str) -> None:
        pos = doc.position(where)
        problems.append(Problem(display, pos.line, pos.column, dotted(where), message, hint))

    zone = ZoneInfo("UTC")
    try:
        zone = load_zone(model.timezone)
    except TimeSpecError as exc:
        problem(("timezone",), exc.message, exc.hint)
    durations: dict[str, timedelta] = {}
    for name in ("catch_up", "request_timeout"):
        try:
            durations[name] = parse_duration(getattr(model, name))
        except TimeSpecError as exc:
            problem((name,), exc.message, exc.hint)
    try:
        durations["outage_after"] = parse_duration(model.alerts.outage_after)
    except TimeSpecError as exc:
        problem(("alerts", "outage_after"), exc.message, exc.hint)
    slots: list[Slot] = []
    for index, text in enumerate(model.slots):
        try:
            slots.append(parse_slot(text))
        except SlotError as exc:
            problem(("slots", index), str(exc), exc.hint)
    instance = _check_instance(env, model.instance, display, doc, problems)
    token_file = (base / model.access_token_file) if model.access_token_file else None
    accounts = _accounts(model, base, problem)
    default_account = model.default_account or next(iter(accounts), DEFAULT_ACCOUNT)
    if accounts and default_account not in accounts:
        problem(
            ("default_account",),
            f"no account named {default_account!r} in `accounts:`",
            f"use one of {', '.join(accounts)}",
        )
    elif not accounts and model.default_account not in (None, DEFAULT_ACCOUNT):
        problem(
            ("default_account",),
            "`default_account` needs an `accounts:` map",
            "add `accounts:` with that name, or remove `default_account`",
        )
    if problems:
        raise ConfigError(problems)
    if accounts:
        # The top-level `instance` is that of every account that names none (all on one
        # instance); the top-level `access_token_file` is the default account's if it names none.
        accounts = {
            name: replace(
                account,
                instance=account.instance or instance,
                access_token_file=account.access_token_file
                or (token_file if name == default_account else None),
            )
            for name, account in accounts.items()
        }
        chosen = accounts[default_account]
        if not env.get(BASE_URL_ENV, "").strip():
            instance = chosen.instance
        token_file = chosen.access_token_file
    return Settings(
        path=path,
        instance=instance,
        access_token_file=token_file,
        zone=zone,
        posts_dir=(base / model.posts_dir).resolve(),
        data_dir=(base / model.data_dir).resolve(),
        defaults=model.defaults,
        catch_up=durations["catch_up"],
        slots=tuple(slots),
        require_alt_text=model.require_alt_text,
        limit_overrides=model.limits.model_dump(exclude_none=True),
        idempotency_keys=model.idempotency_keys,
        request_timeout=durations["request_timeout"].total_seconds(),
        alert_webhook=model.alerts.webhook,
        alert_direct_message=model.alerts.direct_message,
        accounts=accounts,
        default_account=default_account,
        alert_outage_after=durations["outage_after"],
        amend=model.amend,
    )


def _accounts(
    model: ConfigFile,
    base: Path,
    problem: Callable[[tuple[str | int, ...], str, str], None],
) -> dict[str, AccountSettings]:
    accounts: dict[str, AccountSettings] = {}
    for name, account in model.accounts.items():
        if not re.fullmatch(ACCOUNT_NAME_PATTERN, name):
            problem(
                ("accounts", name),
                f"{name!r} is not a usable account name",
                "use lower-case letters, digits, `-` and `_` (up to 40), e.g. `partner-1`",
            )
            continue
        url = (account.instance or "").strip().rstrip("/") or None
        if url and not url.startswith(("http://", "https://")):
            problem(
                ("accounts", name, "instance"),
                f"{url!r} is not a URL",
                "write it like `https://mastodon.example`",
            )
        elif url and (reason := insecure_instance_reason(url)) is not None:
            problem(("accounts", name, "instance"), f"{url!r}: {reason}", "")
        path = (base / account.access_token_file) if account.access_token_file else None
        accounts[name] = AccountSettings(name, url, path)
    return accounts


def _check_instance(
    env: Mapping[str, str],
    in_file: str | None,
    display: str,
    doc: YamlDocument,
    problems: list[Problem],
) -> str | None:
    """The instance's address, from MASTODON_BASE_URL or `instance:`, refused (into `problems`)
    unless the token may travel to it: https://, or plain http:// on this machine only."""
    from_env = env.get(BASE_URL_ENV, "").strip()
    instance = (from_env or in_file or "").strip().rstrip("/") or None
    if instance is None:
        return None
    if from_env:
        line, column, where = 0, 0, BASE_URL_ENV
    else:
        pos = doc.position(("instance",))
        line, column, where = pos.line, pos.column, "instance"
    if not instance.startswith(("http://", "https://")):
        message, hint = f"{instance!r} is not a URL", "write it like `https://mastodon.example`"
        problems.append(Problem(display, line, column, where, message, hint))
    elif (reason := insecure_instance_reason(instance)) is not None:
        problems.append(Problem(display, line, column, where, f"{instance!r}: {reason}"))
    return instance


def read_access_token(
    settings: Settings, env: Mapping[str, str] | None = None, account: str | None = None
) -> str | None:
    """The account's token (the default account's for None): from MASTODON_ACCESS_TOKEN_<NAME>,
    else its `access_token_file`. For the default account MASTODON_ACCESS_TOKEN and the file
    named by MASTODON_ACCESS_TOKEN_FILE (a Docker secret) come first. None when unset."""
    env = os.environ if env is None else env
    name = account or settings.default_account
    chosen = settings.account(name)
    is_default = name == settings.default_account
    token = env.get(token_env_name(name), "").strip()
    if not token and is_default:
        token = env.get(TOKEN_ENV, "").strip()
    if token:
        return token
    from_env = env.get(TOKEN_FILE_ENV, "").strip() if is_default else ""
    path = Path(from_env) if from_env else chosen.access_token_file
    if path is None:
        return None
    try:
        mode = path.stat().st_mode
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [
                Problem(
                    str(settings.path),
                    0,
                    0,
                    "access_token_file",
                    f"cannot read the token file {path}"
                    f"{f' (account {name})' if settings.several_accounts else ''}"
                    f": {exc.strerror}",
                    "check the path and that the bot's user can read it",
                )
            ]
        ) from None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        logger.warning(
            "the token file %s can be read by other users; run: chmod 600 %s", path, path
        )
    # The first line is the token; Mastodon.py's token files carry more lines after it.
    first = content.strip().splitlines()[0].strip() if content.strip() else ""
    return first or None
