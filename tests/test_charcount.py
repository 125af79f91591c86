"""Mastodon's server-side status length: URLs, mentions, graphemes, whitespace and CWs."""

from __future__ import annotations

import random
from importlib import resources

import pytest
import regex

from bot.campaign import charcount
from bot.campaign.charcount import count_characters, find_bare_links, find_mentions, find_urls

LONG_PATH = "x" * 45

SERVER_COUNTS = [
    # Counts that follow from Mastodon's StatusLengthValidator (the server, not the composer).
    pytest.param("⬇️", "", 1, id="emoji-with-variation-selector"),
    pytest.param("🤷‍♂️", "", 1, id="emoji-zwj-gender"),
    pytest.param("https://example.org/" + LONG_PATH, "", 23, id="long-url"),
    pytest.param("example.org/" + LONG_PATH, "", 57, id="long-url-without-scheme"),
    pytest.param("see https://example.org/x.", "", 28, id="trailing-period-outside-url"),
    pytest.param("http://localhost:3000/" + "p" * 20, "", 42, id="localhost-is-not-a-url"),
    pytest.param("@someone@mastodon.example.social hi", "", 11, id="remote-mention"),
    pytest.param("gemini://example.org/" + "g" * 37, "", 23, id="gemini-url"),
    # Schemes and domains.
    pytest.param("https://example.org", "", 23, id="bare-domain-url"),
    pytest.param("example.org", "", 11, id="domain-without-scheme"),
    pytest.param("www.example.org", "", 15, id="www-without-scheme"),
    pytest.param("HTTPS://EXAMPLE.ORG/X", "", 23, id="upper-case-url"),
    pytest.param("ftp://example.org/file", "", 22, id="ftp-not-a-counted-scheme"),
    pytest.param("dat://example.org/x https://example.рф/", "", 47, id="dat-and-idn-tld"),
    pytest.param("https://my.server.lan/path", "", 26, id="unknown-tld"),
    pytest.param("https://192.168.1.1/admin", "", 25, id="ip-address"),
    pytest.param("https://example.org:8443/x", "", 23, id="port"),
    pytest.param("https://bücher.de/x", "", 23, id="idn-domain"),
    pytest.param("https://example.xn--p1ai/", "", 23, id="punycode-tld"),
    pytest.param("https://🍕.ws/x", "", 14, id="domain-fails-idna-unassigned-in-3.2"),
    pytest.param("https://" + "a" * 63 + ".com", "", 23, id="63-char-label"),
    pytest.param("https://" + "a" * 64 + ".com", "", 76, id="64-char-label-fails-idna"),
    pytest.param("https://" + "ü" * 60 + ".de/x", "", 73, id="idn-label-over-63-in-punycode"),
    pytest.param("https://example.org/" + "a" * 4076, "", 23, id="url-of-4096"),
    pytest.param("https://example.org/" + "a" * 4077, "", 4097, id="url-of-4097"),
    # An IDN domain counts toward the 4096 at its punycode length (bücher.de is 7 longer) ...
    pytest.param("https://bücher.de/" + "a" * 4071, "", 23, id="idn-url-of-4096-in-punycode"),
    pytest.param("https://bücher.de/" + "a" * 4072, "", 4090, id="idn-url-of-4097-in-punycode"),
    # ... but never shorter: full-width letters map to ASCII without growing.
    pytest.param("https://ｅｘａｍｐｌｅ.com/" + "a" * 4076, "", 23, id="full-width-url-of-4096"),
    pytest.param("https://t.co/abc123", "", 23, id="tco"),
    pytest.param("https://t.co/" + "a" * 40, "", 23, id="tco-slug-of-40"),
    pytest.param("https://t.co/" + "a" * 41, "", 54, id="tco-slug-too-long"),
    # What may precede a URL.
    pytest.param("foohttps://example.org", "", 22, id="letters-before-scheme"),
    pytest.param("#https://example.org", "", 20, id="url-after-hash"),
    pytest.param("@https://example.org", "", 20, id="url-after-at"),
    pytest.param("$https://example.org", "", 20, id="url-after-dollar"),
    pytest.param("(https://example.org/x)", "", 25, id="url-in-parentheses"),
    pytest.param("example.com/https://example.org", "", 31, id="url-inside-schemeless-path"),
    pytest.param("see example.com https://example.org", "", 39, id="schemeless-then-url"),
    # Paths and queries.
    pytest.param("https://en.wikipedia.org/wiki/Primer_(film)", "", 23, id="wikipedia-parens"),
    pytest.param(
        "Read https://en.wikipedia.org/wiki/Primer_(film).", "", 29, id="wikipedia-parens-period"
    ),
    pytest.param(
        "https://ru.wikipedia.org/wiki/Москва_(значения)", "", 23, id="cyrillic-final-parens"
    ),
    pytest.param("https://ja.wikipedia.org/wiki/東京_(駅)", "", 26, id="cjk-final-parens-left-out"),
    pytest.param("https://example.org/wow!", "", 24, id="path-ending-exclamation"),
    pytest.param("https://example.org/x;", "", 24, id="path-ending-semicolon"),
    pytest.param("https://example.org/@", "", 24, id="path-ending-at-sign"),
    pytest.param("https://example.org/@alice", "", 23, id="profile-url"),
    pytest.param("https://example.org/🎉", "", 23, id="emoji-in-path"),
    pytest.param("https://example.org/search?q=climate?", "", 24, id="query-ending-question"),
    pytest.param(
        "Join us: https://example.org/join?ref=mastodon!", "", 33, id="query-ending-exclamation"
    ),
    pytest.param("https://example.org/path?", "", 24, id="empty-query"),
    pytest.param("https://example.org/?q=日本", "", 23, id="non-ascii-query"),
    pytest.param("詳しくはhttps://example.jp/をご覧ください", "", 27, id="path-runs-into-cjk"),
    pytest.param("https://example.org/1 https://example.net/2", "", 47, id="two-urls-one-space"),
    # Mentions, e-mail addresses and hashtags.
    pytest.param("@alice hello", "", 12, id="local-mention"),
    pytest.param("@alice@example.social hello", "", 12, id="remote-mention-domain-free"),
    pytest.param("@Alice@Example.Social hi", "", 9, id="mention-case"),
    pytest.param("@first.last@host.example hi", "", 14, id="dotted-username"),
    pytest.param("@bob@bücher.example hi", "", 7, id="idn-mention-domain"),
    pytest.param("@bob@" + "a" * 253, "", 4, id="mention-domain-253"),
    pytest.param("@bob@" + "a" * 254, "", 259, id="mention-domain-254"),
    pytest.param("@alice@example.com@x", "", 20, id="mention-followed-by-at"),
    pytest.param("@bob@example.social://x", "", 23, id="mention-followed-by-scheme-sep"),
    pytest.param(
        "@alice@example.com@x @carol@example.social hi",
        "",
        20 + 7 + 3,
        id="after-a-refused-mention",
    ),
    pytest.param(
        "@bob@" + "a" * 254 + " @carol@example.social hi",
        "",
        259 + 7 + 3,
        id="after-a-too-long-domain",
    ),
    pytest.param("a=@bob@example.com", "", 18, id="mention-after-equals"),
    pytest.param("mail me at alice@example.org", "", 28, id="email-address"),
    pytest.param("https://example.org/x,@alice@example.com", "", 23, id="mention-inside-url"),
    pytest.param("#climate #2024", "", 14, id="hashtags"),
    pytest.param("#climate-justice", "", 16, id="hashtag-with-dash"),
    # Grapheme clusters.
    pytest.param("👨‍👩‍👧‍👦", "", 1, id="zwj-family"),
    pytest.param("🇩🇪🇫🇷", "", 2, id="two-flags"),
    pytest.param("👍🏽", "", 1, id="skin-tone"),
    pytest.param("e\u0301", "", 1, id="combining-mark"),
    pytest.param("日本語のテキスト", "", 8, id="cjk"),
    pytest.param("a\r\nb", "", 3, id="crlf-is-one"),
    # Whitespace.
    pytest.param("  hello  \n", "", 5, id="surrounding-whitespace"),
    pytest.param("\u00a0hello", "", 6, id="no-break-space-not-stripped"),
    pytest.param("\u3000", "", 0, id="unicode-blank-text"),
    # Content warnings.
    pytest.param("hello", "CW: politics", 17, id="cw-counted"),
    pytest.param("hello", "  CW  ", 7, id="cw-stripped"),
    pytest.param("hello", "\u00a0CW", 8, id="no-break-space-in-cw-not-stripped"),
    pytest.param("", "CW", 2, id="cw-only"),
    pytest.param("\u3000", "CW", 2, id="cw-with-blank-text"),
    pytest.param("https://example.org/x", "CW", 25, id="cw-and-url"),
    pytest.param("hi", "https://example.org", 21, id="url-in-cw-counts-in-full"),
    pytest.param("hi", "@alice@example.social", 23, id="mention-in-cw-counts-in-full"),
    pytest.param("🇪", "🇩", 1, id="cluster-across-cw-and-text"),
]


