"""Every validation rule of campaign files, as tables of bad files and the exact problems found."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import DEFAULT_CONFIG, REPO, MakeCampaign

from bot.campaign.loading import Campaign, load_campaign
from bot.campaign.rules import append_hashtags
from bot.cli.main import main
from bot.config.instance_limits import learn_limits
from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.core.limits import InstanceLimits
from bot.core.problems import Severity
from bot.core.states import State

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(100)
SMALL_LIMITS = (
    DEFAULT_CONFIG
    + """\
limits:
  image_size_limit: 1000
  description_limit: 20
  max_media_attachments: 2
  max_thread_length: 3
"""
)


def check(
    make_campaign: MakeCampaign,
    clock: FakeClock,
    posts: Mapping[str, str | bytes],
    *,
    config: str = DEFAULT_CONFIG,
    media: Mapping[str, bytes] | None = None,
    published: Mapping[str, str] | None = None,
) -> Campaign:
    """Write the campaign and load it the way `validate` does, offline."""
    files = make_campaign(posts, config=config, media=media)
    settings = load_settings(files.config, env={})
    limits = learn_limits(settings, clock, None).limits
    return load_campaign(settings, limits, published=published or {}, now=clock.now())


def rendered(campaign: Campaign) -> list[str]:
    return [p.render() for p in campaign.problems]


# --- the file as a whole ------------------------------------------------------------------------

LAUGHS = (
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
    )
    + "posts: []\n"
)

FILE_CASES = [
    pytest.param(
        "posts:\n\t- id: x\n",
        "posts/a.yaml:2:1: error: a tab is used for indentation — YAML needs spaces; replace the "
        "tab with spaces",
        id="tab",
    ),
    pytest.param(
        "posts:\n  - id: cafe\n    text: caf\xe9\n".encode("latin-1"),
        "posts/a.yaml:3:14: error: the file is not UTF-8 — save it as UTF-8",
        id="not-utf8",
    ),
    pytest.param(
        """\
        posts:
          - id: twice
            at: 2026-12-01 09:30
            text: one
            text: two
        """,
        "posts/a.yaml:5:5: error: posts[0]: duplicate key 'text' (first at line 4) — keep one of "
        "them",
        id="duplicate-key",
    ),
    pytest.param(
        "posts:\n  - id: x\n    text: !!python/object/apply:os.system [ls]\n",
        "posts/a.yaml:3:11: error: posts[0].text: tags are not allowed "
        "(!!python/object/apply:os.system) — remove !!python/object/apply:os.system; write the "
        "value as plain text",
        id="python-tag",
    ),
    pytest.param(
        "posts:\n  - !!python/object:subprocess.Popen\n    id: x\n",
        "posts/a.yaml:2:5: error: posts[0]: tags are not allowed (!!python/object:subprocess.Popen)"
        " — remove !!python/object:subprocess.Popen; write the value as plain text",
        id="python-object-tag",
    ),
    pytest.param(
        "",
        "posts/a.yaml: warning: the file is empty — add a `posts:` list, or delete the file",
        id="empty-file",
    ),
    pytest.param(
        "# nothing here yet\n",
        "posts/a.yaml: warning: the file is empty — add a `posts:` list, or delete the file",
        id="only-a-comment",
    ),
    pytest.param(
        "posts: []\n",
        "posts/a.yaml:1:1: warning: posts: the `posts:` list is empty — add posts, or delete the "
        "file",
        id="empty-posts",
    ),
    pytest.param(
        "# to do\nposts:\n",
        "posts/a.yaml:2:1: warning: posts: the `posts:` list is empty — add posts, or delete the "
        "file",
        id="posts-with-nothing-under-it",
    ),
    pytest.param(
        "- id: x\n  text: a list, not a mapping\n",
        "posts/a.yaml:1:1: error: a post file must be a mapping with a `posts:` list — start the "
        "file with `posts:` and list the posts under it",
        id="file-is-a-list",
    ),
    pytest.param(
        "defaults:\n  language: en\n",
        "posts/a.yaml:1:1: error: posts: required but missing — The posts of this file.",
        id="no-posts-key",
    ),
    pytest.param(
        "posts:\n  - just some words\n",
        "posts/a.yaml:2:5: error: posts[0]: each post must be a mapping of keys like `id:` and "
        "`text:` — start the post with `- id: ...`",
        id="post-is-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("body", "expected"), FILE_CASES)
def test_file_problems(
    make_campaign: MakeCampaign, clock: FakeClock, body: str | bytes, expected: str
) -> None:
    """A file that cannot hold posts gets one problem at its exact place, and no posts."""
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert rendered(campaign) == [expected]
    assert campaign.posts == []


def test_empty_file_is_only_a_warning(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """An empty file is reported as a warning, not an error."""
    campaign = check(make_campaign, clock, {"a.yaml": ""})
    assert [p.severity for p in campaign.problems] == [Severity.WARNING]
    assert campaign.errors == []


def test_billion_laughs_is_refused(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """Nine levels of ten-fold aliases (a billion values) stop early instead of filling memory."""
    campaign = check(make_campaign, clock, {"a.yaml": LAUGHS})
    (problem,) = campaign.problems
    assert (problem.file, problem.severity) == ("posts/a.yaml", Severity.ERROR)
    assert problem.message == "too many aliases (billion laughs?)"
    assert problem.hint == (
        "aliases may expand to at most 1,000,000 values; write the values out or use fewer "
        "nested aliases"
    )
    assert campaign.posts == []


# --- one post at a time -------------------------------------------------------------------------

POST_CASES = [
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            hashtag: [Libraries]
            text: hi
        """,
        [
            "posts/a.yaml:4:5: error: posts[0].hashtag: unknown key 'hashtag' — did you mean "
            "`hashtags`?"
        ],
        id="hashtag-for-hashtags",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            visiblity: public
            text: hi
        """,
        [
            "posts/a.yaml:4:5: error: posts[0].visiblity: unknown key 'visiblity' — did you mean "
            "`visibility`?"
        ],
        id="visiblity-typo",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            alt_text: a shelf of books
        """,
        [
            "posts/a.yaml:5:5: error: posts[0].alt_text: unknown key 'alt_text' — did you mean "
            "`alt`? It belongs to each entry of `media:`"
        ],
        id="alt-text-on-the-post",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            media:
              - file: media/a.png
                alt_text: a shelf of books
        """,
        [
            "posts/a.yaml:7:9: error: posts[0].media[0].alt_text: unknown key 'alt_text' — did "
            "you mean `alt`?"
        ],
        id="alt-text-on-the-media",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            spoiler_text: politics
            text: hi
        """,
        [
            "posts/a.yaml:4:5: error: posts[0].spoiler_text: unknown key 'spoiler_text' — did you "
            "mean `cw`?"
        ],
        id="mastodon-api-name",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            not_after: 1.5
            text: hi
        """,
        [
            "posts/a.yaml:4:16: error: posts[0].not_after: expected text, got 1.5 — Latest it may "
            "go out if the bot was down: a time, or a duration after the planned time. Default: "
            "the config's `catch_up`."
        ],
        id="one-problem-for-a-value-of-a-union",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            colour: red
        """,
        [
            "posts/a.yaml:5:5: error: posts[0].colour: unknown key 'colour' — known keys here: "
            "account, accounts, at, boost, cron, cw, from, hashtags, id, language, media, "
            "not_after, poll, quote, repeat, sensitive, stagger, text, thread, until, visibility"
        ],
        id="unknown-key-lists-the-known-ones",
    ),
    pytest.param(
        """\
        posts:
          - at: 2026-12-01 09:30
            text: hi
        """,
        [
            "posts/a.yaml:2:5: error: posts[0].id: required but missing — Unique name of the "
            "post (lower-case letters, digits, `-`, `_`, `.`). It is how the bot knows a post was "
            "already published: do not change it once published."
        ],
        id="missing-id",
    ),
    pytest.param(
        """\
        posts:
          - id: Petition Launch
            at: 2026-12-01 09:30
            text: hi
        """,
        [
            "posts/a.yaml:2:9: error: posts[0].id: 'Petition Launch' is not a valid id — use "
            "lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit"
        ],
        id="bad-id",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            cron: "30 9 * * mon"
            text: hi
        """,
        [
            "posts/a.yaml:4:11: error: posts[0].cron: a post has either `at` or `cron`, not both "
            "— remove one of them"
        ],
        id="at-and-cron",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            from: 2026-12-01
            text: hi
        """,
        [
            "posts/a.yaml:4:11: error: posts[0].from: `from` only applies to a `cron` post — "
            "remove `from` or add `cron`"
        ],
        id="from-without-cron",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            until: 2026-12-24
            text: hi
        """,
        [
            "posts/a.yaml:3:12: error: posts[0].until: `until` only applies to a `cron` post — "
            "remove `until` or add `cron`"
        ],
        id="until-without-cron",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            cron: "61 9 * * *"
            text: hi
        """,
        [
            "posts/a.yaml:3:11: error: posts[0].cron: '61 9 * * *' is not a valid cron "
            "expression: Error validating expression '61': the last value (61) is higher than the "
            "maximum value (59) — use five fields: minute hour day-of-month month day-of-week, "
            "e.g. `30 9 * * mon-fri`"
        ],
        id="cron-out-of-range",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            cron: "30 9 * *"
            text: hi
        """,
        [
            "posts/a.yaml:3:11: error: posts[0].cron: '30 9 * *' has 4 fields, not 5 — use five "
            "fields: minute hour day-of-month month day-of-week, e.g. `30 9 * * mon-fri`"
        ],
        id="cron-four-fields",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2027-03-28 01:30
            text: hi
        """,
        [
            "posts/a.yaml:3:9: error: posts[0].at: 2027-03-28 01:30 does not exist in "
            "Europe/London: the clocks jump forward that day (offset changes from +0000 to +0100) "
            "— pick a time outside the daylight-saving gap"
        ],
        id="at-in-dst-gap",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-10-25 01:30
            text: hi
        """,
        [
            "posts/a.yaml:3:9: error: posts[0].at: 2026-10-25 01:30 happens twice in "
            "Europe/London: the clocks go back that day — add the offset you mean, e.g. "
            "`2026-10-25T01:30+01:00` or `2026-10-25T01:30+00:00`"
        ],
        id="at-in-dst-overlap",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-02-30 09:30
            text: hi
        """,
        [
            "posts/a.yaml:3:9: error: posts[0].at: '2026-02-30 09:30' is not a date and time: "
            "day is out of range for month — write it as `2026-12-01 09:30` (campaign time zone) "
            "or `2026-12-01T09:30:00+01:00`"
        ],
        id="at-no-such-day",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: next tuesday
            text: hi
        """,
        [
            "posts/a.yaml:3:9: error: posts[0].at: 'next tuesday' is not a date and time — write "
            "it as `2026-12-01 09:30` (campaign time zone) or `2026-12-01T09:30:00+01:00`"
        ],
        id="at-not-a-time",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            not_after: soon
            text: hi
        """,
        [
            "posts/a.yaml:4:16: error: posts[0].not_after: 'soon' is neither a duration nor a "
            "time — write a duration like `2h` or a time like `2026-12-01 18:00`"
        ],
        id="bad-not-after",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            poll:
              options: [yes, no]
              expires_in: 3 days
        """,
        [
            "posts/a.yaml:7:19: error: posts[0].poll.expires_in: '3 days' is not a duration — "
            "write it like `30m`, `2h`, `1d`, `1w` or `1h30m`"
        ],
        id="bad-duration",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            visibility: friends
        """,
        [
            "posts/a.yaml:5:17: error: posts[0].visibility: 'friends' is not allowed — use one of "
            "'public', 'unlisted', 'private' or 'direct'"
        ],
        id="bad-visibility",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            language: english
        """,
        [
            "posts/a.yaml:5:15: error: posts[0].language: 'english' is not an ISO 639-1 language "
            "code — use a two-letter code such as `en`, `de`, `fr`, `cy`"
        ],
        id="bad-language",
    ),
    pytest.param(
        f"""\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: {"x" * 501}
        """,
        [
            "posts/a.yaml:4:11: error: posts[0].text: 501 characters; the limit is 500 — shorten "
            "it by 1 (each link counts 23), or continue in a `thread:` reply"
        ],
        id="text-too-long",
    ),
    pytest.param(
        f"""\
        posts:
          - id: p
            at: 2026-12-01 09:30
            cw: spoilers
            text: {"x" * 493}
        """,
        [
            "posts/a.yaml:5:11: error: posts[0].text: 501 characters (content warning included); "
            "the limit is 500 — shorten it by 1 (each link counts 23), or continue in a `thread:` "
            "reply"
        ],
        id="content-warning-counts",
    ),
    pytest.param(
        f"""\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: {"x" * 477} https://petition.example.org/{"long-path/" * 20}
        """,
        [
            "posts/a.yaml:4:11: error: posts[0].text: 501 characters; the limit is 500 — shorten "
            "it by 1 (each link counts 23), or continue in a `thread:` reply"
        ],
        id="url-counts-23",
    ),
    pytest.param(
        f"""\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: {"x" * 491}
            hashtags: [Libraries]
        """,
        [
            "posts/a.yaml:4:11: error: posts[0].text: 503 characters; the limit is 500 — shorten "
            "it by 3 (each link counts 23), or continue in a `thread:` reply"
        ],
        id="appended-hashtags-count",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
        """,
        ["posts/a.yaml:2:5: error: posts[0].text: the post has no text — add `text:` (or media)"],
        id="no-text-no-media",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: "   "
        """,
        ["posts/a.yaml:4:11: error: posts[0].text: the post has no text — add `text:` (or media)"],
        id="blank-text",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            hashtags:
              - #ClimateJustice
        """,
        [
            "posts/a.yaml:6:8: error: posts[0].hashtags[0]: a hashtag is empty — in YAML `#` "
            "starts a comment: write the tag without `#`, e.g. `- ClimateJustice`"
        ],
        id="hashtag-written-as-comment",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            hashtags: [climate-justice, "2026"]
        """,
        [
            "posts/a.yaml:5:16: error: posts[0].hashtags[0]: 'climate-justice' is not a hashtag "
            "Mastodon will recognise — use letters, digits and `_` only, with at least one letter "
            "(`climate-justice` would tag only `climate`: write `ClimateJustice`)",
            "posts/a.yaml:5:33: error: posts[0].hashtags[1]: '2026' is not a hashtag Mastodon "
            "will recognise — use letters, digits and `_` only, with at least one letter "
            "(`climate-justice` would tag only `climate`: write `ClimateJustice`)",
        ],
        id="invalid-hashtags",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            poll:
              options: [only one]
        """,
        [
            "posts/a.yaml:6:16: error: posts[0].poll.options: 1 option; a poll needs 2 to 4 — "
            "add or remove options"
        ],
        id="poll-too-few-options",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            poll:
              options: [a, b, c, d, e]
        """,
        [
            "posts/a.yaml:6:16: error: posts[0].poll.options: 5 options; a poll needs 2 to 4 — "
            "add or remove options"
        ],
        id="poll-too-many-options",
    ),
    pytest.param(
        f"""\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            poll:
              options:
                - fine
                - {"o" * 51}
        """,
        [
            "posts/a.yaml:8:11: error: posts[0].poll.options[1]: option is 51 characters; the "
            "limit is 50 — shorten it"
        ],
        id="poll-option-too-long",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            poll:
              options: [Books, Wifi, Books]
        """,
        [
            "posts/a.yaml:6:30: error: posts[0].poll.options[2]: option 'Books' appears twice — "
            "make each option different"
        ],
        id="poll-duplicate-option",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            poll:
              options: [a, b]
              expires_in: 1m
        """,
        [
            "posts/a.yaml:7:19: error: posts[0].poll.expires_in: a poll must run between 5 "
            "minutes and 30 days — change `expires_in`"
        ],
        id="poll-too-short",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            poll:
              options: [a, b]
              expires_in: 5w
        """,
        [
            "posts/a.yaml:7:19: error: posts[0].poll.expires_in: a poll must run between 5 "
            "minutes and 30 days — change `expires_in`"
        ],
        id="poll-too-long",
    ),
    pytest.param(
        """\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            thread:
              - text: one
              - text: two
              - text: three
        """,
        [
            "posts/a.yaml:6:7: error: posts[0].thread: the thread has 4 parts; the limit is 3 — "
            "split it into two posts"
        ],
        id="thread-too-long",
    ),
    pytest.param(
        f"""\
        posts:
          - id: p
            at: 2026-12-01 09:30
            text: hi
            thread:
              - text: fine
              - text: {"y" * 501}
        """,
        [
            "posts/a.yaml:7:15: error: posts[0].thread[1].text: 501 characters; the limit is 500 "
            "— shorten it by 1 (each link counts 23), or continue in a `thread:` reply"
        ],
        id="reply-too-long",
    ),
]


