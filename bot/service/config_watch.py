"""Noticing that the config file changed under a running bot, and saying which keys changed.

The bot keeps the config it started with: changing the instance, the token file, the folders or
the time zone under a running scheduler is not safe. What it must not do is ignore an edit
without a word, so the operator is told which keys differ and that a restart applies them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.campaign.yamlsource import read_yaml

logger = logging.getLogger(__name__)

_Stamp = tuple[int, int] | None  # (modification time in ns, size), None when missing


def flatten(data: object, prefix: str = "") -> dict[str, object]:
    """`{"alerts": {"webhook": u}}` as `{"alerts.webhook": u}`; lists and scalars are leaves."""
    if not isinstance(data, dict) or (prefix and not data):
        return {prefix: data} if prefix else {}
    found: dict[str, object] = {}
    for key, value in data.items():
        found.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return found


class ConfigWatch:
    """Compares the config file with the one the bot started with."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        self._started, _ = self._read()
        self._said: tuple[str, ...] | None = None  # what was last said; None: nothing yet
        self._keys: list[str] = []

    def check(self, *, always: bool = False) -> list[str]:
        """The keys that differ from the config in use; logged when that changes (or always,
        for SIGHUP). Reads the file again only when its time or size changed."""
        stamp = self._stat()
        if stamp != self._stamp or always:
            self._stamp = stamp
            self._compare(always=always)
        return self._keys

    def _compare(self, *, always: bool) -> None:
        now, problem = self._read()
        if problem is not None:
            said: tuple[str, ...] = ("unreadable", problem)
            if said != self._said or always:
                logger.warning(
                    "%s changed and cannot be read (%s); the bot keeps the config it started with",
                    self.path,
                    problem,
                )
            self._said = said
            return
        before, after = flatten(self._started), flatten(now)
        self._keys = sorted(
            k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
        )
        said = tuple(self._keys)
        if self._keys and (said != self._said or always):
            logger.warning(
                "%s changed (%s); the bot keeps the config it started with until it is restarted",
                self.path,
                ", ".join(self._keys),
            )
        elif not self._keys and self._said:
            logger.info("%s is back to the config the bot runs with", self.path)
        self._said = said

    def _stat(self) -> _Stamp:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _read(self) -> tuple[object, str | None]:
        """The file's data, or why it cannot be read."""
        if not self.path.is_file():
            return None, "config file not found"
        doc, problems = read_yaml(self.path)
        errors = [p for p in problems if p.severity == "error"]
        if doc is None or errors:
            first = errors[0] if errors else None
            return None, first.message if first else "not YAML"
        return doc.data, None
