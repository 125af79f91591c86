"""What the calendar page shows: the plan's occurrences as toot cards, laid out by month and day.

Built from exactly what `plan` computes (the occurrences), what the ledger recorded about each
(state, live URLs, last error, engagement) and what validation found (problems with their
`file:line`). No I/O here: the media are placed by a callable the caller provides.
"""

from __future__ import annotations

import calendar as cal
import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup

from bot.calendar.problems import attach_problems
from bot.calendar.richtext import render_text
from bot.core.posts import CampaignPost, MediaFile, Part, PollSpec
from bot.core.problems import Problem
from bot.core.timespec import format_duration
from bot.schedule.planner import Occurrence
from bot.storage.engagement import Snapshot
from bot.storage.records import OccurrenceRecord

# The ledger's states as campaigners read them on the page. "withdrawn" is also shown for an
# occurrence the ledger holds unsent that the plan no longer has (its post was removed or moved).
STATE_LABELS = {
    "pending": "planned",
    "sending": "sending",
    "published": "published",
    "failed": "failed",
    "missed": "missed",
    "withdrawn": "withdrawn",
}
STATE_ORDER = ("planned", "sending", "published", "failed", "missed", "withdrawn")
_ANCHOR_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class Engagement:
    """The latest counts the ledger has for a published post."""

    replies: int
    boosts: int
    favourites: int
    at: datetime  # when they were counted
    quotes: int | None = None  # servers before Mastodon 4.5 do not count quotes
    gone: bool = False  # deleted on the instance: these are the last counts seen


@dataclass(frozen=True, slots=True)
class MediaView:
    src: str | None  # relative to the page; None when the file could not be copied
    alt: str
    kind: str  # image, video, audio
    name: str
    position: str  # CSS object-position from the focal point


@dataclass(frozen=True, slots=True)
class PartView:
    index: int
    html: Markup
    cw: str | None
    sensitive: bool
    media: tuple[MediaView, ...]
    poll: PollSpec | None
    poll_expires: str
    characters: int
    url: str | None


@dataclass(frozen=True, slots=True)
class Card:
    key: str
    anchor: str
    post_id: str
    at: datetime  # in the campaign's zone
    state: str
    kind: str  # at, cron, slot, or gone (only the ledger still knows it)
    cron: str | None
    file: str
    line: int
    parts: tuple[PartView, ...]
    problems: tuple[Problem, ...]
    url: str | None
    last_error: str | None
    engagement: Engagement | None
    visibility: str
    language: str | None
    deadline: datetime | None

    @property
    def day(self) -> date:
        return self.at.date()

    @property
    def summary(self) -> str:
        """A few words for the month grid."""
        if not self.parts:
            return self.post_id
        part = self.parts[0]
        if part.cw:
            return f"CW: {part.cw}"
        text = " ".join(part.html.striptags().split())
        return text[:48] + "…" if len(text) > 48 else text or self.post_id


@dataclass(slots=True)
class Day:
    day: date
    in_month: bool
    in_window: bool
    cards: list[Card] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"d-{self.day.isoformat()}"


@dataclass(slots=True)
class Month:
    year: int
    month: int
    weeks: list[list[Day]]

    @property
    def title(self) -> str:
        return f"{cal.month_name[self.month]} {self.year}"

    @property
    def anchor(self) -> str:
        return f"m-{self.year:04d}-{self.month:02d}"

    @property
    def count(self) -> int:
        return sum(len(d.cards) for w in self.weeks for d in w if d.in_month)


@dataclass(slots=True)
class CalendarPage:
    title: str
    zone: str
    start: datetime
    end: datetime
    generated: datetime
    max_characters: int
    limits_source: str
    instance: str | None
    months: list[Month]
    days: list[Day]  # the days that have posts, in order, for the list view
    problems: list[Problem]  # not tied to a post in the plan
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def cards(self) -> int:
        return sum(len(d.cards) for d in self.days)


def engagement_of(
    records: Mapping[str, OccurrenceRecord], snapshots: Mapping[str, Sequence[Snapshot]]
) -> dict[str, Engagement]:
    """Occurrence key -> the newest counts of its first status, from the ledger's snapshots."""
    found = {}
    for key, record in records.items():
        first = record.part(0)
        shots = snapshots.get(first.status_id or "") if first is not None else None
        if shots:
            last = shots[-1]
            c = last.counts
            found[key] = Engagement(
                c.replies, c.boosts, c.favourites, last.taken_at, c.quotes, c.gone
            )
    return found


def anchor_for(key: str) -> str:
    return "post-" + _ANCHOR_UNSAFE.sub("-", key)


def object_position(focus: tuple[float, float] | None) -> str:
    """Mastodon's focal point (x right, y up, each -1..1) as CSS object-position."""
    if focus is None:
        return "50% 50%"
    x, y = focus
    return f"{(x + 1) / 2 * 100:.0f}% {(1 - y) / 2 * 100:.0f}%"


def _media_kind(mime_type: str) -> str:
    major = mime_type.split("/", 1)[0]
    return major if major in {"video", "audio"} else "image"


def _part_view(
    part: Part, url: str | None, instance: str | None, place: Callable[[MediaFile], str | None]
) -> PartView:
    media = tuple(
        MediaView(place(m), m.alt, _media_kind(m.mime_type), m.name, object_position(m.focus))
        for m in part.media
    )
    expires = format_duration(timedelta(seconds=part.poll.expires_in)) if part.poll else ""
    return PartView(
        index=part.index,
        html=render_text(part.text, instance=instance),
        cw=part.spoiler_text,
        sensitive=part.sensitive,
        media=media,
        poll=part.poll,
        poll_expires=expires,
        characters=part.characters,
        url=url,
    )


