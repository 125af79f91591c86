"""One validated post file entry → the exact parts that will be published, checked against the
instance's limits. Every problem found is reported with its place; nothing stops at the first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import regex

from bot.campaign.attachments import check_media, check_poll
from bot.campaign.charcount import count_for_server, strictest_count
from bot.campaign.checking import Checker
from bot.campaign.coalition import copy_id, follow_ups, publishing_account, staggered
from bot.campaign.languages import ISO_639_1
from bot.campaign.schema import Defaults, Media, Poll, Post, QuoteSpec, Reply
from bot.core.posts import CampaignPost, Part, Schedule
from bot.core.problems import Severity
from bot.core.timespec import TimeSpecError, parse_duration, parse_time
from bot.schedule.recurrence import RecurrenceError, parse_cron

# Mastodon's hashtag rule (app/models/tag.rb): word characters and a few separators, at least one
# letter; a tag starts after whitespace or at the start of the text.
_TAG_BODY = regex.compile(r"^[\w\u00b7\u30fb\u200c]*\p{L}[\w\u00b7\u30fb\u200c]*$")
_TAG_IN_TEXT = regex.compile(r"(?:^|(?<=\s))[#＃]([\w\u00b7\u30fb\u200c]+)")


_SOFTWARE_NAMES = {
    "takahe": "Takahē",
    "gotosocial": "GoToSocial",
    "akkoma": "Akkoma",
    "pleroma": "Pleroma",
}


class PostChecker(Checker):
    """Checks one post and builds its parts."""

    def build(
        self,
        post: Post,
        file_defaults: Defaults | None,
        order: int,
        *,
        copy: str | None = None,
        copy_index: int = 0,
    ) -> CampaignPost | None:
        """The post as `copy` publishes it (a name from its `accounts:`), else as its account
        does, checked against the limits of that account's instance."""
        account = publishing_account(self, post, copy)
        self.ctx = dataclasses.replace(self.ctx, limits=self.ctx.limits_for(account))
        merged = _merge_defaults(file_defaults, self.ctx.defaults)
        schedule = staggered(self, post, self._schedule(post), copy_index)
        not_after = self._not_after(
            post.not_after if post.not_after is not None else merged.not_after
        )
        visibility = post.visibility or merged.visibility or None
        language = post.language if post.language is not None else merged.language
        if language is not None and language.lower() not in ISO_639_1:
            self.add(
                ("language",),
                f"{language!r} is not an ISO 639-1 language code",
                "use a two-letter code such as `en`, `de`, `fr`, `cy`",
            )
        cw = post.cw if post.cw is not None else merged.cw
        sensitive = post.sensitive if post.sensitive is not None else merged.sensitive
        tags = _unique([*post.hashtags, *merged.hashtags])
        first = self._part(
            0,
            (),
            post.text,
            tags,
            cw,
            sensitive,
            post.media,
            post.poll,
            visibility,
            language,
            tag_where=("hashtags",),
        )
        parts = [first]
        if len(post.thread) + 1 > self.ctx.limits.max_thread_length:
            self.add(
                ("thread",),
                f"the thread has {len(post.thread) + 1} parts; the limit is "
                f"{self.ctx.limits.max_thread_length}",
                "split it into two posts",
            )
        for i, reply in enumerate(post.thread, start=1):
            parts.append(self._reply(i, reply, cw, sensitive, visibility, language))

        def quote_part(quote: QuoteSpec, where: tuple[str | int, ...], by: str) -> Part | None:
            own = self.ctx
            self.ctx = dataclasses.replace(own, limits=own.limits_for(by))
            try:
                tags = _unique(list(quote.hashtags))
                return self._part(
                    0, where, quote.text, tags, None, None, [], None, visibility, language,
                    tag_where=(*where, "hashtags"),
                )  # fmt: skip
            finally:
                self.ctx = own

        # The boosts and quotes follow the first copy of a post published from several accounts.
        follows = follow_ups(self, post, account, quote_part) if copy_index == 0 else ()
        if self.problems and any(p.severity is Severity.ERROR for p in self.problems):
            return None
        line, _ = self.locate(self.prefix)
        built = CampaignPost(
            copy_id(post, account),
            self.display,
            line,
            order,
            schedule,
            not_after,
            tuple(p for p in parts if p is not None),
            repeat=post.repeat,
            account=account,
            follow_ups=follows,
        )
        return _with_hash(built)

    def _reply(
        self,
        i: int,
        reply: Reply,
        cw: str | None,
        sensitive: bool | None,
        visibility: str | None,
        language: str | None,
    ) -> Part | None:
        where: tuple[str | int, ...] = ("thread", i - 1)
        reply_cw = reply.cw if reply.cw is not None else cw
        reply_sensitive = reply.sensitive if reply.sensitive is not None else sensitive
        return self._part(
            i,
            where,
            reply.text,
            _unique(reply.hashtags),
            reply_cw or None,
            reply_sensitive,
            reply.media,
            reply.poll,
            visibility,
            language,
            tag_where=(*where, "hashtags"),
        )

    def _part(
        self,
        index: int,
        where: tuple[str | int, ...],
        text: str | None,
        tags: list[str],
        cw: str | None,
        sensitive: bool | None,
        media: Sequence[Media],
        poll: Poll | None,
        visibility: str | None,
        language: str | None,
        tag_where: tuple[str | int, ...],
    ) -> Part | None:
        limits = self.ctx.limits
        body = (text or "").strip()
        for j, tag in enumerate(tags):
            if not isinstance(tag, str) or not tag.strip():
                self.add(
                    (*tag_where, j),
                    "a hashtag is empty",
                    "in YAML `#` starts a comment: write the tag without `#`, "
                    "e.g. `- ClimateJustice`",
                )
            elif not _TAG_BODY.match(tag.lstrip("#＃")):
                self.add(
                    (*tag_where, j),
                    f"{tag!r} is not a hashtag Mastodon will recognise",
                    "use letters, digits and `_` only, with at least one letter "
                    "(`climate-justice` would tag only `climate`: write `ClimateJustice`)",
                )
        clean = tuple(t.lstrip("#＃") for t in tags if isinstance(t, str) and t.strip())
        final = append_hashtags(body, clean)
        files = tuple(check_media(self, where, media))
        spec = check_poll(self, where, poll) if poll is not None else None
        if not final and not media:
            self.add((*where, "text"), "the post has no text", "add `text:` (or media)")
        if len(media) > limits.max_media_attachments:
            self.add(
                (*where, "media"),
                f"{len(media)} media files; the instance allows {limits.max_media_attachments}",
                "move the rest into a thread reply",
            )
        if any(not f.mime_type.startswith("image/") for f in files) and len(files) > 1:
            self.add(
                (*where, "media"),
                "a video or audio file must be the only media of its post",
                "put it in a thread reply of its own",
            )
        if poll is not None and media and not limits.poll_with_media:
            self.add(
                (*where, "poll"),
                "this instance does not accept a poll and media on one post "
                "(Mastodon 4.6 and later do)",
                "move the poll or the media into a thread reply, or set "
                "`limits: {poll_with_media: true}` if the instance runs 4.6+",
            )
        count = self._check_length(where, final, cw)
        return Part(
            index,
            final,
            cw or None,
            bool(sensitive) or bool(cw),
            visibility,
            language.lower() if language else None,
            files,
            spec,
            count,
            clean,
        )

    def _check_length(self, where: tuple[str | int, ...], final: str, cw: str | None) -> int:
        """Count as the instance's server software does; near the limit of unknown software,
        warn, since it may count like the strictest known server."""
        limits = self.ctx.limits
        software = limits.software
        count = count_for_server(
            software,
            final,
            cw or "",
            characters_reserved_per_url=limits.characters_reserved_per_url,
        )
        # Takahē ignores the content warning; every other server counts it.
        cw_part = " (content warning included)" if cw and software != "takahe" else ""
        if count > limits.max_characters:
            if software in ("mastodon", "unknown"):
                how, links = "", f"each link counts {limits.characters_reserved_per_url}"
            else:
                how = f" as {_SOFTWARE_NAMES[software]} counts them"
                links = f"{_SOFTWARE_NAMES[software]} counts each link in full"
            self.add(
                (*where, "text"),
                f"{count} characters{cw_part}{how}; the limit is {limits.max_characters}",
                f"shorten it by {count - limits.max_characters} ({links}), "
                "or continue in a `thread:` reply",
            )
        elif software == "unknown":
            worst = strictest_count(final, cw or "")
            if worst > limits.max_characters:
                self.add(
                    (*where, "text"),
                    f"{count} characters as Mastodon counts them, but the instance's software "
                    f"is unknown and may count {worst} (links in full, every code point); the "
                    f"limit is {limits.max_characters}",
                    f"shorten it by {worst - limits.max_characters} to be safe, or continue in "
                    "a `thread:` reply",
                    warning=True,
                )
        return count

    def _schedule(self, post: Post) -> Schedule:
        zone = self.ctx.zone
        if post.at is not None and post.cron is not None:
            self.add(("cron",), "a post has either `at` or `cron`, not both", "remove one of them")
        if post.cron is None and (post.from_ is not None or post.until is not None):
            key = "from" if post.from_ is not None else "until"
            self.add(
                (key,), f"`{key}` only applies to a `cron` post", f"remove `{key}` or add `cron`"
            )
        schedule = Schedule()
        if post.at is not None:
            try:
                schedule = Schedule(at=parse_time(post.at, zone))
            except TimeSpecError as exc:
                self.add(("at",), exc.message, exc.hint)
        elif post.cron is not None:
            schedule = Schedule(
                cron=post.cron,
                start=self._bound(post.from_, "from"),
                until=self._bound(post.until, "until", end=True),
            )

            try:
                parse_cron(post.cron, zone)
            except RecurrenceError as exc:
                self.add(("cron",), str(exc), exc.hint)
        return schedule

    def _bound(self, value: str | None, key: str, *, end: bool = False) -> datetime | None:
        if value is None:
            return None
        text = str(value).strip()
        if regex.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            text += " 23:59:59" if end else " 00:00"
        try:
            return parse_time(text, self.ctx.zone)
        except TimeSpecError as exc:
            self.add((key,), exc.message, exc.hint)
            return None

    def _not_after(self, value: str | int | None) -> timedelta | datetime | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except TimeSpecError:
            pass
        try:
            return parse_time(value, self.ctx.zone)
        except TimeSpecError:
            self.add(
                ("not_after",),
                f"{value!r} is neither a duration nor a time",
                "write a duration like `2h` or a time like `2026-12-01 18:00`",
            )
            return None


