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
    # A quote post's first part: the quoted status, as its id on the quoting instance.
    quoted_status_id: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    at: datetime | None = None
    cron: str | None = None
    start: datetime | None = None
    until: datetime | None = None
    # One account's copy of a post from several accounts, `stagger`ed: it goes out this long
    # after the copy before it would — after each cron time, or after the slot the first copy
    # (`after_copy`, its id) takes.
    offset: timedelta = timedelta(0)
    after_copy: str = ""

    @property
    def kind(self) -> ScheduleKind:
        if self.at:
            return ScheduleKind.AT
        return ScheduleKind.CRON if self.cron else ScheduleKind.SLOT


class FollowKind(StrEnum):
    BOOST = "boost"
    QUOTE = "quote"


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A boost or a quote of a campaign post by another account, `after` its publication.

    Each is published once per published occurrence of the post, under its own ledger key:
    the occurrence's key followed by `suffix`.
    """

    kind: FollowKind
    account: str
    after: timedelta
    part: Part | None = None  # a quote's own post
    fallback_link: bool = False  # a quote the instance cannot make goes out with the link
    index: int = 0  # the place of a quote in the post's `quote:` list
    of_account: str = ""  # the account that publishes the post followed
    # A post published from several accounts (`accounts:`) is followed only in the copy of the
    # first of them, `of_account`; these are all its accounts, in order.
    of_copies: tuple[str, ...] = ()

    @property
    def suffix(self) -> str:
        return f"~{self.kind}~{self.account}" + (f"~{self.index}" if self.index else "")

    def key(self, occurrence_key: str) -> str:
        return occurrence_key + self.suffix

    def shared_key(self, key: str) -> str:
        """The key of the occurrence that this follow-up's `key` shares."""
        return key.removesuffix(self.suffix)


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
    account: str = ""  # the account that publishes it; "" is the config's default account
    follow_ups: tuple[FollowUp, ...] = ()
    # Set on the boost or quote itself (see bot.schedule.followups): what it follows up.
    follows: FollowUp | None = None

    @property
    def first_words(self) -> str:
        text = " ".join(self.parts[0].text.split())
        return text if len(text) <= 60 else text[:59] + "…"
