"""Published posts whose file changed since: what followers still see, and what would change.

`validate`, `plan` and `status` report each such post per part and field as a warning; `amend`
applies the changes. A repeating (`cron`) post is one file for many statuses: each occurrence
already out that shows an older version is compared (and amended) on its own, and its warning
counts them; the occurrences still to come are published from the file as it is then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.posts import CampaignPost, ScheduleKind
from bot.core.problems import Problem, Severity
from bot.core.published import FieldChange, PartSnapshot, changes
from bot.core.states import State
from bot.core.words import counted
from bot.publishing.snapshot import snapshot_of
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger
from bot.storage.records import OccurrenceRecord

FOLLOWERS = "followers still see the old version"


@dataclass(frozen=True, slots=True)
class PartDrift:
    index: int
    status_id: str
    url: str
    before: PartSnapshot | None  # None: published before the ledger kept snapshots
    after: PartSnapshot
    changes: tuple[FieldChange, ...]

    @property
    def number(self) -> int:
        """The part as people count: 1 is the post, 2 its first reply."""
        return self.index + 1


@dataclass(frozen=True, slots=True)
class PostDrift:
    post: CampaignPost
    record: OccurrenceRecord
    parts: tuple[PartDrift, ...]
    # The thread has more or fewer parts in the file than were published: no edit adds or
    # removes a reply.
    published_parts: int = 0
    notes: tuple[str, ...] = field(default=())


def find_drift(posts: list[CampaignPost], ledger: Ledger, store: Amendments) -> list[PostDrift]:
    """Every published occurrence whose post's file no longer says what followers see: the
    one occurrence of a one-off post, each occurrence of a repeating post already out."""
    snapshots = store.all_snapshots()
    # One read of the ledger, not one per post: a campaign may hold some 30,000 posts.
    by_key: dict[str, list[OccurrenceRecord]] = {}
    by_post: dict[str, list[OccurrenceRecord]] = {}
    for record in ledger.all():
        if record.state is State.PUBLISHED:
            by_key[record.key] = [record]
            by_post.setdefault(record.post_id, []).append(record)
    found = []
    for post in posts:
        # A one-off post's occurrence has its id as key; a repeating post's share its id.
        repeats = post.schedule.kind is ScheduleKind.CRON
        mine = by_post.get(post.id, []) if repeats else by_key.get(post.id, [])
        for record in sorted(mine, key=lambda r: r.planned_at):
            drift = post_drift(post, record, snapshots.get(record.key, {}))
            if drift is not None:
                found.append(drift)
    return found


def post_drift(
    post: CampaignPost, record: OccurrenceRecord, before: dict[int, PartSnapshot]
) -> PostDrift | None:
    parts = []
    for part in post.parts:
        stored = record.part(part.index)
        if stored is None or stored.status_id is None:
            continue
        old = before.get(part.index)
        # Published before the ledger kept snapshots: the content hash of the whole post is
        # all there is to compare.
        if old is None and record.content_hash == post.content_hash:
            continue
        new = snapshot_of(part)
        found: tuple[FieldChange, ...]
        if old is None:
            found = (FieldChange("content", "(not recorded)", "(as in the file)"),)
        else:
            found = tuple(changes(old, new))
        if found:
            parts.append(PartDrift(part.index, stored.status_id, stored.url or "", old, new, found))
    published = len([p for p in record.parts if p.status_id])
    notes: tuple[str, ...] = ()
    if published != len(post.parts):
        notes = (
            f"the thread has {len(post.parts)} parts in the file and {published} on the "
            "instance; an edit cannot add or remove replies",
        )
    if not parts and not notes:
        return None
    return PostDrift(post, record, tuple(parts), published, notes)


def drift_problems(
    drifts: list[PostDrift], left: Callable[[FieldChange], bool] | None = None
) -> list[Problem]:
    """One warning per changed field of each part, at the post's place in its file (for a
    repeating post, one for all its occurrences that show the old version); with `left`, only
    for the changes it says are left to the campaigner."""
    # (post id, what, hint) -> the post and how many of its occurrences it concerns
    found: dict[tuple[str, str, str], tuple[CampaignPost, int]] = {}

    def add(post: CampaignPost, what: str, hint: str) -> None:
        _, count = found.get((post.id, what, hint), (post, 0))
        found[(post.id, what, hint)] = (post, count + 1)

    for drift in drifts:
        post = drift.post
        for part in drift.parts:
            for change in part.changes:
                if left is None or left(change):
                    add(post, f"part {part.number}: {_changed(change)}", _hint(post, change))
        for note in drift.notes:
            add(post, note, "publish the new replies as a post of their own")
    problems = []
    for (_, what, hint), (post, count) in found.items():
        if post.schedule.kind is ScheduleKind.CRON:
            what = what.replace(
                FOLLOWERS, f"{FOLLOWERS} in {counted(count, 'published occurrence')}"
            )
        problems.append(_warning(post, what, hint))
    return problems


def _changed(change: FieldChange) -> str:
    if change.field == "content":
        return f"changed after publishing ({FOLLOWERS})"
    return f"{change.field} changed after publishing ({FOLLOWERS})"


def _hint(post: CampaignPost, change: FieldChange) -> str:
    amend = f"run `campaign-bot amend {post.id}`"
    repeats = post.schedule.kind is ScheduleKind.CRON
    if not change.editable:
        if repeats:
            return (
                f"an edit cannot change the {change.field}: the occurrences still to come get "
                "the new one; one already out is taken back with `campaign-bot withdraw KEY` "
                "(the keys `status` shows)"
            )
        return (
            f"an edit cannot change the {change.field}: `campaign-bot withdraw "
            f"{post.id}` and publish it again under a new id, or put it back"
        )
    if change.resets_votes:
        return f"{amend} --reset-poll (the votes so far are lost)"
    if repeats:
        return f"{amend} to edit them (the occurrences still to come use the file as it is)"
    return amend


def _warning(post: CampaignPost, message: str, hint: str) -> Problem:
    return Problem(post.file, post.line, 1, "", f"`{post.id}` {message}", hint, Severity.WARNING)


def removed_from_files(
    posts: list[CampaignPost], records: list[OccurrenceRecord]
) -> list[OccurrenceRecord]:
    """Published occurrences whose post is no longer in the files (never deleted for that)."""
    ids = {p.id for p in posts}
    # A post's boosts and quotes are in the files as long as the post says so.
    ids |= {p.id + f.suffix for p in posts for f in p.follow_ups}
    return [r for r in records if r.state is State.PUBLISHED and r.post_id not in ids]