def append_hashtags(text: str, tags: Sequence[str]) -> str:
    """Hashtags go on their own last line, leaving out tags the text already has (any case)."""
    present = {m.casefold() for m in _TAG_IN_TEXT.findall(text)}
    missing = [t for t in tags if t.casefold() not in present]
    if not missing:
        return text
    line = " ".join(f"#{t}" for t in missing)
    return f"{text}\n\n{line}" if text else line


def _merge_defaults(file_defaults: Defaults | None, config_defaults: Defaults) -> Defaults:
    if file_defaults is None:
        return config_defaults
    merged = {
        **config_defaults.model_dump(exclude_none=True),
        **file_defaults.model_dump(exclude_none=True),
    }
    merged["hashtags"] = _unique([*file_defaults.hashtags, *config_defaults.hashtags])
    return Defaults.model_validate(merged)


def _unique(tags: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for tag in tags:
        key = str(tag).lstrip("#＃").casefold() if tag is not None else ""
        if key and key in seen:
            continue
        seen.add(key)
        out.append(tag)
    return out


def _with_hash(post: CampaignPost) -> CampaignPost:
    payload = [
        {
            "text": p.text,
            "cw": p.spoiler_text,
            "sensitive": p.sensitive,
            "visibility": p.visibility,
            "language": p.language,
            "media": [[m.name, m.size, m.alt, m.focus] for m in p.media],
            "poll": [list(p.poll.options), p.poll.expires_in, p.poll.multiple, p.poll.hide_totals]
            if p.poll
            else None,
        }
        for p in post.parts
    ]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return dataclasses.replace(post, content_hash=digest)
