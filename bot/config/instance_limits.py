"""Learning the instance's limits: ask it, else use what it said last time, else the defaults."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.files import write_atomically
from bot.core.limits import InstanceLimits, LimitsReport, from_instance_document

logger = logging.getLogger(__name__)

InstanceFetcher = Callable[[], tuple[dict[str, Any] | None, dict[str, Any] | None]]


def learn_limits(
    settings: Settings,
    clock: Clock,
    fetch: InstanceFetcher | None,
    account: str | None = None,
) -> LimitsReport:
    """The limits of the account's instance (the default account's for None); `fetch` returns
    the v2 and v1 instance documents, None means stay offline. Each account's are cached apart."""
    chosen = settings.account(account)
    instance = settings.instance if account is None else chosen.instance
    cache = LimitsCache(settings.limits_cache_path_for(chosen.name))
    limits: InstanceLimits | None = None
    source = ""
    if instance and fetch is not None:
        try:
            v2, v1 = fetch()
            limits = from_instance_document(v2, v1)
            source = f"read from {instance}"
            cache.save(instance, limits, clock.now())
        except Exception as exc:  # noqa: BLE001 - any failure to reach the instance means "use the cache"
            logger.warning("could not read the limits of %s: %s", instance, exc)
    if limits is None and instance:
        cached = cache.load(instance)
        if cached is not None:
            limits, fetched_at = cached
            source = f"cached from {instance} at {fetched_at}"
    if limits is None:
        limits = InstanceLimits()
        source = (
            "Mastodon's defaults (no instance configured)"
            if not instance
            else f"Mastodon's defaults ({instance} unreachable, nothing cached)"
        )
    if settings.limit_overrides:
        limits = limits.with_overrides(dict(settings.limit_overrides))
        source += f", with config overrides: {', '.join(sorted(settings.limit_overrides))}"
    return LimitsReport(limits, source)


class LimitsCache:
    """The last limits read from an instance, kept in `data_dir` for offline validation."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, instance: str, limits: InstanceLimits, fetched_at: datetime) -> None:
        record = {
            "instance": instance,
            "fetched_at": fetched_at.isoformat(),
            "limits": asdict(limits),
        }
        try:
            write_atomically(self.path, json.dumps(record, indent=2))
        except OSError as exc:
            logger.warning("could not cache the instance limits in %s: %s", self.path, exc)

    def load(self, instance: str) -> tuple[InstanceLimits, str] | None:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("instance") != instance:
            return None
        try:
            return InstanceLimits().with_overrides(record["limits"]), str(record["fetched_at"])
        except (KeyError, TypeError):
            return None
