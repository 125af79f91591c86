"""Count a post's length exactly as Mastodon's server does before it accepts the post.

The server (``StatusLengthValidator``) counts the extended grapheme clusters of
``spoiler_text + countable_text(text)``, where every URL becomes a fixed-length placeholder and
``@user@domain`` becomes ``@user``. URLs and mentions are found with twitter-text's Ruby
extractor (gem 3.1.0) plus Mastodon's overrides in ``config/initializers/twitter_regex.rb`` and
``app/lib/extractor.rb``; the patterns below keep that structure so they match the same spans.
"""

from __future__ import annotations

import stringprep
from functools import cache
from importlib import resources
from typing import NamedTuple

import regex

__all__ = ["count_characters", "find_urls"]

URL_RESERVED_DEFAULT = 23
# twitter-text Extractor::MAX_URL_LENGTH and MAX_TCO_SLUG_LENGTH.
MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40
# Mastodon rejects a mention whose domain is longer than a DNS name can be.
MAX_MENTION_DOMAIN_LENGTH = 253

# Ruby's String#strip (Status#prepare_contents calls strip! on text and spoiler_text) removes
# only NUL and ASCII whitespace, so a leading no-break space still counts.
_RUBY_STRIP = "\x00\t\n\x0b\x0c\r "

# Character sets from twitter-text's regex.rb.
_DIRECTIONAL = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVALID = r"\ufffe\ufeff\uffff"
_UNICODE_SPACES = r"\t-\r\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_LATIN_ACCENTS = (
    r"\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    r"\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
# PUNCTUATION_CHARS is a single-quoted Ruby string, so its "\[", "\]" and "\`" are regex escapes
# and a backslash itself stays allowed in domains.
_PUNCTUATION = r"!\"#$%&'()*+,\-./:;<=>?@\[\]\^_`{|}~"
_DOMAIN_CHAR = rf"[^{_DIRECTIONAL}{_PUNCTUATION}\x00-\x20\x7f{_INVALID}{_UNICODE_SPACES}]"
_PRECEDING = rf"(?:[^A-Z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"
_SUBDOMAIN = rf"(?:(?:{_DOMAIN_CHAR}(?:[_-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_DOMAIN_NAME = rf"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_PUNYCODE = r"(?:xn--[0-9a-z]+)"

# Mastodon's overrides of the path rules: anything but whitespace, <, >, (, ) and ? inside a
# path, with a narrower set of characters allowed at its end.
_PATH_CHAR = r"[^\p{White_Space}<>()?]"


def _balanced_parens(c: str) -> str:
    """Parentheses around path characters `c`, nested at most one level deep."""
    return rf"\((?:{c}+|(?:{c}*\({c}+\){c}*))\)"


_PARENS = _balanced_parens(_PATH_CHAR)
# The override of the path-ending rule interpolates the balanced-parens pattern before Mastodon
# redefines it, so the ending alternative still uses twitter-text's stock path characters.
_STOCK_PATH_CHAR = rf"[a-z\p{{Script=Cyrillic}}0-9!*';:=+,.$/%#\[\]\p{{Pd}}_~&|@{_LATIN_ACCENTS}]"
_STOCK_PARENS = _balanced_parens(_STOCK_PATH_CHAR)
_PATH_END = rf"(?:[^\p{{White_Space}}()?!*\"'「」<>;:=,.$%\[\]~&|@]|{_STOCK_PARENS})"
_PATH = rf"(?:(?:{_PATH_CHAR}*(?:{_PARENS}{_PATH_CHAR}*)*{_PATH_END})|(?:{_PATH_CHAR}+/))"
_UCHARS = (
    r"\xa0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd"
    r"\U00030000-\U0003fffd\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd"
    r"\U00070000-\U0007fffd\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd"
    r"\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd\U000e1000-\U000efffd"
    r"\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)
_QUERY_CHAR = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{_UCHARS}]"
_QUERY_END = rf"[a-z0-9_&=#/\-{_UCHARS}]"
# Mastodon's scheme list. The scheme stays optional in the pattern, as on the server: a
# scheme-less match is still consumed by the scan (and then dropped), which can hide a later
# "https://" inside its path.
_SCHEME = r"(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://"

_SEPARATOR = r"[\t\n\x0b\x0c\r\x20\x85]"
_SEPARATOR_RE = regex.compile(_SEPARATOR)
_SEPARATOR_BEFORE_RE = regex.compile(_SEPARATOR, regex.REVERSE)
_TCO_RE = regex.compile(r"https?://t\.co/([a-z0-9]+)", regex.IGNORECASE)

# Account::MENTION_RE; [[:word:]] in Ruby is Letter, Mark, Decimal_Number, Connector_Punctuation.
_WORD_CHARS = r"\p{L}\p{M}\p{Nd}\p{Pc}"
_MENTION_RE = regex.compile(
    rf"(?<![=/{_WORD_CHARS}])@(?P<user>(?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*))"
    rf"(?:@(?P<domain>[{_WORD_CHARS}]+(?:[.-]+[{_WORD_CHARS}]+)*))?"
)
# twitter-text end_mention_match: a mention followed by one of these is not a mention.
_MENTION_END_RE = regex.compile(rf"[@＠]|[{_LATIN_ACCENTS}]|://", regex.IGNORECASE)

_GRAPHEME_RE = regex.compile(r"\X")
_BLANK_RE = regex.compile(r"\p{White_Space}*")


class _Entity(NamedTuple):
    start: int
    end: int
    keep_until: int  # for a mention, where "@user" ends; -1 for a URL


@cache
def _tlds() -> tuple[str, ...]:
    """twitter-text's TLD list, in the order the server tries it."""
    text = resources.files("bot").joinpath("data/tlds.txt").read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