@pytest.mark.parametrize(("body", "expected"), POST_CASES)
def test_post_problems(
    make_campaign: MakeCampaign, clock: FakeClock, body: str, expected: list[str]
) -> None:
    """Each mistake in a post is reported at its exact place, with message and hint."""
    config = DEFAULT_CONFIG + "limits: {max_thread_length: 3}\n"
    campaign = check(make_campaign, clock, {"a.yaml": body}, config=config)
    assert rendered(campaign) == expected
    assert campaign.posts == []


# --- media --------------------------------------------------------------------------------------

MEDIA_CASES = [
    pytest.param(
        "- {file: media/missing.png, alt: a shelf}",
        "posts/a.yaml:6:16: error: posts[0].media[0].file: 'media/missing.png' cannot be read: No "
        "such file or directory — check the file name and folder",
        id="missing-file",
    ),
    pytest.param(
        "- {file: ../outside.png, alt: a shelf}",
        "posts/a.yaml:6:16: error: posts[0].media[0].file: '../outside.png' is outside the posts "
        "directory — keep media files inside the posts folder and give the path from there",
        id="outside-posts-dir",
    ),
    pytest.param(
        "- {file: media/text.png, alt: a shelf}",
        "posts/a.yaml:6:16: error: posts[0].media[0].file: 'media/text.png' is not a recognised "
        "media file, which the instance does not accept — use JPEG, PNG, GIF, WebP, MP4 or "
        "another supported type (checked by content, not by name)",
        id="not-an-image-by-content",
    ),
    pytest.param(
        "- {file: media/big.png, alt: a shelf}",
        "posts/a.yaml:6:16: error: posts[0].media[0].file: 'media/big.png' is 6,989 bytes; the "
        "instance accepts at most 1,000 bytes for image files — make the file smaller",
        id="image-too-large",
    ),
    pytest.param(
        "- {file: media/small.gif}",
        "posts/a.yaml:6:9: error: posts[0].media[0].alt: alt text is required — describe the "
        "image for people who cannot see it (`alt: ...`)",
        id="alt-missing",
    ),
    pytest.param(
        "- {file: media/small.gif, alt: '   '}",
        "posts/a.yaml:6:38: error: posts[0].media[0].alt: alt text is required — describe the "
        "image for people who cannot see it (`alt: ...`)",
        id="alt-blank",
    ),
    pytest.param(
        "- {file: media/small.gif, alt: twenty-one characters}",
        "posts/a.yaml:6:38: error: posts[0].media[0].alt: alt text is 21 characters; the "
        "instance allows 20 — shorten the description",
        id="alt-too-long",
    ),
    pytest.param(
        "- {file: media/small.gif, alt: a shelf, focus: [0, 1.5]}",
        "posts/a.yaml:6:54: error: posts[0].media[0].focus: focus [0.0, 1.5] is outside -1..1 — "
        "use two numbers from -1 to 1, e.g. `[0, 0.5]`",
        id="focus-out-of-range",
    ),
    pytest.param(
        "[{file: media/small.gif, alt: a}, {file: media/small.gif, alt: b}, "
        "{file: media/small.gif, alt: c}]",
        "posts/a.yaml:5:12: error: posts[0].media: 3 media files; the instance allows 2 — move "
        "the rest into a thread reply",
        id="too-many-media",
    ),
    pytest.param(
        "[{file: media/small.gif, alt: a}, {file: media/clip.mp4, alt: b}]",
        "posts/a.yaml:5:12: error: posts[0].media: a video or audio file must be the only media "
        "of its post — put it in a thread reply of its own",
        id="video-and-image",
    ),
]


