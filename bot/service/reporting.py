"""What worked: the latest counts of every published post and thread part, their growth, totals
per hashtag, and the hours and weekdays whose posts did best."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.states import State
from bot.storage.amendments import Amendments
from bot.storage.engagement import Counts, read_snapshots
from bot.storage.ledger import Ledger

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def add(counts: Iterable[Counts]) -> Counts:
    items = list(counts)
    quotes = [c.quotes for c in items if c.quotes is not None]
    return Counts(
        sum(c.favourites for c in items),
        sum(c.boosts for c in items),
        sum(c.replies for c in items),
        sum(quotes) if quotes else None,
        any(c.gone for c in items),
    )


def growth(now: Counts, before: Counts) -> Counts:
    quotes = None if now.quotes is None else now.quotes - (before.quotes or 0)
    return Counts(
        now.favourites - before.favourites,
        now.boosts - before.boosts,
        now.replies - before.replies,
        quotes,
    )


@dataclass(frozen=True, slots=True)
class PartRow:
    number: int  # 1 is the post, 2 its first reply
    status_id: str
    url: str
    counts: Counts | None  # None: not counted yet
    growth: Counts | None  # since the count before the latest
    counted_at: datetime | None


@dataclass(frozen=True, slots=True)
class PostRow:
    key: str
    post_id: str
    published_at: datetime
    state: State
    hashtags: tuple[str, ...]
    parts: tuple[PartRow, ...]

    @property
    def counts(self) -> Counts:
        return add(p.counts for p in self.parts if p.counts is not None)

    @property
    def growth(self) -> Counts | None:
        grown = [p.growth for p in self.parts if p.growth is not None]
        return add(grown) if grown else None

    @property
    def counted(self) -> bool:
        return any(p.counts is not None for p in self.parts)


@dataclass(frozen=True, slots=True)
class GroupRow:
    label: str
    posts: int
    counts: Counts

    @property
    def average(self) -> float:
        return self.counts.total / self.posts if self.posts else 0.0


def post_rows(
    ledger: Ledger, store: Amendments, since: datetime | None, until: datetime | None
) -> list[PostRow]:
    """Every post published (or later withdrawn) in [since, until], oldest first."""
    snapshots = read_snapshots(ledger)
    published = store.all_snapshots()
    rows = []
    for record in ledger.all():
        first = record.part(0)
        if first is None or first.published_at is None or first.status_id is None:
            continue
        if (since and first.published_at < since) or (until and first.published_at > until):
            continue
        parts = []
        for part in record.parts:
            if part.status_id is None:
                continue
            taken = snapshots.get(part.status_id, [])
            latest = taken[-1] if taken else None
            before = taken[-2] if len(taken) > 1 else None
            parts.append(
                PartRow(
                    part.index + 1,
                    part.status_id,
                    part.url or "",
                    latest.counts if latest else None,
                    growth(latest.counts, before.counts) if latest and before else None,
                    latest.taken_at if latest else None,
                )
            )
        tags = {t: None for s in published.get(record.key, {}).values() for t in s.hashtags}
        rows.append(
            PostRow(
                record.key,
                record.post_id,
                first.published_at,
                record.state,
                tuple(tags),
                tuple(parts),
            )
        )
    return sorted(rows, key=lambda r: r.published_at)


def by_hashtag(rows: list[PostRow]) -> list[GroupRow]:
    groups: dict[str, list[PostRow]] = defaultdict(list)
    spelling: dict[str, str] = {}
    for row in rows:
        for tag in row.hashtags:
            groups[tag.casefold()].append(row)
            spelling.setdefault(tag.casefold(), tag)
    found = [
        GroupRow("#" + spelling[k], len(v), add(r.counts for r in v)) for k, v in groups.items()
    ]
    return sorted(found, key=lambda g: (-g.counts.total, g.label))


def by_time(rows: list[PostRow], zone: ZoneInfo, unit: str) -> list[GroupRow]:
    """Posts grouped by the local weekday or hour they went out, best average first."""
    groups: dict[int, list[PostRow]] = defaultdict(list)
    for row in rows:
        local = row.published_at.astimezone(zone)
        groups[local.weekday() if unit == "weekday" else local.hour].append(row)

    def label(k: int) -> str:
        return WEEKDAYS[k] if unit == "weekday" else f"{k:02d}:00"

    found = [GroupRow(label(k), len(v), add(r.counts for r in v)) for k, v in groups.items()]
    return sorted(found, key=lambda g: (-g.average, g.label))