@dataclass(frozen=True, slots=True)
class Sources:
    """Everything the page is built from."""

    occurrences: Sequence[Occurrence]
    records: Mapping[str, OccurrenceRecord]
    posts: Sequence[CampaignPost]
    problems: Sequence[Problem]
    engagement: Mapping[str, Engagement]


def build_cards(
    sources: Sources,
    *,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    instance: str | None,
    place: Callable[[MediaFile], str | None],
) -> tuple[list[Card], list[Problem]]:
    attached, apart = attach_problems(sources.posts, sources.problems)
    cards: list[Card] = []
    planned = set()
    for occ in sources.occurrences:
        planned.add(occ.key)
        record = sources.records.get(occ.key)
        cards.append(
            # A boost's or quote's window runs from when its post really went out: not known here.
            _card(occ.key, occ.post, occ.planned_at, occ.state,
                  None if occ.post.follows else occ.deadline, record, sources,
                  attached, zone, instance, place)
        )  # fmt: skip
    posts = {p.id: p for p in sources.posts}
    for key, record in sources.records.items():
        # What the ledger holds in the window but the plan no longer has: a post removed from
        # the files (or moved) stays visible with what became of it.
        if key in planned or not start <= record.planned_at <= end:
            continue
        state = str(record.state)
        if state in {"pending", "sending"}:
            state = "withdrawn"
        cards.append(
            _card(key, posts.get(record.post_id), record.planned_at, state, None, record,
                  sources, attached, zone, instance, place, gone=True)
        )  # fmt: skip
    cards.sort(key=lambda c: (c.at, c.key))
    return cards, apart


def _card(
    key: str,
    post: CampaignPost | None,
    at: datetime,
    state: str,
    deadline: datetime | None,
    record: OccurrenceRecord | None,
    sources: Sources,
    attached: Mapping[str, list[Problem]],
    zone: ZoneInfo,
    instance: str | None,
    place: Callable[[MediaFile], str | None],
    *,
    gone: bool = False,
) -> Card:
    urls: dict[int, str] = {}
    if record is not None and state != "withdrawn":  # a withdrawn status is deleted: no link
        urls = {p.index: p.url for p in record.parts if p.url is not None}
    parts = (
        tuple(_part_view(p, urls.get(p.index), instance, place) for p in post.parts) if post else ()
    )
    first = post.parts[0] if post else None
    return Card(
        key=key,
        anchor=anchor_for(key),
        post_id=post.id if post else (record.post_id if record else key),
        at=at.astimezone(zone),
        state=STATE_LABELS.get(state, state),
        kind="gone" if gone or post is None else post.schedule.kind,
        cron=post.schedule.cron if post else None,
        file=str(post.file) if post else "",
        line=post.line if post else 0,
        parts=parts,
        problems=tuple(attached.get(post.id, ())) if post else (),
        url=urls.get(0),
        last_error=record.last_error if record and state in {"failed", "missed"} else None,
        engagement=_local_engagement(sources.engagement.get(key), zone)
        if state in {"published", "withdrawn"}
        else None,
        visibility=(first.visibility if first else None) or "public",
        language=first.language if first else None,
        deadline=deadline.astimezone(zone) if deadline else None,
    )


def _local_engagement(seen: Engagement | None, zone: ZoneInfo) -> Engagement | None:
    return dataclasses.replace(seen, at=seen.at.astimezone(zone)) if seen else None


def lay_out(
    cards: Sequence[Card],
    problems: list[Problem],
    *,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    generated: datetime,
    title: str,
    max_characters: int,
    limits_source: str,
    instance: str | None,
    notes: list[str] | None = None,
) -> CalendarPage:
    """The cards by day, and the months (weeks from Monday) that the window covers."""
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    if cards:
        first, last = min(first, cards[0].day), max(last, cards[-1].day)
    by_day: dict[date, Day] = {}
    months: list[Month] = []
    weeks_of = cal.Calendar(firstweekday=0)
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        weeks = []
        for week in weeks_of.monthdatescalendar(year, month):
            row = []
            for day in week:
                cell = Day(day, day.month == month, first <= day <= last)
                if cell.in_month:
                    by_day[day] = cell
                row.append(cell)
            # Weeks wholly outside the window would only push the posts down the page.
            if any(cell.in_window for cell in row):
                weeks.append(row)
        months.append(Month(year, month, weeks))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    for card in cards:
        by_day[card.day].cards.append(card)
    counts = dict.fromkeys(STATE_ORDER, 0)
    for card in cards:
        counts[card.state] = counts.get(card.state, 0) + 1
    return CalendarPage(
        title=title,
        zone=zone.key,
        start=start.astimezone(zone),
        end=end.astimezone(zone),
        generated=generated.astimezone(zone),
        max_characters=max_characters,
        limits_source=limits_source,
        instance=instance,
        months=months,
        days=[d for d in sorted(by_day.values(), key=lambda d: d.day) if d.cards],
        problems=problems,
        counts={k: v for k, v in counts.items() if v},
        notes=notes or [],
    )


__all__ = ["CalendarPage", "Card", "Engagement", "Sources", "build_cards", "lay_out"]
