"""A post's plain text as Mastodon shows it: paragraphs, line breaks, links, hashtags, mentions.

Campaign text is untrusted: every piece of it goes through `escape`, and only the markup made
here (paragraphs, `<br>`, `<a>`) is trusted. Links are found exactly where the server finds them
(`find_urls`), so a link without `https://` stays plain text here, as it will on Mastodon.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

import regex
from markupsafe import Markup

from bot.campaign.charcount import find_mentions, find_urls

# Mastodon's hashtag rule: a tag starts after whitespace or at the start of a line.
_TAG = regex.compile(r"(?:^|(?<=\s))[#＃]([\w\u00b7\u30fb\u200c]*\p{L}[\w\u00b7\u30fb\u200c]*)")
_PARAGRAPHS = regex.compile(r"\n[ \t]*\n\s*")
# How Mastodon shortens a link's visible text: no scheme, no "www.", at most 30 characters.
_SHOWN_URL_LENGTH = 30
_SCHEME = regex.compile(r"^[a-z]+://(www\.)?", regex.IGNORECASE)


def render_text(text: str, *, instance: str | None = None) -> Markup:
    """`text` as safe HTML: `<p>` per paragraph, `<br>` per line break, links and hashtags."""
    paragraphs = [p for p in _PARAGRAPHS.split(text.strip()) if p.strip()]
    html = "".join(f"<p>{_paragraph(p, instance)}</p>" for p in paragraphs)
    return Markup(html)  # noqa: S704 - every piece of campaign text in it went through _escape


def _escape(text: str) -> str:
    return escape(text, quote=True)


def _paragraph(text: str, instance: str | None) -> str:
    return "<br>".join(_inline(line, instance) for line in text.split("\n"))


def _inline(text: str, instance: str | None) -> str:
    pieces: list[str] = []
    last = 0
    for start, end in find_urls(text) if "://" in text else ():
        pieces.append(_tags(text[last:start], instance))
        pieces.append(_link(text[start:end]))
        last = end
    pieces.append(_tags(text[last:], instance))
    return "".join(pieces)


def _link(url: str) -> str:
    shown = _SCHEME.sub("", url)
    if len(shown) > _SHOWN_URL_LENGTH:
        shown = shown[:_SHOWN_URL_LENGTH] + "…"
    return f'<a href="{_escape(url)}" rel="nofollow noopener" class="link">{_escape(shown)}</a>'


def _tags(text: str, instance: str | None) -> str:
    """Hashtags and mentions in a stretch of text without links; the rest escaped."""
    if "#" not in text and "＃" not in text and "@" not in text:
        return _escape(text)
    found: list[tuple[int, int, str]] = [
        (m.start(), m.end(), hashtag(m[1], instance)) for m in _TAG.finditer(text)
    ]
    at = 0
    for name in find_mentions(text) if "@" in text else ():
        start = text.find(name, at)
        at = start + len(name)
        found.append((start, at, mention(name, instance)))
    pieces: list[str] = []
    last = 0
    for start, end, html in sorted(found):
        if start < last:
            continue
        pieces.append(_escape(text[last:start]))
        pieces.append(html)
        last = end
    pieces.append(_escape(text[last:]))
    return "".join(pieces)


def mention(name: str, instance: str | None) -> str:
    """`@user@server` linked to the account's page (`@user` on the instance itself)."""
    user, _, server = name[1:].partition("@")
    base = f"https://{server}" if server else instance
    if not base:
        return f'<span class="mention">{_escape(name)}</span>'
    href = _escape(f"{base}/@{quote(user, safe='')}")
    return f'<a href="{href}" class="mention" rel="nofollow noopener">{_escape(name)}</a>'


def hashtag(tag: str, instance: str | None) -> str:
    """`#tag` as HTML, linked to the instance's page of the tag when the instance is known."""
    if instance:
        href = _escape(f"{instance}/tags/{quote(tag, safe='')}")
        return f'<a href="{href}" class="hashtag" rel="nofollow noopener">#{_escape(tag)}</a>'
    return f'<span class="hashtag">#{_escape(tag)}</span>'
