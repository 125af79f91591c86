"""The rules for a post's media and poll, against the instance's limits."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import filetype

from bot.campaign.charcount import GRAPHEME_RE
from bot.campaign.checking import Checker
from bot.campaign.schema import Media, Poll
from bot.core.posts import MediaFile, PollSpec
from bot.core.timespec import TimeSpecError, parse_duration


def check_media(
    checker: Checker, where: tuple[str | int, ...], media: Sequence[Media]
) -> list[MediaFile]:
    out = []
    limits = checker.ctx.limits
    for j, item in enumerate(media):
        here = (*where, "media", j)
        path = (checker.ctx.posts_dir / item.file).resolve()
        try:
            path.relative_to(checker.ctx.posts_dir)
        except ValueError:
            checker.add(
                (*here, "file"),
                f"{item.file!r} is outside the posts directory",
                "keep media files inside the posts folder and give the path from there",
            )
            continue
        sniffed = _sniff(checker, path)
        if isinstance(sniffed, OSError):
            checker.add(
                (*here, "file"),
                f"{item.file!r} cannot be read: {sniffed.strerror or 'not found'}",
                "check the file name and folder",
            )
            continue
        mime, size = sniffed
        if mime is None or mime not in limits.supported_mime_types:
            checker.add(
                (*here, "file"),
                f"{item.file!r} is "
                f"{'not a recognised media file' if mime is None else mime}, which the "
                "instance does not accept",
                "use JPEG, PNG, GIF, WebP, MP4 or another "
                "supported type (checked by content, not by name)",
            )
            continue
        cap = limits.image_size_limit if mime.startswith("image/") else limits.video_size_limit
        if size > cap:
            checker.add(
                (*here, "file"),
                f"{item.file!r} is {_size(size)}; the instance accepts at most "
                f"{_size(cap)} for {mime.split('/')[0]} files",
                "make the file smaller",
            )
        alt = (item.alt or "").strip()
        if not alt and checker.ctx.require_alt_text:
            checker.add(
                (*here, "alt"),
                "alt text is required",
                "describe the image for people who cannot see it (`alt: ...`)",
            )
        # Rails' length validation counts code points, not grapheme clusters.
        if len(alt) > limits.description_limit:
            checker.add(
                (*here, "alt"),
                f"alt text is {len(alt)} characters; the instance allows "
                f"{limits.description_limit}",
                "shorten the description",
            )
        if item.focus is not None and not all(-1.0 <= v <= 1.0 for v in item.focus):
            checker.add(
                (*here, "focus"),
                f"focus {list(item.focus)} is outside -1..1",
                "use two numbers from -1 to 1, e.g. `[0, 0.5]`",
            )
        out.append(MediaFile(path, item.file, mime, size, alt, item.focus))
    return out


def _sniff(checker: Checker, path: Path) -> tuple[str | None, int] | OSError:
    cache = checker.ctx.media_cache
    if path not in cache:
        try:
            size = os.stat(path).st_size
            with path.open("rb") as handle:
                head = handle.read(8192)
            cache[path] = (filetype.guess_mime(head), size)
        except OSError as exc:
            cache[path] = exc
    return cache[path]


def check_poll(checker: Checker, where: tuple[str | int, ...], poll: Poll) -> PollSpec | None:
    limits = checker.ctx.limits
    here = (*where, "poll")
    options = [o.strip() for o in poll.options]
    if not 2 <= len(options) <= limits.poll_max_options:
        checker.add(
            (*here, "options"),
            f"{len(options)} option{'' if len(options) == 1 else 's'}; a poll needs 2 to "
            f"{limits.poll_max_options}",
            "add or remove options",
        )
    seen: set[str] = set()
    for j, option in enumerate(options):
        graphemes = len(GRAPHEME_RE.findall(option))
        if not option:
            checker.add((*here, "options", j), "an option is empty", "write the option's text")
        elif graphemes > limits.poll_max_characters_per_option:
            checker.add(
                (*here, "options", j),
                f"option is {graphemes} characters; the limit is "
                f"{limits.poll_max_characters_per_option}",
                "shorten it",
            )
        if option in seen:
            checker.add(
                (*here, "options", j),
                f"option {option!r} appears twice",
                "make each option different",
            )
        seen.add(option)
    try:
        seconds = int(parse_duration(poll.expires_in).total_seconds())
    except TimeSpecError as exc:
        checker.add((*here, "expires_in"), exc.message, exc.hint)
        return None
    if not limits.poll_min_expiration <= seconds <= limits.poll_max_expiration:
        checker.add(
            (*here, "expires_in"),
            f"a poll must run between "
            f"{limits.poll_min_expiration // 60} minutes and "
            f"{limits.poll_max_expiration // 86400} days",
            "change `expires_in`",
        )
    return PollSpec(tuple(options), seconds, poll.multiple, poll.hide_totals)


def _size(size: int) -> str:
    """Exact bytes, so a file just over the limit never reads as equal to it."""
    return (
        f"{size:,} bytes ({size / 1024 / 1024:.1f} MiB)"
        if size >= 1024 * 1024
        else f"{size:,} bytes"
    )