@pytest.mark.parametrize(("media", "expected"), MEDIA_CASES)
def test_media_problems(
    make_campaign: MakeCampaign,
    clock: FakeClock,
    tmp_path: Path,
    png: bytes,
    media: str,
    expected: str,
) -> None:
    """Each media mistake is reported at the file, alt or focus it is about."""
    body = f"posts:\n  - id: p\n    at: 2026-12-01 09:30\n    text: hi\n    media:\n      {media}\n"
    if media.startswith("["):
        body = body.replace("media:\n      ", "media: ")
    files = {
        "media/text.png": b"this is a text file with a .png name\n",
        "media/big.png": png,
        "media/small.gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "media/clip.mp4": MP4,
    }
    (tmp_path / "outside.png").write_bytes(png)  # it exists, but is not the campaign's
    campaign = check(make_campaign, clock, {"a.yaml": body}, config=SMALL_LIMITS, media=files)
    assert rendered(campaign) == [expected]


def test_alt_text_optional_when_config_allows(
    make_campaign: MakeCampaign, clock: FakeClock, png: bytes
) -> None:
    """With `require_alt_text: false`, an image without alt text is accepted."""
    body = "posts:\n  - id: p\n    at: 2026-12-01 09:30\n    media: [{file: a.png}]\n"
    config = DEFAULT_CONFIG + "require_alt_text: false\n"
    campaign = check(make_campaign, clock, {"a.yaml": body}, config=config, media={"a.png": png})
    assert campaign.problems == []
    (media,) = campaign.posts[0].parts[0].media
    assert (media.mime_type, media.size, media.alt) == ("image/png", 6989, "")


