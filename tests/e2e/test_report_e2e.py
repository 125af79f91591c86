"""How every post did: counts collected from the server after publication equal the
favourites, boosts and replies other accounts made there."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from bot.cli import report_command
from bot.storage.engagement import latest_engagement

from .conftest import Site

pytestmark = pytest.mark.e2e


def report(site: Site, action: str | None = None, **flags: Any) -> int:
    options = {"since": None, "until": None, "by": None, "json": False, "csv": False}
    args = argparse.Namespace(app=site.app(), action=action, **{**options, **flags})
    return report_command.run_report(args)


@pytest.fixture
def published(site: Site) -> Site:
    site.write_posts(
        "p.yaml",
        [
            {
                "id": "launch",
                "at": site.at(-timedelta(minutes=3)),
                "text": "Sign the petition.",
                "hashtags": ["SaveOurLibraries"],
                "thread": [{"text": "Why it matters."}],
            },
            {
                "id": "story",
                "at": site.at(-timedelta(minutes=2)),
                "text": "A story from the branch library.",
                "hashtags": ["SaveOurLibraries", "Millbrook"],
            },
        ],
    )
    assert site.run_once() == 0
    return site


def test_report_numbers_equal_what_other_accounts_did(
    published: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """bob and carol favourite, boost and reply on the server; after an hour `report collect`
    counts them, and `report --json`, `--csv` and the per-hashtag totals say exactly that;
    a second count a day later shows the growth."""
    site = published
    launch, reply = (p.status_id for p in site.records()["launch"].parts)
    story = site.records()["story"].parts[0].status_id
    bob, carol = site.server.client("bob"), site.server.client("carol")
    for other in (bob, carol):
        other.status_favourite(launch)
        other.status_reblog(launch)
    bob.status_favourite(reply)
    bob.status_favourite(story)
    bob.status_post("Signed!", in_reply_to_id=story)

    assert report(site, "collect") == 0
    assert "0 statuses counted" in capsys.readouterr().out  # not an hour old yet
    site.clock.advance(timedelta(hours=1, minutes=1))
    assert report(site, "collect") == 0
    assert "3 statuses counted" in capsys.readouterr().out

    assert report(site, json=True) == 0
    body = json.loads(capsys.readouterr().out)
    posts = {p["key"]: p for p in body["posts"]}
    assert (posts["launch"]["favourites"], posts["launch"]["boosts"]) == (3, 2)
    assert [(p["favourites"], p["boosts"]) for p in posts["launch"]["parts"]] == [(2, 2), (1, 0)]
    assert (posts["story"]["favourites"], posts["story"]["replies"]) == (1, 1)
    tags = {h["group"]: h for h in body["hashtags"]}
    assert tags["#SaveOurLibraries"]["favourites"] == 4
    assert tags["#Millbrook"]["posts"] == 1
    assert latest_engagement(site.ledger())[launch].favourites == 2

    carol.status_favourite(story)
    site.clock.advance(timedelta(hours=6))
    assert report(site, "collect") == 0
    capsys.readouterr()
    assert report(site, by="post") == 0
    text = capsys.readouterr().out
    assert "story: favourites 2 (+1), boosts 0 (+0), replies 1 (+0)" in text

    assert report(site, csv=True, by="post") == 0
    raw = capsys.readouterr().out
    assert raw.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(raw.lstrip("\ufeff"))))
    assert [(r["post"], r["part"], r["favourites"]) for r in table] == [
        ("launch", "1", "2"),
        ("launch", "2", "1"),
        ("story", "1", "2"),
    ]


def test_a_post_deleted_on_the_server_is_reported_as_such(
    published: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """A status a moderator removed is counted as gone, once, and the report says so."""
    site = published
    story = site.records()["story"].parts[0].status_id
    site.server.client("alice").status_delete(story)
    site.clock.advance(timedelta(hours=2))
    assert report(site, "collect") == 0
    assert "1 gone" in capsys.readouterr().out
    site.clock.advance(timedelta(hours=6))
    assert report(site, "collect") == 0
    assert "2 statuses counted, 0 gone" in capsys.readouterr().out
    assert report(site, by="post") == 0
    assert "story: favourites 0, boosts 0, replies 0 [deleted on the instance]" in (
        capsys.readouterr().out
    )
