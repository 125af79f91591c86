"""The campaigner's likely mistakes: valid YAML that does not do what was meant. Each was tried
and passed `validate` silently before; now each is a warning or an error with its fix."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import test_cli_campaign
from conftest import REPO, MakeCampaign
from test_cli_campaign import Run
from test_validate import check, rendered

from bot.campaign.mistakes import sentence_breaks
from bot.campaign.yamlsource import Position, read_yaml
from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, Schedule
from bot.schedule.planner import MAX_OCCURRENCES_PER_POST, capped, plan

run = test_cli_campaign.run


def one_post(*lines: str) -> dict[str, str]:
    return {"a.yaml": "posts:\n  - id: a\n" + "".join(f"    {line}\n" for line in lines)}


# --- links without https:// ---------------------------------------------------------------------


def test_links_without_a_scheme(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """A link written without https:// is shown as plain text by Mastodon: warn, with the fix."""
    posts = one_post(
        "at: 2026-12-01 09:30",
        "text: Sign it at you.38degrees.org.uk/petitions and watch peertube.openrightsgroup.org/w",
        "thread:",
        "  - text: Join us at https://action.openrightsgroup.org/join or www.example.org today",
    )
    campaign = check(make_campaign, clock, posts)
    assert rendered(campaign) == [
        "posts/a.yaml:4:11: warning: posts[0].text: 'you.38degrees.org.uk/petitions' has no "
        "https://, so Mastodon shows it as plain text, not a link — add https:// "
        "(`https://you.38degrees.org.uk/petitions`)",
        "posts/a.yaml:4:11: warning: posts[0].text: 'peertube.openrightsgroup.org/w' has no "
        "https://, so Mastodon shows it as plain text, not a link — add https:// "
        "(`https://peertube.openrightsgroup.org/w`)",
        "posts/a.yaml:6:15: warning: posts[0].thread[0].text: 'www.example.org' has no "
        "https://, so Mastodon shows it as plain text, not a link — add https:// "
        "(`https://www.example.org`)",
    ]
    assert [p.id for p in campaign.posts] == ["a"]  # a warning: the post still goes out


@pytest.mark.parametrize(
    "text",
    [
        "Sign at https://you.38degrees.org.uk/petitions today",
        "Mail volunteers@savemillbrook.example.org or follow @campaign@mastodon.social",
        "Costs £1.1m, e.g. staff. Node.js and Mastodon.social are names here.",
        "'#Millbrook.org is a tag'",
    ],
)
def test_no_warning_for_real_links_addresses_and_names(
    make_campaign: MakeCampaign, clock: FakeClock, text: str
) -> None:
    campaign = check(make_campaign, clock, one_post("at: 2026-12-01 09:30", f"text: {text}"))
    assert rendered(campaign) == []


# --- cron that floods ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "times"),
    [("* 12 * * sun", "60 times"), ("* * * * *", "60 times"), ("0,30 9 * * *", "2 times")],
)
def test_cron_more_often_than_hourly(
    make_campaign: MakeCampaign, clock: FakeClock, cron: str, times: str
) -> None:
    """A cron post firing more than once an hour is almost always a typo for minute 0."""
    campaign = check(make_campaign, clock, one_post(f'cron: "{cron}"', "text: hi"))
    assert rendered(campaign) == [
        f"posts/a.yaml:3:11: warning: posts[0].cron: {cron!r} fires {times} an hour — a post "
        "repeated more often than hourly floods followers: write the one minute you mean "
        f"(e.g. `0 {cron.split(' ', 1)[1]}`)"
    ]


@pytest.mark.parametrize("cron", ["0 12 * * sun", "0 * * * *", "0 */2 * * *", "15 9-17 * * *"])
def test_hourly_or_rarer_cron_is_fine(
    make_campaign: MakeCampaign, clock: FakeClock, cron: str
) -> None:
    campaign = check(make_campaign, clock, one_post(f'cron: "{cron}"', "text: hi"))
    assert rendered(campaign) == []


