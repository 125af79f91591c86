"""Count a post's length exactly as Mastodon's server does before it accepts the post.

The server (``StatusLengthValidator``) counts the extended grapheme clusters of
``spoiler_text + countable_text(text)``, where every URL becomes a fixed-length placeholder and
``@user@domain`` becomes ``@user``. URLs and mentions are found with twitter-text's Ruby
extractor (gem 3.1.0) plus Mastodon's overrides in ``config/initializers/twitter_regex.rb`` and
``app/lib/extractor.rb``; the patterns below keep that structure so they match the same spans.
"""

from __future__ import annotations

import stringprep
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import NamedTuple, TypeAlias

import regex

__all__ = [
    "count_characters",
    "count_for_server",
    "find_bare_links",
    "find_mentions",
    "find_urls",
    "strictest_count",
]

URL_RESERVED_DEFAULT = 23
# twitter-text Extractor::MAX_URL_LENGTH and MAX_TCO_SLUG_LENGTH.
MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40
# Mastodon drops a mention whose domain is longer than a DNS name can be.
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
_PRECEDING = rf"(?:(?i:[^A-Z0-9@＠$#＃{_INVALID}])|[{_DIRECTIONAL}]|^)"
_SUBDOMAIN = rf"(?:(?:{_DOMAIN_CHAR}(?:[_-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_DOMAIN_NAME = rf"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_PUNYCODE = r"(?i:xn--[0-9a-z]+)"
_TLD_END = r"(?=(?i:[^0-9a-z@+\-])|$)"

# Mastodon's overrides of the path rules: anything but whitespace, <, >, (, ) and ? inside a
# path, with a narrower set of characters allowed at its end.
_PATH_CHAR = r"[^\p{White_Space}<>()?]"


def _balanced_parens(c: str) -> str:
    """Parentheses around path characters `c`, nested at most one level deep."""
    return rf"\((?:{c}+|(?:{c}*\({c}+\){c}*))\)"


_PARENS = _balanced_parens(_PATH_CHAR)
# The override of the path-ending rule interpolates the balanced-parens pattern before Mastodon
# redefines it, so the ending alternative still uses twitter-text's stock path characters.
_STOCK_PATH_CHAR = (
    rf"(?i:[a-z\p{{Script=Cyrillic}}0-9!*';:=+,.$/%#\[\]\p{{Pd}}_~&|@{_LATIN_ACCENTS}])"
)
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
_QUERY = rf"(?i:\?[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{_UCHARS}]*[a-z0-9_&=#/\-{_UCHARS}])"
# Mastodon's scheme list. The scheme stays optional in the pattern, as on the server: a
# scheme-less match is still consumed by the scan (and then dropped), which can hide a later
# "https://" inside its path.
_SCHEME = r"(?i:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://"

# No part of a URL can hold one of these, so the server's scan starts afresh at each of them.
_SEPARATOR = r"[\t\n\x0b\x0c\r\x20\x85]"
_SEPARATOR_RE = regex.compile(_SEPARATOR)
_SEPARATOR_BEFORE_RE = regex.compile(_SEPARATOR, regex.REVERSE)
_RUN_RE = regex.compile(r"[^\t\n\x0b\x0c\r\x20\x85]+")
_TCO_RE = regex.compile(r"https?://t\.co/([a-z0-9]+)", regex.IGNORECASE)

# Account::MENTION_RE; [[:word:]] in Ruby is Letter, Mark, Decimal_Number, Connector_Punctuation.
_WORD_CHARS = r"\p{L}\p{M}\p{Nd}\p{Pc}"
_MENTION_RE = regex.compile(
    rf"(?<![=/{_WORD_CHARS}])@(?P<user>(?i:[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*))"
    rf"(?:@(?P<domain>[{_WORD_CHARS}]+(?:[.-]+[{_WORD_CHARS}]+)*))?"
)
# twitter-text end_mention_match: a mention followed by one of these is not a mention.
_MENTION_END_RE = regex.compile(rf"[@＠]|[{_LATIN_ACCENTS}]|://", regex.IGNORECASE)