@pytest.mark.parametrize(("text", "spoiler", "expected"), SERVER_COUNTS)
def test_counts_like_the_server(text: str, spoiler: str, expected: int) -> None:
    """Each text counts exactly what Mastodon's StatusLengthValidator counts."""
    assert count_characters(text, spoiler) == expected


@pytest.mark.parametrize(
    ("reserved", "expected"),
    [(23, 4 + 23 + 3 + 23), (25, 4 + 25 + 3 + 25), (0, 4 + 0 + 3 + 0)],
)
def test_url_placeholder_length_follows_the_server(reserved: int, expected: int) -> None:
    """Every URL counts characters_reserved_per_url (25 on GoToSocial)."""
    text = "see https://example.org/x & https://example.net"
    assert count_characters(text, characters_reserved_per_url=reserved) == expected


def test_negative_url_reservation_is_refused() -> None:
    """A negative characters_reserved_per_url is a caller error."""
    with pytest.raises(ValueError, match=r"^characters_reserved_per_url cannot be negative$"):
        count_characters("x", characters_reserved_per_url=-1)


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("see https://example.org/x.", [(4, 25)]),
        ("https://example.org/1 and https://example.net", [(0, 21), (26, 45)]),
        ("  https://example.org  ", [(2, 21)]),
        ("https://example.org/x,@alice@example.com", [(0, 40)]),
        ("example.org and http://localhost:3000/x", []),
        ("@alice@example.social", []),
    ],
)
def test_find_urls_returns_counted_spans(text: str, spans: list[tuple[int, int]]) -> None:
    """find_urls gives the spans of the text as passed that the server counts as URLs."""
    assert find_urls(text) == spans