# --- not_after that is not after the planned time -----------------------------------------------


@pytest.mark.parametrize(
    ("not_after", "message"),
    [
        (
            "2026-12-01 09:00",
            "2026-12-01 09:00 GMT is not after the planned time (2026-12-01 09:30 GMT), so the "
            "post would always be recorded as missed — give a later time, or a duration such "
            "as `2h`",
        ),
        (
            "2026-12-01 09:30",
            "2026-12-01 09:30 GMT is not after the planned time (2026-12-01 09:30 GMT), so the "
            "post would always be recorded as missed — give a later time, or a duration such "
            "as `2h`",
        ),
        (
            "0m",
            "a window of 0 leaves no time to send the post, so it would always be recorded as "
            "missed — give a duration such as `1h`",
        ),
    ],
)
def test_not_after_not_after_at(
    make_campaign: MakeCampaign, clock: FakeClock, not_after: str, message: str
) -> None:
    posts = one_post("at: 2026-12-01 09:30", f"not_after: {not_after}", "text: hi")
    campaign = check(make_campaign, clock, posts)
    assert rendered(campaign) == [f"posts/a.yaml:4:16: error: posts[0].not_after: {message}"]
    assert campaign.posts == []


def test_zero_not_after_in_the_defaults(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """A zero window from the file's defaults is reported at the post it would make missed."""
    body = "defaults:\n  not_after: 0s\nposts:\n  - id: a\n    cron: '0 9 * * *'\n    text: hi\n"
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert rendered(campaign) == [
        "posts/a.yaml:4:5: error: posts[0].not_after: a window of 0 leaves no time to send the "
        "post, so it would always be recorded as missed — give a duration such as `1h`"
    ]


# --- duplicate ids, whatever the first copy is worth --------------------------------------------


def test_duplicate_id_when_the_first_copy_is_invalid(
    make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    first = "posts:\n  - id: launch\n    at: 2026-12-01 09:30\n    txt: one\n"
    second = "posts:\n  - id: launch\n    at: 2026-12-02 09:30\n    text: two\n"
    campaign = check(make_campaign, clock, {"a.yaml": first, "b.yaml": second})
    assert rendered(campaign) == [
        "posts/a.yaml:4:5: error: posts[0].txt: unknown key 'txt' — did you mean `text`?",
        "posts/b.yaml:2:1: error: id: id 'launch' is used twice (also at posts/a.yaml:2) — "
        "give each post its own id; ids must be unique across the campaign",
    ]
    assert campaign.posts == []


def test_duplicate_id_within_a_file_when_both_are_invalid(
    make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    body = "posts:\n  - id: x\n    at: nope\n  - id: x\n    at: never\n"
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert [p for p in rendered(campaign) if "used twice" in p] == [
        "posts/a.yaml:4:1: error: id: id 'x' is used twice (also at posts/a.yaml:2) — give each "
        "post its own id; ids must be unique across the campaign"
    ]


# --- a date without a time ----------------------------------------------------------------------


def test_date_without_time(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    campaign = check(make_campaign, clock, one_post("at: 2027-01-12", "text: hi"))
    assert rendered(campaign) == [
        "posts/a.yaml:3:9: warning: posts[0].at: '2027-01-12' has no time, so the post goes "
        "out at midnight (00:00) — add the time you mean, e.g. `2027-01-12 09:30`"
    ]
    assert [p.id for p in campaign.posts] == ["a"]


# --- direct messages to nobody ------------------------------------------------------------------


def test_direct_without_mention(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    posts = one_post("at: 2026-12-01 09:30", "visibility: direct", "text: Thanks for signing!")
    campaign = check(make_campaign, clock, posts)
    assert rendered(campaign) == [
        "posts/a.yaml:4:17: warning: posts[0].visibility: a `direct` post reaches only the "
        "accounts it mentions, and this one mentions nobody — add an @mention, or use "
        "`private` for your followers"
    ]


def test_direct_with_mention_is_fine(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    posts = one_post(
        "at: 2026-12-01 09:30", "visibility: direct", "text: Thanks @jean@mastodon.example!"
    )
    assert rendered(check(make_campaign, clock, posts)) == []


def test_direct_from_the_defaults(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    body = "defaults:\n  visibility: direct\nposts:\n  - id: a\n    at: 2026-12-01 09:30\n"
    body += "    text: hello\n"
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert [p.where for p in campaign.problems] == ["posts[0].visibility"]


# --- file names in other capitalisations --------------------------------------------------------


def test_post_files_in_any_capitalisation(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """`.YAML`, `.Yml` and the like are post files too, not skipped without a word."""
    posts = {
        name: f"posts:\n  - id: p{i}\n    at: 2026-12-01 09:30\n    text: hi\n"
        for i, name in enumerate(["a.YAML", "b.Yml", "c.yaml", "d.YML"])
    }
    campaign = check(make_campaign, clock, posts)
    assert sorted(Path(f).name for f in campaign.files) == ["a.YAML", "b.Yml", "c.yaml", "d.YML"]
    assert sorted(p.id for p in campaign.posts) == ["p0", "p1", "p2", "p3"]


# --- line breaks in mid-sentence in `|` blocks --------------------------------------------------

HARD_WRAPPED = """\
posts:
  - id: a
    at: 2026-12-01 09:30
    text: |
      Libraries are where kids do homework, and
      where older neighbours come for warmth.

      Sign the petition 👇
      https://petition.example.org/save
    thread:
      - text: |-

          Half of the
          people using the computers had no internet at
          home.
"""


def test_line_break_in_mid_sentence(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """A `|` block keeps the hard wraps of its writer: warn at the end of the line that breaks
    a sentence (a line ending in a letter, the next starting in lower case)."""
    campaign = check(make_campaign, clock, {"a.yaml": HARD_WRAPPED})
    assert rendered(campaign) == [
        "posts/a.yaml:5:48: warning: posts[0].text: a line break in mid-sentence, after "
        "“…re where kids do homework, and” and before “where older neighbours come fo…”: a `|` "
        "block keeps every line break, and the post goes out with them — use `>` or join the lines",
        "posts/a.yaml:13:22: warning: posts[0].thread[0].text: a line break in mid-sentence, "
        "after “Half of the” and before “people using the computers had…” (and 1 more): a `|` "
        "block keeps every line break, and the post goes out with them — use `>` or join the "
        "lines",
    ]


def test_folded_and_joined_text_is_fine(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """The fix works: `>` folds the lines, and plain or quoted text has no such breaks."""
    folded = HARD_WRAPPED.replace("text: |", "text: >")
    assert rendered(check(make_campaign, clock, {"a.yaml": folded})) == []


@pytest.mark.parametrize(
    "text",
    [
        "Thank you, Millbrook!\nNext goal: 5,000.",  # a sentence ends
        "Sign the petition 👇\nhttps://petition.example.org/x",  # a link on its own line
        "Join us at\nwww.example.org/join",
        "Read this:\nthe council's plan",  # ends in punctuation
        "Dear Millbrook\nWe need you",  # the next line starts in upper case
        "- books\n- computers",  # a list
    ],
)
def test_line_breaks_that_are_meant(
    make_campaign: MakeCampaign, clock: FakeClock, text: str
) -> None:
    body = "\n".join("      " + line for line in text.split("\n"))
    post = f"posts:\n  - id: a\n    at: 2026-12-01 09:30\n    text: |\n{body}\n"
    campaign = check(make_campaign, clock, {"a.yaml": post})
    assert [p for p in rendered(campaign) if "mid-sentence" in p] == []


def test_example_campaign_has_no_mid_sentence_breaks() -> None:
    """The example's posts go out with line breaks only where the writer meant them."""
    for path in sorted((REPO / "posts").glob("*.yaml")):
        doc, problems = read_yaml(path)
        assert doc is not None and problems == []
        for index, post in enumerate(doc.data["posts"]):
            texts = [post.get("text")] + [r.get("text") for r in post.get("thread", [])]
            assert [sentence_breaks(t) for t in texts if t] == [[] for t in texts if t], (
                path.name,
                index,
            )


def test_reader_knows_where_literal_blocks_are(tmp_path: Path) -> None:
    """The reader tells a `|` block from other styles, and where its text lines are written,
    leading blank lines included; with Windows line ends too."""
    body = (
        "a: |\n\n  one\n  two\nb: >\n  folded\nc: plain\nd: 'quoted'\ne:\n  - |2-\n      deeper\n"
    )
    for name, newline in (("unix.yaml", "\n"), ("windows.yaml", "\r\n")):
        path = tmp_path / name
        path.write_bytes(body.replace("\n", newline).encode())
        doc, problems = read_yaml(path)
        assert doc is not None and problems == []
        assert doc.data["a"] == "\none\ntwo\n"
        assert doc.literal_block(("a",)) == Position(2, 3)
        assert [doc.literal_block((k,)) for k in "bcd"] == [None, None, None]
        assert doc.literal_block(("e", 0)) == Position(11, 7)
        assert doc.literal_block(("missing",)) is None


# --- what plan and rehearse expand of a flooding cron -------------------------------------------


def test_planner_caps_each_recurring_post(clock: FakeClock) -> None:
    """Asked for a limit, the planner stops each recurring post at it; others are untouched."""
    post = CampaignPost(
        "flood", "posts/a.yaml", 2, 0, Schedule(cron="* * * * *"), None, (), content_hash="x"
    )
    weekly = replace(post, id="weekly", schedule=Schedule(cron="0 12 * * sun"), order=1)
    start = clock.now()
    found = plan(
        [post, weekly],
        ledger={},
        now=start,
        start=start,
        end=start + timedelta(days=60),
        zone=ZoneInfo("Europe/London"),
        slots=(),
        catch_up=timedelta(hours=1),
        limit_per_post=100,
    )
    assert Counter(o.post.id for o in found) == {"flood": 100, "weekly": 9}
    assert capped(found, 100) == {"flood": 100}


def test_plan_caps_a_flooding_cron(make_campaign: MakeCampaign, run: Run) -> None:
    """`* * * * *` would list 86,400 lines for 60 days: plan stops at the cap and says why."""
    make_campaign(one_post('cron: "* * * * *"', "text: hi"))
    result = run("plan", "--offline")
    assert result.code == 0
    rows = [line for line in result.out.splitlines() if " a " in line and "hi" in line]
    assert len(rows) == MAX_OCCURRENCES_PER_POST
    assert result.err.splitlines()[-1] == (
        f"a: only its first {MAX_OCCURRENCES_PER_POST:,} occurrences are shown: its cron "
        "'* * * * *' fires 60 times an hour — run `campaign-bot validate`, fix the cron, or "
        "narrow the window with --until"
    )


def test_plan_json_caps_too(make_campaign: MakeCampaign, run: Run) -> None:
    make_campaign(one_post('cron: "* * * * *"', "text: hi"))
    body = json.loads(run("plan", "--offline", "--json").out)
    assert len(body["occurrences"]) == MAX_OCCURRENCES_PER_POST
    assert body["capped"] == {"a": MAX_OCCURRENCES_PER_POST}


def test_link_without_scheme_in_a_block_is_placed_on_its_line(
    make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    body = (
        "posts:\n  - id: a\n    at: 2026-12-01 09:30\n    text: |\n      Sign the petition.\n"
        "      Here: you.38degrees.org.uk/petitions or you.38degrees.org.uk/petitions\n"
    )
    campaign = check(make_campaign, clock, {"a.yaml": body})
    assert [(p.line, p.column) for p in campaign.problems] == [(6, 13), (6, 47)]
