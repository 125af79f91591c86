"""Publishing real campaigns to a mastodon_mock server, checked by reading the account back."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.cli import publishing_commands
from bot.publishing import pacing
from bot.publishing.pacing import Window

from .conftest import Site, assert_published_exactly_once

pytestmark = pytest.mark.e2e

# A Sunday after every one-off post of the example campaign, an hour after its weekly reminder.
AFTER_EXAMPLE = datetime(2027, 1, 10, 13, 0, tzinfo=ZoneInfo("Europe/London"))
SHELF_ALT = (
    "Illustration of six book spines standing on a wooden shelf against a dark green wall: "
    "red, yellow, blue, white, purple and orange, each with a pale band near the top."
)


def test_example_campaign_goes_out_exactly_once(site: Site) -> None:
    """The example campaign goes out once, in order, as `status --json` says; a rerun is a no-op."""
    site.clock.set(AFTER_EXAMPLE)
    site.copy_example(catch_up="60d")
    posts = site.app().campaign(online=False).by_id()

    assert site.run_once() == 0

    records = site.records()
    assert {r.post_id for r in records.values()} == set(posts)
    assert {str(r.state) for r in records.values()} == {"published"}
    assert_published_exactly_once(site, posts)
    # Planned order: each occurrence's first status is newer than the one planned before it.
    ordered = sorted(records.values(), key=lambda r: r.planned_at)
    first_ids = [int(r.parts[0].status_id or 0) for r in ordered]
    assert first_ids == sorted(first_ids)
    # Spot checks against the post files themselves, not the bot's reading of them.
    launch = records["petition-launch"]
    assert len(launch.parts) == 4
    shelf = {s["id"]: s for s in site.statuses()}[launch.parts[0].status_id]
    assert shelf["media_attachments"][0]["description"] == SHELF_ALT
    assert shelf["media_attachments"][0]["meta"]["focus"] == {"x": 0.0, "y": 0.1}
    assert {t["name"] for t in shelf["tags"]} == {"saveourlibraries", "millbrook"}
    story = {s["id"]: s for s in site.statuses()}[records["story-warm-space"].parts[0].status_id]
    assert (story["spoiler_text"], story["sensitive"]) == ("mentions poverty and a cold home", True)

    shown = site.cli("status", "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["not_yet_attempted"] == []
    for entry in report["occurrences"]:
        record = records[entry["key"]]
        assert entry["state"] == "published"
        assert entry["urls"] == record.urls()
        assert entry["status_ids"] == [p.status_id for p in record.parts]
        assert entry["planned_at"] == record.planned_at.isoformat()

    before = len(site.statuses())
    site.clock.advance(timedelta(minutes=5))
    assert site.run_once() == 0
    assert len(site.statuses()) == before
    assert site.records() == records


def test_publish_each_post_by_id(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """`publish ID` for each example post, before it is due, puts it on the server once."""
    site.clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=ZoneInfo("Europe/London")))
    site.copy_example()
    posts = site.app().campaign(online=False).by_id()
    for post_id in posts:
        capsys.readouterr()
        assert site.publish(post_id) == 0
        printed = capsys.readouterr().out.split()
        record = next(r for r in site.records().values() if r.post_id == post_id)
        assert printed == record.urls()
        assert len(printed) == len(posts[post_id].parts)
        site.clock.advance(timedelta(minutes=1))
    assert_published_exactly_once(site, posts)


def test_every_field_reaches_the_server(site: Site) -> None:
    """Tags, CW, sensitive, visibility, language, media, polls and overrides arrive as written."""
    site.write_posts(
        "fields.yaml",
        [
            {
                "id": "everything",
                "at": site.at(-timedelta(minutes=3)),
                "text": "Die Bibliothek bleibt offen!\n\nZweite Zeile mit #Stadtbibliothek",
                "hashtags": ["Millbrook", "stadtbibliothek"],
                "cw": "Politik",
                "visibility": "unlisted",
                "language": "de",
                "media": [
                    {
                        "file": "media/library-shelf.png",
                        "alt": "Sechs Buchrücken",
                        "focus": [0.5, -0.25],
                    }
                ],
                "thread": [
                    {"text": "Ohne Warnung.", "cw": ""},
                    {
                        "text": "Abstimmung:",
                        "poll": {
                            "options": ["Ja", "Nein", "Weiß nicht"],
                            "expires_in": "1h",
                            "multiple": True,
                        },
                    },
                    {
                        "text": "Bild ohne Warnung, aber sensibel.",
                        "cw": "",
                        "sensitive": True,
                        "media": [{"file": "media/library-shelf.png", "alt": "Regal"}],
                    },
                ],
            },
            {
                "id": "plain-private",
                "at": site.at(-timedelta(minutes=2)),
                "text": "Nur für Follower.",
                "visibility": "private",
                "language": "en",
            },
        ],
    )
    posts = site.app().campaign(online=False).by_id()
    assert site.run_once() == 0
    assert_published_exactly_once(site, posts)

    statuses = site.statuses()
    assert len(statuses) == 5
    first, no_cw, poll, picture, private = statuses
    assert site.source_text(first["id"]) == (
        "Die Bibliothek bleibt offen!\n\nZweite Zeile mit #Stadtbibliothek\n\n#Millbrook"
    )
    assert (first["spoiler_text"], first["sensitive"]) == ("Politik", True)
    assert (first["visibility"], first["language"]) == ("unlisted", "de")
    assert first["media_attachments"][0]["description"] == "Sechs Buchrücken"
    assert first["media_attachments"][0]["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    assert (no_cw["spoiler_text"], no_cw["sensitive"]) == ("", False)
    assert no_cw["in_reply_to_id"] == first["id"]
    assert poll["in_reply_to_id"] == no_cw["id"]
    assert poll["spoiler_text"] == "Politik"
    assert [o["title"] for o in poll["poll"]["options"]] == ["Ja", "Nein", "Weiß nicht"]
    assert poll["poll"]["multiple"] is True
    assert picture["in_reply_to_id"] == poll["id"]
    assert (picture["spoiler_text"], picture["sensitive"]) == ("", True)
    assert private["visibility"] == "private"
    assert private["in_reply_to_id"] is None


def test_slot_queue_and_recurring_posts_get_one_status_per_occurrence(site: Site) -> None:
    """Over many runs, queued posts fill their slots and each daily occurrence goes out once."""
    start = datetime(2026, 12, 7, 8, 0, tzinfo=ZoneInfo("UTC"))  # a Monday
    site.clock.set(start)
    site.configure(slots=["daily 09:00"], catch_up="30m")
    site.write_posts(
        "queue.yaml",
        [
            {"id": "queued-one", "text": "First in the queue."},
            {"id": "queued-two", "text": "Second in the queue."},
            {"id": "daily", "cron": "30 9 * * *", "from": "2026-12-07", "text": "Daily."},
        ],
    )
    posts = site.app().campaign(online=False).by_id()
    site.clock.set(start + timedelta(minutes=10))
    while site.clock.now() < start + timedelta(days=1, hours=2):  # runs at :10 and :40
        assert site.run_once() == 0
        site.clock.advance(timedelta(minutes=30))
    records = site.records()
    assert sorted(records) == [
        "daily@2026-12-07T09:30:00Z",
        "daily@2026-12-08T09:30:00Z",
        "queued-one",
        "queued-two",
    ]
    assert records["queued-one"].planned_at == datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("UTC"))
    assert records["queued-two"].planned_at == datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("UTC"))
    assert_published_exactly_once(site, posts)


def test_dry_run_touches_neither_server_nor_ledger(site: Site) -> None:
    """`run --once --dry-run` goes through the due posts without a request or a ledger row."""
    site.write_posts(
        "one.yaml", [{"id": "due", "at": site.at(-timedelta(minutes=1)), "text": "Hi"}]
    )
    app = site.app()
    args = argparse.Namespace(app=app, once=True, dry_run=True)
    assert publishing_commands.run_run(args) == 0
    assert site.statuses() == []
    assert not app.settings.ledger_path.exists()


def test_pacing_counts_the_posts_of_earlier_runs(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run right after another waits for the earlier run's posts to leave the status window."""
    monkeypatch.setitem(pacing.DEFAULT_WINDOWS, "status", Window(3, timedelta(hours=3)))
    site.write_posts(
        "two.yaml",
        [
            {"id": f"early-{i}", "at": site.at(-timedelta(minutes=10 - i)), "text": f"Early {i}."}
            for i in range(2)
        ],
    )
    assert site.run_once() == 0
    assert site.clock.slept == []
    first_sent = site.records()["early-0"].parts[0].published_at
    assert first_sent is not None

    site.clock.advance(timedelta(minutes=1))
    site.write_posts("late.yaml", [{"id": "late", "at": site.at(), "text": "Late."}])
    assert site.run_once() == 0
    # 90 % of 3 is 2 per window: the third waits for the first to be 3 hours old.
    (waited,) = site.clock.slept
    assert waited > timedelta(hours=2, minutes=58).total_seconds()
    assert site.records()["late"].parts[0].published_at == first_sent + timedelta(hours=3)
    assert len(site.statuses()) == 3