GRAPHEME_RE = regex.compile(r"\X")
# Every code point that can join a neighbour into one grapheme cluster (Extend, ZWJ,
# SpacingMark, Prepend, Hangul jamo, regional indicators) is U+0300 or above, so two adjacent
# code points below U+0300 always fall in different clusters, CR LF aside (UAX #29).
_JOINING_ZONE_RE = regex.compile(r"[^\x00-\u02ff]+(?:[\x00-\u02ff][^\x00-\u02ff]+)*")
_BLANK_RE = regex.compile(r"\p{White_Space}*")


_Trie: TypeAlias = "dict[str, _Trie]"


class _Entity(NamedTuple):
    start: int
    end: int
    keep_until: int  # for a mention, where "@user" ends; -1 for a URL


@cache
def _tlds() -> tuple[str, ...]:
    """twitter-text's TLD list, in the order the server tries it."""
    text = resources.files("bot.campaign").joinpath("data/tlds.txt").read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def _tld_alternation(tlds: Sequence[str]) -> str:
    """A pattern that picks, at any place, the same TLD as ``tld1|tld2|…`` tried in order.

    All TLDs that match at one place are prefixes of each other, and the look-ahead after them
    is the same, so the plain alternation picks the earliest-listed of them. When every TLD is
    listed before each shorter TLD that is its prefix (true of twitter-text's list), that is
    the longest, which a trie tried longest-first also picks, many times faster. Otherwise the
    plain alternation is used.
    """
    index = {tld: i for i, tld in enumerate(tlds)}
    longest_first = all(
        index[tld] < index.get(tld[:cut], len(tlds)) for tld in tlds for cut in range(1, len(tld))
    )
    if not longest_first:
        return "|".join(regex.escape(tld) for tld in tlds)
    trie: _Trie = {}
    for tld in tlds:
        node = trie
        for char in tld:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: _Trie) -> str:
        branches = [regex.escape(char) + emit(child) for char, child in node.items() if char]
        if not branches:
            return ""
        if len(branches) == 1 and "" not in node:
            return branches[0]
        body = f"(?:{'|'.join(branches)})"
        return body + "?" if "" in node else body

    return emit(trie)


@cache
def _url_re() -> regex.Pattern[str]:
    tld = rf"(?i:{_tld_alternation(_tlds())}){_TLD_END}"
    domain = rf"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:(?:{tld})|{_PUNYCODE}))"
    pattern = (
        rf"{_PRECEDING}"
        rf"(?P<url>(?P<scheme>{_SCHEME})?(?P<domain>{domain})(?::[0-9]+)?"
        rf"(?:/{_PATH}*)?{_QUERY}?)"
    )
    return regex.compile(pattern, regex.MULTILINE)


def _domain_fits(url_length: int, domain: str) -> bool:
    """twitter-text is_valid_domain: IDNA ToASCII must succeed and the URL stay ≤ 4096 long."""
    if domain.isascii():
        # ToASCII leaves ASCII labels alone and only checks their length.
        labels_fit = all(0 < len(label) < 64 for label in domain.split("."))
        return labels_fit and url_length <= MAX_URL_LENGTH
    # The server calls libidn's toASCII without IDNA_ALLOW_UNASSIGNED, so code points unassigned
    # in Unicode 3.2 (most emoji) make the domain invalid; Python's codec does not check that.
    if any(stringprep.in_table_a1(c) for c in domain):
        return False
    try:
        encoded = domain.encode("idna")
    except UnicodeError:
        return False
    return url_length + max(len(encoded) - len(domain), 0) <= MAX_URL_LENGTH


def _checked_url(match: regex.Match[str]) -> _Entity | None:
    """The URL entity for `match`, or None when twitter-text's extractor drops it."""
    if match["scheme"] is None:
        return None  # Mastodon extracts with extract_url_without_protocol: false
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


