"""Writes the calendar as a static site: one `index.html` (its CSS and script inside it) and a
`media/` folder with a copy of each file the posts use. Nothing is fetched when the page is
viewed, so it works from `file://` and from any static host.

The page is made with Jinja2 with autoescaping on: campaign text is untrusted, and every value
from it reaches the HTML escaped.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from bot.calendar.model import CalendarPage, Sources, build_cards, lay_out
from bot.core.files import write_atomically
from bot.core.posts import MediaFile
from bot.core.words import counted

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class SiteOptions:
    zone: ZoneInfo
    start: datetime
    end: datetime
    generated: datetime
    max_characters: int
    limits_source: str
    instance: str | None = None
    account: str | None = None
    title: str = "Campaign calendar"
    notes: tuple[str, ...] = ()  # what `plan` also says, e.g. repeats cut short


@dataclass
class MediaCopier:
    """Copies each media file once into `out/media/`, under a name that cannot collide."""

    out: Path
    placed: dict[Path, str | None] = field(default_factory=dict)

    def __call__(self, media: MediaFile) -> str | None:
        if media.path in self.placed:
            return self.placed[media.path]
        digest = hashlib.sha256(str(media.path).encode()).hexdigest()[:12]
        name = f"{digest}-{_SAFE_NAME.sub('-', media.path.name)}"
        target = self.out / "media" / name
        src: str | None = f"media/{name}"
        try:
            stat = media.path.stat()
            if not target.exists() or target.stat().st_mtime_ns != stat.st_mtime_ns:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(media.path, target)
        except OSError:
            src = None
        self.placed[media.path] = src
        return src


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.calendar", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local
    env.filters["clock"] = lambda moment: moment.strftime("%H:%M")
    env.filters["short"] = lambda moment: f"{moment:%b} {moment.day}"
    env.filters["thousands"] = lambda n: f"{n:,}"
    env.filters["counted"] = counted
    return env


def _local(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %Y, %H:%M %Z}"


def _asset(name: str) -> str:
    return (resources.files("bot.calendar") / "static" / name).read_text(encoding="utf-8")


def render_page(page: CalendarPage, account: str | None = None) -> str:
    template = environment().get_template("index.html.j2")
    return template.render(
        page=page, account=account, css=_asset("calendar.css"), script=_asset("calendar.js")
    )


def build_page(sources: Sources, options: SiteOptions, copier: MediaCopier) -> CalendarPage:
    cards, apart = build_cards(
        sources,
        zone=options.zone,
        start=options.start,
        end=options.end,
        instance=options.instance,
        place=copier,
    )
    return lay_out(
        cards,
        apart,
        zone=options.zone,
        start=options.start,
        end=options.end,
        generated=options.generated,
        title=options.title,
        max_characters=options.max_characters,
        limits_source=options.limits_source,
        instance=options.instance,
        notes=list(options.notes),
    )


def write_site(sources: Sources, options: SiteOptions, out: Path) -> CalendarPage:
    """Write `out/index.html` and `out/media/`; the page is replaced in one step, so a reader
    (or `--serve`) never sees half of it."""
    out.mkdir(parents=True, exist_ok=True)
    page = build_page(sources, options, MediaCopier(out))
    html = render_page(page, options.account)
    write_atomically(out / "index.html", html, mode=0o644)
    return page