POLL_AND_MEDIA = """\
posts:
  - id: p
    at: 2026-12-01 09:30
    text: Which branch do you use?
    media: [{file: a.png, alt: a shelf}]
    poll: {options: [Central, Northside]}
"""


def test_poll_with_media_refused_by_default(
    make_campaign: MakeCampaign, clock: FakeClock, png: bytes
) -> None:
    """A poll and media on one post is refused unless the instance is known to accept it."""
    campaign = check(make_campaign, clock, {"a.yaml": POLL_AND_MEDIA}, media={"a.png": png})
    assert rendered(campaign) == [
        "posts/a.yaml:6:11: error: posts[0].poll: this instance does not accept a poll and media "
        "on one post (Mastodon 4.6 and later do) — move the poll or the media into a thread "
        "reply, or set `limits: {poll_with_media: true}` if the instance runs 4.6+"
    ]


def test_poll_with_media_accepted_with_override(
    make_campaign: MakeCampaign, clock: FakeClock, png: bytes
) -> None:
    """`limits: {poll_with_media: true}` lets a post carry both."""
    config = DEFAULT_CONFIG + "limits: {poll_with_media: true}\n"
    campaign = check(
        make_campaign, clock, {"a.yaml": POLL_AND_MEDIA}, config=config, media={"a.png": png}
    )
    assert campaign.problems == []
    part = campaign.posts[0].parts[0]
    assert part.poll is not None and part.poll.options == ("Central", "Northside")
    assert len(part.media) == 1


