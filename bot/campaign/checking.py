"""What every check of a campaign post shares: its surroundings, and a place to report to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.campaign.schema import Defaults
from bot.core.limits import InstanceLimits
from bot.core.problems import Problem, Severity, dotted

Locate = Callable[[tuple[str | int, ...]], tuple[int, int]]


@dataclass
class Context:
    """What checking a post needs to know about its surroundings."""

    limits: InstanceLimits
    posts_dir: Path
    zone: ZoneInfo
    defaults: Defaults  # config-wide
    require_alt_text: bool
    media_cache: dict[Path, tuple[str | None, int] | OSError] = field(default_factory=dict)
    # The config's account names, the default one, and each account's instance limits (an
    # account missing from the map has `limits`).
    accounts: tuple[str, ...] = ("default",)
    default_account: str = "default"
    account_limits: Mapping[str, InstanceLimits] = field(default_factory=dict)

    def limits_for(self, account: str) -> InstanceLimits:
        return self.account_limits.get(account, self.limits)


class Checker:
    """Collects the problems of one post, each placed at its line and column, instead of raising."""

    def __init__(self, ctx: Context, display: str, locate: Locate, prefix: tuple[str | int, ...]):
        self.ctx = ctx
        self.display = display
        self.locate = locate
        self.prefix = prefix
        self.problems: list[Problem] = []

    def add(
        self, where: tuple[str | int, ...], message: str, hint: str = "", *, warning: bool = False
    ) -> None:
        full = (*self.prefix, *where)
        line, column = self.locate(full)
        severity = Severity.WARNING if warning else Severity.ERROR
        where_text = dotted(full)
        self.problems.append(
            Problem(self.display, line, column, where_text, message, hint, severity)
        )
