"""Reading the operator's config and settling every setting once.

Precedence, written down once: command-line flag, then environment, then the config file, then
the default. Relative paths are relative to the config file.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.campaign.modelerrors import problems_from_validation
from bot.campaign.schema import ConfigFile, Defaults
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
    if problems:
        raise ConfigError(problems)
    token_file = (base / model.access_token_file) if model.access_token_file else None
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
        alert_outage_after=durations["outage_after"],
        amend=model.amend,
    )


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


def read_access_token(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """The token from MASTODON_ACCESS_TOKEN, else from the file named by
    MASTODON_ACCESS_TOKEN_FILE (a Docker secret) or by `access_token_file`; None when unset."""
    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "").strip()
    if token:
        return token
    from_env = env.get(TOKEN_FILE_ENV, "").strip()
    path = Path(from_env) if from_env else settings.access_token_file
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
                    f"cannot read the token file {path}: {exc.strerror}",
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