def test_media_only_post_and_focus_as_text(
    make_campaign: MakeCampaign, clock: FakeClock, png: bytes
) -> None:
    """A post may be only an image, and focus may be written `"x, y"`."""
    body = (
        "posts:\n  - id: p\n    at: 2026-12-01 09:30\n"
        '    media: [{file: a.png, alt: a shelf, focus: "0.5, -1"}]\n'
    )
    campaign = check(make_campaign, clock, {"a.yaml": body}, media={"a.png": png})
    assert campaign.problems == []
    assert campaign.posts[0].parts[0].media[0].focus == (0.5, -1.0)
    assert campaign.posts[0].parts[0].text == ""


# --- what is accepted, and how it is built ------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "utc"),
    [
        ("2026-12-01 09:30", datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        ("2027-07-01 09:30", datetime(2027, 7, 1, 8, 30, tzinfo=UTC)),
        ("2027-10-31T01:30+01:00", datetime(2027, 10, 31, 0, 30, tzinfo=UTC)),
        ("2027-10-31T01:30+00:00", datetime(2027, 10, 31, 1, 30, tzinfo=UTC)),
        ("2027-03-28T01:30:00Z", datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),
    ],
)
def test_times_accepted(
    make_campaign: MakeCampaign, clock: FakeClock, at: str, utc: datetime
) -> None:
    """Local times use the campaign's zone; a time with an offset is taken as written."""
    body = f"posts:\n  - id: p\n    at: {at}\n    text: hi\n"
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert campaign.problems == []
    assert campaign.posts[0].schedule.at == utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("3600", timedelta(hours=1)),
        ("2026-12-01 12:00", datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        ("2026-12-01T13:00+01:00", datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
    ],
)
def test_not_after_as_duration_or_time(
    make_campaign: MakeCampaign, clock: FakeClock, value: str, expected: object
) -> None:
    """`not_after` is a duration after the planned time, or a time of its own."""
    body = f"posts:\n  - id: p\n    at: 2026-12-01 09:30\n    not_after: {value}\n    text: hi\n"
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert campaign.problems == []
    assert campaign.posts[0].not_after == expected