def test_tld_list_file_is_clean() -> None:
    """bot/campaign/data/tlds.txt names its source and holds unique lower-case TLDs."""
    lines = (
        resources.files("bot.campaign").joinpath("data/tlds.txt").read_text("utf-8").splitlines()
    )
    assert lines[0].startswith("#")
    assert "twitter-text" in lines[0]
    assert "3.1.0" in lines[0]
    tlds = charcount._tlds()
    assert len(tlds) == len(set(tlds)) == len(lines) - 1
    assert all(tld == tld.lower() and tld.strip() == tld for tld in tlds)
    assert {"com", "org", "social", "onion", "рф", "みんな"} <= set(tlds)
    assert not {"localhost", "lan", "local", "invalid"} & set(tlds)


def _seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test inputs, not secrets


def _random_text(rng: random.Random, pieces: list[str], most: int) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, most)))


def test_tld_trie_picks_what_the_listed_alternation_picks() -> None:
    """The fast TLD pattern matches the same TLD as twitter-text's ordered alternation."""
    tlds = charcount._tlds()
    end = charcount._TLD_END
    plain = regex.compile(rf"(?i:{'|'.join(regex.escape(t) for t in tlds)}){end}", regex.M)
    fast = regex.compile(rf"(?i:{charcount._tld_alternation(tlds)}){end}", regex.M)
    assert plain.pattern != fast.pattern
    rng = _seeded(20260501)
    pieces = [
        *tlds[::7],
        "भारतम्",
        "भारत",
        "嘉里大酒店",
        "嘉里",
        "म",
        "/",
        "-",
        "@",
        "COM",
        " ",
        ".",
    ]
    for _ in range(3000):
        text = _random_text(rng, pieces, 4)
        for pos in range(len(text)):
            a, b = plain.match(text, pos), fast.match(text, pos)
            assert (a and a.span()) == (b and b.span()), (text, pos)