@cache
def _url_re() -> regex.Pattern[str]:
    # One alternation in file order with one look-ahead behaves exactly like twitter-text's
    # (generic)(?=…)|(country)(?=…): the alternatives are tried in the same order.
    tld = "|".join(regex.escape(t) for t in _tlds())
    domain = rf"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:(?:(?:{tld})(?=[^0-9a-z@+\-]|$))|{_PUNYCODE}))"
    pattern = (
        rf"{_PRECEDING}"
        rf"(?P<url>(?P<scheme>{_SCHEME})?(?P<domain>{domain})(?::[0-9]+)?"
        rf"(?:/{_PATH}*)?(?:\?{_QUERY_CHAR}*{_QUERY_END})?)"
    )
    return regex.compile(pattern, regex.IGNORECASE | regex.MULTILINE)


def _domain_fits(url_length: int, domain: str) -> bool:
    """twitter-text is_valid_domain: IDNA ToASCII must succeed and the URL stay ≤ 4096 long."""
    if domain.isascii():
        # ToASCII leaves ASCII labels alone and only checks their length.
        return all(0 < len(label) < 64 for label in domain.split(".")) and (
            url_length <= MAX_URL_LENGTH
        )
    # The server calls libidn's toASCII without IDNA_ALLOW_UNASSIGNED, so code points unassigned
    # in Unicode 3.2 (most emoji) make the domain invalid; Python's codec does not check that.
    if any(stringprep.in_table_a1(c) for c in domain):
        return False
    try:
        encoded = domain.encode("idna")
    except UnicodeError:
        return False
    return url_length + max(len(encoded) - len(domain), 0) <= MAX_URL_LENGTH


def _url_entities(text: str) -> list[_Entity]:
    found = []
    url_re = _url_re()
    # Only a match with a scheme counts, so only runs of text around a "://" need scanning. No
    # part of a URL can hold ASCII whitespace or U+0085, so the server's scan always starts
    # afresh at such a character and a run can be scanned on its own, from the whitespace
    # before it (a valid preceding character) to the whitespace after it.
    scheme_at = text.find("://")
    while scheme_at != -1:
        before = _SEPARATOR_BEFORE_RE.search(text, 0, scheme_at)
        after = _SEPARATOR_RE.search(text, scheme_at)
        run_start = before.start() if before else 0
        run_end = after.start() if after else len(text)
        for match in url_re.finditer(text, run_start, run_end):
            if match["scheme"] is not None:  # extract_url_without_protocol: false
                entity = _checked_url(match)
                if entity is not None:
                    found.append(entity)
        scheme_at = text.find("://", run_end)
    return found


def _checked_url(match: regex.Match[str]) -> _Entity | None:
    """The URL entity for `match`, or None when twitter-text's extractor drops it."""
    start, end = match.span("url")
    url = match["url"]
    tco = _TCO_RE.match(url)
    if tco:
        if len(tco[1]) > MAX_TCO_SLUG_LENGTH:
            return None
        url = tco[0]
        end = start + len(url)
    if not _domain_fits(len(url), match["domain"]):
        return None
    return _Entity(start, end, -1)


def _mention_entities(text: str) -> list[_Entity]:
    if "@" not in text:
        return []
    found = []
    for match in _MENTION_RE.finditer(text):
        if _MENTION_END_RE.match(text, match.end()):
            continue
        domain = match["domain"]
        if domain is not None and len(domain) > MAX_MENTION_DOMAIN_LENGTH:
            continue
        # The server rewrites the mention to "@user", which is the text up to the user's end.
        found.append(_Entity(match.start(), match.end(), match.end("user")))
    return found


def _entities(text: str) -> list[_Entity]:
    """URLs and mentions as the server keeps them: sorted, and the earliest start wins."""
    candidates = sorted(_url_entities(text) + _mention_entities(text), key=lambda e: e.start)
    kept: list[_Entity] = []
    for entity in candidates:
        if not kept or kept[-1].end <= entity.start:
            kept.append(entity)
    return kept


def _countable_text(text: str, placeholder: str) -> str:
    if _BLANK_RE.fullmatch(text):
        return ""  # ActiveSupport's blank? is true for Unicode whitespace too
    entities = _entities(text)
    if not entities:
        return text
    parts: list[str] = []
    last = 0
    for entity in entities:
        parts.append(text[last : entity.start])
        if entity.keep_until < 0:
            parts.append(placeholder)
        else:
            parts.append(text[entity.start : entity.keep_until])
        last = entity.end
    parts.append(text[last:])
    return "".join(parts)


def _grapheme_count(text: str) -> int:
    if text.isascii():
        # In ASCII only CR LF forms a cluster of more than one code point (UAX #29 GB3).
        return len(text) - text.count("\r\n")
    return len(_GRAPHEME_RE.findall(text))


def find_urls(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans in `text` that the server counts as URLs."""
    return [(e.start, e.end) for e in _entities(text) if e.keep_until < 0]


def count_characters(
    text: str, spoiler_text: str = "", *, characters_reserved_per_url: int = URL_RESERVED_DEFAULT
) -> int:
    """Characters Mastodon counts for a status: grapheme clusters of spoiler_text + countable(text),
    both stripped of surrounding whitespace as the server does."""
    if characters_reserved_per_url < 0:
        raise ValueError("characters_reserved_per_url cannot be negative")
    placeholder = "x" * characters_reserved_per_url
    countable = _countable_text(text.strip(_RUBY_STRIP), placeholder)
    # Joined before counting, as the server does: a cluster can span the join.
    return _grapheme_count(spoiler_text.strip(_RUBY_STRIP) + countable)