@pytest.mark.parametrize("code", ["no", "NO", "en", "cy", "zh"])
def test_language_codes_accepted(make_campaign: MakeCampaign, clock: FakeClock, code: str) -> None:
    """ISO 639-1 codes are accepted in any case; `no` is Norwegian, not YAML's false."""
    body = f"posts:\n  - id: p\n    at: 2026-12-01 09:30\n    language: {code}\n    text: hei\n"
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert campaign.problems == []
    assert campaign.posts[0].parts[0].language == code.lower()


@pytest.mark.parametrize(
    ("text", "tags", "expected"),
    [
        ("Sign today", ["SaveOurLibraries"], "Sign today\n\n#SaveOurLibraries"),
        ("Sign today", ["A", "B"], "Sign today\n\n#A #B"),
        ("Sign #saveourlibraries today", ["SaveOurLibraries"], "Sign #saveourlibraries today"),
        (
            "Sign today #Millbrook.",
            ["millbrook", "Libraries"],
            "Sign today #Millbrook.\n\n#Libraries",
        ),
        (
            "Sign today #MillbrookLibraries",
            ["Millbrook"],
            "Sign today #MillbrookLibraries\n\n#Millbrook",
        ),
        ("Mail me at a#Millbrook", ["Millbrook"], "Mail me at a#Millbrook\n\n#Millbrook"),
        ("", ["Millbrook"], "#Millbrook"),
    ],
)
def test_append_hashtags(text: str, tags: list[str], expected: str) -> None:
    """Tags go on their own last line, skipping those the text already has as tags (any case)."""
    assert append_hashtags(text, tags) == expected


