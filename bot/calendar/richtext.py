"""A post's plain text as Mastodon shows it: paragraphs, line breaks, links and hashtags.

Campaign text is untrusted: every piece of it goes through `escape`, and only the markup made
here (paragraphs, `<br>`, `<a>`) is trusted. Links are found exactly where the server finds them
(`find_urls`), so a link without `https://` stays plain text here, as it will on Mastodon.
"""

from __future__ import annotations

from urllib.parse import quote

import regex
from markupsafe import Markup, escape

from bot.campaign.charcount import find_urls

# Mastodon's hashtag rule: a tag starts after whitespace or at the start of a line.
_TAG = regex.compile(r"(?:^|(?<=\s))[#＃]([\w\u00b7\u30fb\u200c]*\p{L}[\w\u00b7\u30fb\u200c]*)")
_PARAGRAPHS = regex.compile(r"\n[ \t]*\n\s*")
# How Mastodon shortens a link's visible text: no scheme, no "www.", at most 30 characters.
_SHOWN_URL_LENGTH = 30


def render_text(text: str, *, instance: str | None = None) -> Markup:
    """`text` as safe HTML: `<p>` per paragraph, `<br>` per line break, links and hashtags."""
    paragraphs = [p for p in _PARAGRAPHS.split(text.strip()) if p.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(_paragraph(p, instance)) for p in paragraphs)


def _paragraph(text: str, instance: str | None) -> Markup:
    lines = text.split("\n")
    return Markup("<br>").join(_inline(line, instance) for line in lines)


def _inline(text: str, instance: str | None) -> Markup:
    pieces: list[Markup] = []
    last = 0
    for start, end in find_urls(text):
        pieces.append(_tags(text[last:start], instance))
        pieces.append(_link(text[start:end]))
        last = end
    pieces.append(_tags(text[last:], instance))
    return Markup("").join(pieces)


def _link(url: str) -> Markup:
    shown = regex.sub(r"^[a-z]+://(www\.)?", "", url, flags=regex.IGNORECASE)
    if len(shown) > _SHOWN_URL_LENGTH:
        shown = shown[:_SHOWN_URL_LENGTH] + "…"
    return Markup('<a href="{}" rel="nofollow noopener" class="link">{}</a>').format(url, shown)


def _tags(text: str, instance: str | None) -> Markup:
    pieces: list[Markup] = []
    last = 0
    for match in _TAG.finditer(text):
        pieces.append(escape(text[last : match.start()]))
        pieces.append(hashtag(match[1], instance))
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


def hashtag(tag: str, instance: str | None) -> Markup:
    """`#tag`, linked to the instance's page of the tag when the instance is known."""
    if instance:
        href = f"{instance}/tags/{quote(tag, safe='')}"
        return Markup('<a href="{}" class="hashtag" rel="nofollow noopener">#{}</a>').format(
            href, tag
        )
    return Markup('<span class="hashtag">#{}</span>').format(tag)
