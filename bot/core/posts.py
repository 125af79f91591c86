"""A campaign post as the rest of the bot sees it: checked, with every part ready to publish.

The campaign package builds these from post files; the planner, the publisher, the daemon and
the rehearsal only read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path


class ScheduleKind(StrEnum):
    AT = "at"
    CRON = "cron"
    SLOT = "slot"


@dataclass(frozen=True, slots=True)
class MediaFile:
    path: Path
    name: str  # as the campaigner wrote it
    mime_type: str
    size: int
    alt: str
    focus: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class PollSpec:
    options: tuple[str, ...]
    expires_in: int
    multiple: bool
    hide_totals: bool


@dataclass(frozen=True, slots=True)
class Part:
    index: int
    text: str
    spoiler_text: str | None
    sensitive: bool
    visibility: str | None
    language: str | None
    media: tuple[MediaFile, ...]
    poll: PollSpec | None
    characters: int
    hashtags: tuple[str, ...] = ()  # the tags the file gives; `text` already ends with them


@dataclass(frozen=True, slots=True)
class Schedule:
    at: datetime | None = None
    cron: str | None = None
    start: datetime | None = None
    until: datetime | None = None

    @property
    def kind(self) -> ScheduleKind:
        if self.at:
            return ScheduleKind.AT
        return ScheduleKind.CRON if self.cron else ScheduleKind.SLOT


@dataclass(frozen=True, slots=True)
class CampaignPost:
    id: str
    file: str
    line: int
    order: int
    schedule: Schedule
    not_after: timedelta | datetime | None
    parts: tuple[Part, ...]
    content_hash: str = field(default="")
    # The campaign says it means to publish the same content again (`repeat: true`).
    repeat: bool = False

    @property
    def first_words(self) -> str:
        text = " ".join(self.parts[0].text.split())
        return text if len(text) <= 60 else text[:59] + "…"
