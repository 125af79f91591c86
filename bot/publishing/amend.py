"""Editing published statuses so they say what the post files say now, exactly once.

Mastodon's edit (`PUT /api/v1/statuses/:id`) replaces a status whole: the media, poll and
content warning are re-sent every time, or they are dropped. Each edit is written to the ledger
before its request and settled right after it. Before any request, and before every retry after
a crash or a lost answer, the status is read back: an edit already there is recorded as found,
never sent twice (Mastodon would keep a second, identical version in the post's history).
Edits count toward the 300 statuses per 3 hours, so they are paced like posts.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, replace

from bot.core.errors import CampaignBotError
from bot.core.posts import Part
from bot.core.published import PartSnapshot
from bot.core.versions import mastodon_at_least
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import (
    EditRequest,
    MediaEdit,
    MediaRequest,
    NotFound,
    PermanentError,
    PollRequest,
    RemoteStatus,
    TransientError,
)
from bot.publishing.drift import PartDrift, PostDrift
from bot.publishing.status_work import StatusWork
from bot.storage.amendments import EditRecord

logger = logging.getLogger(__name__)

# Mastodon's shortest poll (Poll::MIN_EXPIRATION): a poll re-sent unchanged keeps at least this.
_MIN_POLL = 300
# Editing arrived in Mastodon 3.5 (statuses_controller.rb#update).
EDIT_API_SINCE = (3, 5)
ALT_TEXT_FIELDS = frozenset({"alt text", "focus"})
# An edit's detail, while it is intended, names the media the status had before it.
_MEDIA_BEFORE = "media before: "


class EditUnsupported(CampaignBotError):
    """The instance offers no edit API: nothing can be amended there."""


@dataclass(frozen=True, slots=True)
class PartOutcome:
    index: int
    url: str
    result: str  # "edited", "found" (already on the instance), "unchanged", "gone", "failed"
    detail: str = ""


def target_for(
    drift: PartDrift, *, reset_poll: bool, only: Collection[str] | None = None
) -> PartSnapshot:
    """What the part is to show after the edit: the file's version of every field an edit can
    change (all of them, or only those named in `only`); the poll only with `reset_poll`."""
    old, new = drift.before, drift.after
    if old is None:
        return new
    wanted = {c.field for c in drift.changes if c.editable}
    if only is not None:
        wanted &= set(only)
    target = old
    if wanted & {"text", "hashtags"}:
        target = replace(target, text=new.text, hashtags=new.hashtags)
    if "content warning" in wanted:
        target = replace(target, spoiler_text=new.spoiler_text)
    if "sensitive" in wanted or "content warning" in wanted:
        target = replace(target, sensitive=new.sensitive)
    if "media files" in wanted:
        target = replace(target, media=new.media)
    elif wanted & ALT_TEXT_FIELDS:
        media = tuple(
            replace(
                m,
                alt=n.alt if "alt text" in wanted else m.alt,
                focus=n.focus if "focus" in wanted else m.focus,
            )
            for m, n in zip(old.media, new.media, strict=True)
        )
        target = replace(target, media=media)
    if "language" in wanted:
        target = replace(target, language=new.language)
    if "poll" in wanted and reset_poll:
        target = replace(target, poll=new.poll)
    return target


class Amender(StatusWork[MastodonClient]):
    """Brings published statuses in line with their post files, one edit per part at most."""

    def check_server(self) -> None:
        """Refuse, naming the server, an instance that cannot edit posts."""
        info = self.client.server_info()
        if info.software == "mastodon" and not mastodon_at_least(info.version, EDIT_API_SINCE):
            raise EditUnsupported(
                f"{self.client.base_url} runs Mastodon {info.version}, which cannot edit posts "
                "(editing came with Mastodon 3.5): change the post by hand, or withdraw it "
                "with `campaign-bot withdraw ID` and publish it again under a new id"
            )

    def amend(
        self,
        drift: PostDrift,
        *,
        reset_poll: bool = False,
        parts: Collection[int] | None = None,
        only: Collection[str] | None = None,
    ) -> list[PartOutcome]:
        """Edit every changed part (or those numbered in `parts`, counted from 1)."""
        outcomes = []
        by_index = {p.index: p for p in drift.post.parts}
        for part in drift.parts:
            if parts is not None and part.number not in parts:
                continue
            if part.before is None and only is not None:
                # Published before the ledger kept snapshots: which fields changed is unknown,
                # so an edit of only some of them cannot be made.
                outcomes.append(PartOutcome(part.index, part.url, "unchanged"))
                continue
            target = target_for(part, reset_poll=reset_poll, only=only)
            if part.before is not None and target == part.before:
                outcomes.append(PartOutcome(part.index, part.url, "unchanged"))
                continue
            outcomes.append(
                self._amend_part(drift.record.key, part, target, by_index[part.index], drift)
            )
        return outcomes

    def _amend_part(
        self, key: str, part: PartDrift, target: PartSnapshot, source: Part, drift: PostDrift
    ) -> PartOutcome:
        extra = {"post_id": drift.post.id}
        edit = self.store.open_edit(key, part.index)
        uploaded: dict[int, str] = {}
        attempt = 0
        while True:
            attempt += 1
            try:
                current = self.client.status(part.status_id)
                text, spoiler = self.client.status_source(part.status_id)
                goal = target if edit is None else edit.target
                before_ids = _media_ids(current) if edit is None else edit.detail
                if _shows(current, text, spoiler, goal, part.before, before_ids):
                    # An earlier run's edit, or this one's whose answer was lost, or a change
                    # made by hand: it is there, and is not sent again.
                    if edit is None:
                        edit = self.store.intend_edit(
                            key, part.index, part.status_id, goal, before_ids
                        )
                    self.store.settle_edit(edit, "found", f"status {part.status_id} shows it")
                    if goal == target:
                        logger.info("part %d already shows the file", part.number, extra=extra)
                        return PartOutcome(part.index, part.url, "found")
                    edit = None
                    continue
                if edit is not None and edit.target != target:
                    self.store.settle_edit(edit, "failed", "replaced by a newer edit")
                    edit = None
                if edit is None:
                    edit = self.store.intend_edit(
                        key, part.index, part.status_id, target, _media_ids(current)
                    )
                request = self._request(current, edit, part, source, uploaded)
                self.pacer.wait_for("status")
                self.client.edit_status(part.status_id, request)
                limit = self.client.rate_limit()
                if limit is not None:
                    self.pacer.observe(limit.remaining, limit.reset_at)
                self.store.settle_edit(edit, "applied", _summary(part))
                logger.info("part %d edited: %s", part.number, part.url, extra=extra)
                return PartOutcome(part.index, part.url, "edited")
            except NotFound as exc:
                if edit is not None:
                    self.store.settle_edit(edit, "failed", str(exc))
                self.store.part_deleted(key, part.index, part.status_id, "gone from the instance")
                return PartOutcome(part.index, part.url, "gone", "it is gone from the instance")
            except PermanentError as exc:
                if exc.http_status in (405, 501):
                    raise EditUnsupported(
                        f"{self.client.base_url} does not offer Mastodon's edit API "
                        f"(PUT /api/v1/statuses/:id answered {exc.http_status}): change the "
                        "post by hand there"
                    ) from exc
                if edit is not None:
                    self.store.settle_edit(edit, "failed", str(exc))
                return PartOutcome(part.index, part.url, "failed", str(exc))
            except TransientError as exc:
                delay = self.retry_delay(exc, attempt)
                if delay is None:
                    # The edit stays intended: the next amend reads the status back first.
                    return PartOutcome(part.index, part.url, "failed", str(exc))
                logger.warning(
                    "part %d: %s; reading it back, then trying again in %.0f s",
                    part.number,
                    exc,
                    delay,
                    extra=extra,
                )
                self.clock.sleep(delay)

    def _request(
        self,
        current: RemoteStatus,
        edit: EditRecord,
        part: PartDrift,
        source: Part,
        uploaded: dict[int, str],
    ) -> EditRequest:
        target = edit.target
        before = part.before
        media = []
        for i, wanted in enumerate(target.media):
            same_file = i < len(current.media) and (
                before is None  # published before snapshots: the instance's media are kept
                or _same_file(before, i, wanted.name, wanted.sha256)
            )
            if same_file:
                media_id = current.media[i].id
            else:
                if i not in uploaded:
                    file = source.media[i]
                    self.pacer.wait_for("media")
                    uploaded[i] = self.client.upload_media(
                        MediaRequest(file.path, file.mime_type, wanted.alt, wanted.focus)
                    )
                media_id = uploaded[i]
            media.append(MediaEdit(media_id, wanted.alt, wanted.focus))
        return EditRequest(
            text=target.text,
            spoiler_text=target.spoiler_text,
            sensitive=target.sensitive or bool(target.spoiler_text),
            media=tuple(media),
            poll=self._poll(current, target),
            language=target.language,
        )

    def _poll(self, current: RemoteStatus, target: PartSnapshot) -> PollRequest | None:
        poll = target.poll
        if poll is None:
            return None
        same = (current.poll_options, current.poll_multiple) == (poll.options, poll.multiple)
        if current.has_poll and same:
            # Unchanged: re-send what the instance has, with the time it has left, so neither
            # its votes nor its end move.
            left = _MIN_POLL
            if current.poll_expires_at is not None:
                left = int((current.poll_expires_at - self.clock.now()).total_seconds())
            return PollRequest(
                current.poll_options, max(left, _MIN_POLL), current.poll_multiple, poll.hide_totals
            )
        return PollRequest(poll.options, poll.expires_in, poll.multiple, poll.hide_totals)


def _media_ids(status: RemoteStatus) -> str:
    return _MEDIA_BEFORE + ",".join(m.id for m in status.media)


def _shows(
    status: RemoteStatus,
    text: str,
    spoiler: str,
    target: PartSnapshot,
    before: PartSnapshot | None,
    before_ids: str,
) -> bool:
    """Whether the instance already shows `target` (the edit went through)."""
    if text != target.text or spoiler != (target.spoiler_text or ""):
        return False
    if len(status.media) != len(target.media):
        return False
    if target.language and (status.language or "").casefold() != target.language.casefold():
        return False
    old_ids = set(before_ids.removeprefix(_MEDIA_BEFORE).split(","))
    for i, (have, want) in enumerate(zip(status.media, target.media, strict=True)):
        if have.description != want.alt or not _same_focus(have.focus, want.focus):
            return False
        kept = before is None or _same_file(before, i, want.name, want.sha256)
        if not kept and have.id in old_ids:
            return False  # a new file was to replace this one, and has not
    if target.poll is None:
        return not status.has_poll
    return (
        status.poll_options == target.poll.options and status.poll_multiple == target.poll.multiple
    )


def _same_file(before: PartSnapshot, i: int, name: str, sha256: str) -> bool:
    return i < len(before.media) and (before.media[i].name, before.media[i].sha256) == (
        name,
        sha256,
    )


def _same_focus(have: tuple[float, float] | None, want: tuple[float, float] | None) -> bool:
    want = want or (0.0, 0.0)
    have = have or (0.0, 0.0)
    return abs(have[0] - want[0]) < 0.01 and abs(have[1] - want[1]) < 0.01


def _summary(part: PartDrift) -> str:
    fields = ", ".join(c.field for c in part.changes)
    return f"status {part.status_id}: {fields}"