def test_tld_alternation_keeps_list_order_when_shorter_comes_first() -> None:
    """A list with a TLD before a longer one it prefixes keeps the plain ordered alternation."""
    assert charcount._tld_alternation(["ab", "a", "abc"]) == "ab|a|abc"
    assert charcount._tld_alternation(["a", "ab"]) == "a|ab"
    assert charcount._tld_alternation(["abc", "ab", "a"]) == "a(?:b(?:c)?)?"


def test_scanning_runs_finds_what_a_whole_text_scan_finds() -> None:
    """Scanning only the runs around "://" finds the URLs a scan of the whole text finds."""
    url_re = charcount._url_re()
    rng = _seeded(7)
    pieces = [
        *"ab.:/ -_?()!@#x",
        *("https://", "gemini://", "example", ".org", ".рф", "(x)", "?q=", "t.co/"),
        *("\n", "\t", "\x85", "\u3000", "\u00a0", "日本", "é"),
    ]
    for _ in range(5000):
        text = _random_text(rng, pieces, 25)
        whole = [charcount._checked_url(m) for m in url_re.finditer(text)]
        expected = [(e.start, e.end) for e in whole if e is not None]
        assert [(e.start, e.end) for e in charcount._url_entities(text)] == expected, text


def test_grapheme_count_matches_full_segmentation() -> None:
    """Counting clusters only near code points from U+0300 up agrees with full UAX #29."""
    rng = _seeded(11)
    pieces = [
        *("a", " ", "\r", "\n", "\r\n", "é", "\u0301", "\u200d", "\ufe0f", "©", "\u00ad"),
        *("😀", "👍", "🏽", "🇩", "🇪", "क", "्", "ष", "\u0600", "\u1100", "\u1161", "가", "日"),
    ]
    for _ in range(5000):
        text = _random_text(rng, pieces, 12)
        assert charcount._grapheme_count(text) == len(regex.findall(r"\X", text)), text


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("sign at example.org/petition today", ["example.org/petition"]),
        ("www.example.org", ["www.example.org"]),
        ("WWW.Example.org", ["WWW.Example.org"]),
        ("example.org:8080/x", ["example.org:8080/x"]),
        ("example.org:8080", ["example.org:8080"]),
        ("<https://example.org/a>,<example.net/b>", ["example.net/b"]),
        ("see example.org/a and www.b.net.", ["example.org/a", "www.b.net"]),
        ("Mastodon.social is nice", []),
        ("example.org/ x", []),
        ("example.org:", []),
        ("https://example.org/x", []),
        ("a" * 64 + ".com/x", []),
        ("x@example.org/path", []),
    ],
)
def test_bare_links_are_addresses_with_a_path_or_www(text: str, links: list[str]) -> None:
    """An address without a scheme counts as a link only with a path or `www.`, and only if its
    domain is one the server would accept; one with a scheme is not bare."""
    assert find_bare_links(text) == links


def test_find_mentions_gives_local_and_remote_mentions_as_written() -> None:
    """Mentions come back as written, with their domain; an e-mail address is not one."""
    assert find_mentions("@alice@example.social and @bob, mail carol@example.org") == [
        "@alice@example.social",
        "@bob",
    ]