def _url_entities(text: str) -> list[_Entity]:
    # Only a match with a scheme counts, so only the runs of text around a "://" are scanned,
    # each from the separator before it (a valid preceding character) to the one after it:
    # that finds the same matches as the server's scan of the whole text.
    found = []
    url_re = _url_re()
    scheme_at = text.find("://")
    while scheme_at != -1:
        before = _SEPARATOR_BEFORE_RE.search(text, 0, scheme_at)
        after = _SEPARATOR_RE.search(text, scheme_at)
        run_start = before.start() if before else 0
        run_end = after.start() if after else len(text)
        for match in url_re.finditer(text, run_start, run_end):
            entity = _checked_url(match)
            if entity is not None:
                found.append(entity)
        scheme_at = text.find("://", run_end)
    return found


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
    count = len(text) - text.count("\r\n")
    if text.isascii():
        return count
    # Segment only the stretches that can hold multi-code-point clusters, with one code point
    # of context on each side; everywhere else each code point is a cluster of its own.
    for zone in _JOINING_ZONE_RE.finditer(text):
        start, end = zone.span()
        stretch = text[max(start - 1, 0) : end + 1]
        count -= len(stretch) - len(GRAPHEME_RE.findall(stretch))
    return count


def find_urls(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans in `text` that the server counts as URLs."""
    return [(e.start, e.end) for e in _entities(text) if e.keep_until < 0]


def find_mentions(text: str) -> list[str]:
    """The `@user` and `@user@domain` mentions the server finds in `text`."""
    return [text[e.start : e.end] for e in _mention_entities(text)]


def find_bare_links(text: str) -> list[str]:
    """Web addresses written without a scheme, which Mastodon shows as plain text.

    Only an address with a path (`example.org/petition`) or starting with `www.` is taken for a
    link: a bare domain such as `Mastodon.social` is as likely to be meant as a name.
    """
    found = []
    url_re = _url_re()
    # A link lies within one run of non-separator characters, and one worth reporting has a
    # "/", a ":" or "www." in it: only those runs are scanned, each from the separator before
    # it (a valid preceding character), which finds the same matches as a scan of the whole text.
    for run in _RUN_RE.finditer(text):
        chunk = run[0]
        if "/" not in chunk and ":" not in chunk and "www." not in chunk.lower():
            continue
        for match in url_re.finditer(text, max(run.start() - 1, 0), run.end()):
            if match["scheme"] is not None:
                continue
            url, domain = match["url"], match["domain"]
            rest = url[len(domain) :]
            with_path = rest.startswith(("/", ":")) and len(rest) > 1
            if (with_path or domain.lower().startswith("www.")) and _domain_fits(len(url), domain):
                found.append(url)
    return found


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


# How servers other than Mastodon count, read from their source:
# - Takahē (api/views/statuses.py, post_status): `len(details.status) > Config.system.post_length`
#   → "Status is too long". Python's len: code points of the text as sent, URLs in full, the
#   content warning not counted.
# - GoToSocial (internal/processing/status/common.go, validateStatusContent):
#   `len([]rune(status)) + len([]rune(spoiler))` → "text with spoiler exceed max chars": code
#   points of text and content warning, unstripped, URLs in full.
# - Pleroma and Akkoma (Pleroma.Web.CommonAPI.ActivityDraft.full_payload and
#   Utils.validate_character_limit): `String.length(String.trim(String.trim(status) <> summary))`
#   → "The status is over the character limit". Elixir's String.length counts grapheme clusters;
#   URLs in full; String.trim strips Unicode whitespace.
KNOWN_COUNTING = ("mastodon", "takahe", "gotosocial", "akkoma", "pleroma")


def _code_points(text: str) -> int:
    return len(text)


def count_for_server(
    software: str,
    text: str,
    spoiler_text: str = "",
    *,
    characters_reserved_per_url: int = URL_RESERVED_DEFAULT,
) -> int:
    """Characters the given server software counts for a status (Mastodon's rule if unknown)."""
    if software == "takahe":
        return _code_points(text)
    if software == "gotosocial":
        return _code_points(text) + _code_points(spoiler_text)
    if software in ("akkoma", "pleroma"):
        return _grapheme_count((text.strip() + spoiler_text).strip())
    return count_characters(
        text, spoiler_text, characters_reserved_per_url=characters_reserved_per_url
    )


def strictest_count(text: str, spoiler_text: str = "") -> int:
    """The highest count of any known server: what an unknown server might count at worst."""
    return max(count_for_server(s, text, spoiler_text) for s in KNOWN_COUNTING)