def test_hashtags_from_post_file_and_config(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """The post's tags come first, then the file's and the config's defaults, each tag once."""
    config = DEFAULT_CONFIG + "defaults: {hashtags: [Millbrook, Libraries]}\n"
    body = """\
    defaults:
      hashtags: [SaveOurLibraries, millbrook]
    posts:
      - id: p
        at: 2026-12-01 09:30
        text: "Sign the #Petition"
        hashtags: [petition, Now]
    """
    campaign = check(make_campaign, clock, {"a.yaml": body}, config=config)
    assert campaign.problems == []
    assert campaign.posts[0].parts[0].text == (
        "Sign the #Petition\n\n#Now #SaveOurLibraries #millbrook #Libraries"
    )


def test_text_at_the_limit_is_accepted(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """Exactly 500 characters (CW, text, a link at 23 and appended tags together) is fine."""
    # 10 (cw) + 456 + 1 + 23 (link) + 2 + 8 ("#Library") = 500
    body = f"""\
    posts:
      - id: p
        at: 2026-12-01 09:30
        cw: 10 letters
        text: {"x" * 456} https://example.org/{"a" * 80}
        hashtags: [Library]
    """
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert campaign.problems == []
    assert campaign.posts[0].parts[0].characters == 500


# --- the whole campaign -------------------------------------------------------------------------


def test_duplicate_ids_across_files(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """An id used in two files is an error naming both places."""
    first = "posts:\n  - id: launch\n    at: 2026-12-01 09:30\n    text: one\n"
    second = "# again\nposts:\n  - id: other\n    text: x\n  - id: launch\n    text: two\n"
    campaign = check(make_campaign, clock, {"a.yaml": first, "b/c.yaml": second})
    assert rendered(campaign) == [
        "posts/b/c.yaml:5:1: error: id: id 'launch' is used twice (also at posts/a.yaml:2) — "
        "give each post its own id; ids must be unique across the campaign"
    ]
    assert [p.id for p in campaign.posts] == ["launch", "other"]


def test_queued_posts_need_slots(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """A post without `at` or `cron` is an error when the config has no `slots:`."""
    config = "timezone: Europe/London\nposts_dir: ../posts\ndata_dir: ../data\n"
    body = "posts:\n  - id: timed\n    at: 2026-12-01 09:30\n    text: a\n  - id: q\n    text: b\n"
    campaign = check(make_campaign, clock, {"a.yaml": body}, config=config)
    assert rendered(campaign) == [
        "posts/a.yaml:5:1: error: id: post 'q' has no `at:` or `cron:`, and the config has no "
        "`slots:` — give it a time with `at:`, or add weekly `slots:` to the config"
    ]


@pytest.mark.parametrize(
    ("state", "warned"),
    [(None, True), (State.PENDING, True), (State.PUBLISHED, False), (State.MISSED, False)],
)
def test_past_one_off_post(
    make_campaign: MakeCampaign, clock: FakeClock, state: State | None, warned: bool
) -> None:
    """A one-off post in the past is a warning unless the ledger has settled it."""
    clock.set(datetime(2026, 12, 2, tzinfo=UTC))
    body = "posts:\n  - id: past\n    at: 2026-12-01 09:30\n    text: a\n"
    published = {"past": state} if state else {}
    campaign = check(make_campaign, clock, {"a.yaml": body}, published=published)
    expected = [
        "posts/a.yaml:2:1: warning: at: 2026-12-01 09:30 GMT is in the past and the post has not "
        "been published — it will be caught up if still within its `not_after` window, otherwise "
        "recorded as missed; change `at:` to publish it later"
    ]
    assert rendered(campaign) == (expected if warned else [])
    assert [p.id for p in campaign.posts] == ["past"]


def test_until_before_from(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """A recurring post whose `until` comes before its `from` is an error."""
    body = """\
    posts:
      - id: weekly
        cron: "0 12 * * sun"
        from: 2026-12-06
        until: 2026-12-01
        text: a
    """
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert rendered(campaign) == [
        "posts/a.yaml:2:1: error: until: `until` is before `from` — swap them or fix the dates"
    ]


def test_one_bad_file_hides_nothing(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """Problems in every file, and every post of a file, are reported in one run."""
    broken = "posts:\n  - id: x\n   text: bad indent\n"
    typo = """\
    posts:
      - id: a
        at: 2026-12-01 09:30
        visiblity: public
        text: a
      - id: b
        at: 2027-03-28 01:30
        text: b
      - id: good
        at: 2026-12-02 09:30
        text: fine
    """
    campaign = check(make_campaign, clock, {"1-broken.yaml": broken, "2-typo.yaml": typo})
    assert [(p.file, p.line, p.where) for p in campaign.problems] == [
        ("posts/1-broken.yaml", 3, ""),
        ("posts/2-typo.yaml", 4, "posts[0].visiblity"),
        ("posts/2-typo.yaml", 7, "posts[1].at"),
    ]
    assert [p.id for p in campaign.posts] == ["good"]


def test_no_post_files(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """An empty posts folder is reported."""
    campaign = check(make_campaign, clock, {})
    assert rendered(campaign) == [
        "posts: error: no post files found — add `.yaml` files with a `posts:` list to the posts "
        "folder"
    ]


def test_example_campaign_is_valid(clock: FakeClock) -> None:
    """The example campaign in the repository loads without a single problem."""
    settings = load_settings(REPO / "config" / "bot.yaml", env={})
    limits = learn_limits(settings, clock, None).limits
    campaign = load_campaign(settings, limits, published={}, now=clock.now())
    assert campaign.problems == []
    assert len(campaign.posts) == 7


def test_a_duplicate_key_does_not_hide_the_files_other_problems(
    make_campaign: MakeCampaign,
) -> None:
    """A reader problem (duplicate key) and a model problem in the same file both reported."""
    files = make_campaign(
        {
            "a.yaml": """\
                posts:
                  - id: one
                    at: 2026-12-01 09:30
                    text: first
                    text: second
                  - id: two
                    at: 2026-12-01 10:30
                    txt: typo
                """
        }
    )
    settings = load_settings(files.config, {})
    campaign = load_campaign(settings, InstanceLimits())
    rendered = [p.render() for p in campaign.problems]
    assert any("duplicate key 'text'" in r and ":5:" in r for r in rendered)
    assert any("unknown key 'txt'" in r and ":8:" in r for r in rendered)
    assert campaign.posts == []


def test_validate_json_reports_config_problems_as_json(
    make_campaign: MakeCampaign, capsys: pytest.CaptureFixture[str]
) -> None:
    """`validate --json` stays JSON when the config itself is wrong."""
    files = make_campaign({"a.yaml": "posts: []\n"}, config="timezone: Mars/Olympus\n")
    assert main(["--config", str(files.config), "validate", "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["valid"] is False
    assert "unknown time zone" in body["problems"][0]["message"]
