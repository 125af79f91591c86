"""What followers see of a published part, as the ledger remembers it, and how a post file that
changed since differs from it, field by field.

A snapshot is taken from the part as it was sent; comparing it with the part as the files say
now tells the campaigner what an `amend` would change, and what no edit can change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class MediaSnapshot:
    name: str  # the file as the campaigner named it
    sha256: str  # of its content, so a replaced file with the same name is noticed
    alt: str
    focus: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class PollSnapshot:
    options: tuple[str, ...]
    expires_in: int
    multiple: bool
    hide_totals: bool


@dataclass(frozen=True, slots=True)
class PartSnapshot:
    """One part (0 is the post, 1.. its thread replies) as it went out, or as it would now."""

    text: str
    spoiler_text: str | None
    hashtags: tuple[str, ...]
    media: tuple[MediaSnapshot, ...]
    poll: PollSnapshot | None
    sensitive: bool
    language: str | None
    visibility: str | None

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "text": self.text,
            "spoiler_text": self.spoiler_text,
            "hashtags": list(self.hashtags),
            "media": [[m.name, m.sha256, m.alt, m.focus] for m in self.media],
            "poll": None if self.poll is None else _poll_json(self.poll),
            "sensitive": self.sensitive,
            "language": self.language,
            "visibility": self.visibility,
        }
        return json.dumps(body, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PartSnapshot:
        body = json.loads(text)
        poll = body["poll"]
        return cls(
            text=body["text"],
            spoiler_text=body["spoiler_text"],
            hashtags=tuple(body["hashtags"]),
            media=tuple(
                MediaSnapshot(name, digest, alt, tuple(focus) if focus else None)
                for name, digest, alt, focus in body["media"]
            ),
            poll=None if poll is None else PollSnapshot(tuple(poll[0]), poll[1], poll[2], poll[3]),
            sensitive=body["sensitive"],
            language=body["language"],
            visibility=body["visibility"],
        )

    @property
    def body(self) -> str:
        """The text without the line of hashtags the bot added to it."""
        head, _, last = self.text.rpartition("\n")
        tags = {t.casefold() for t in self.hashtags}
        words = last.split()
        if words and all(w[:1] in "#＃" and w[1:].casefold() in tags for w in words):
            return head.rstrip()
        return self.text


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a part that the files now say differently from what followers see."""

    field: str  # as campaigners name it: "text", "alt text", "content warning", ...
    before: str
    after: str
    editable: bool = True  # False: Mastodon cannot change it in an edit
    resets_votes: bool = False


def _poll_json(poll: PollSnapshot) -> list[object]:
    return [list(poll.options), poll.expires_in, poll.multiple, poll.hide_totals]


def _show(value: object) -> str:
    if value is None or value == "" or value == ():
        return "(none)"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def changes(old: PartSnapshot, new: PartSnapshot) -> list[FieldChange]:
    """What differs between the published part and the part the files describe now."""
    found: list[FieldChange] = []

    def note(name: str, before: object, after: object, **kw: bool) -> None:
        if before != after:
            found.append(FieldChange(name, _show(before), _show(after), **kw))

    note("text", old.body, new.body)
    note("hashtags", old.hashtags, new.hashtags)
    if old.text != new.text and not found:
        note("text", old.text, new.text)
    note("content warning", old.spoiler_text or "", new.spoiler_text or "")
    note(
        "media files",
        tuple(f"{m.name} ({m.sha256[:12]})" for m in old.media),
        tuple(f"{m.name} ({m.sha256[:12]})" for m in new.media),
    )
    if [(m.name, m.sha256) for m in old.media] == [(m.name, m.sha256) for m in new.media]:
        note("alt text", tuple(m.alt for m in old.media), tuple(m.alt for m in new.media))
        note("focus", tuple(m.focus for m in old.media), tuple(m.focus for m in new.media))
    if old.poll != new.poll:
        note("poll", _poll(old.poll), _poll(new.poll), resets_votes=True)
    note("sensitive", old.sensitive, new.sensitive)
    note("language", old.language, new.language)
    note("visibility", old.visibility, new.visibility, editable=False)
    return found


def _poll(poll: PollSnapshot | None) -> str:
    if poll is None:
        return ""
    kind = "several choices" if poll.multiple else "one choice"
    return f"{' / '.join(poll.options)} ({kind}, {poll.expires_in} s)"
