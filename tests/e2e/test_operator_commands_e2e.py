"""The operator's commands mean what they say: each as tried, against the mock server."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from bot.cli import publishing_commands
from bot.core.errors import CampaignBotError
from bot.storage import control

from .conftest import Site

pytestmark = pytest.mark.e2e


@pytest.fixture
def due(site: Site) -> Site:
    site.write_posts(
        "due.yaml", [{"id": "due", "at": site.at(-timedelta(minutes=5)), "text": "Due now."}]
    )
    return site


def test_run_once_publishes_nothing_while_paused(due: Site) -> None:
    """Tried: `run --once` published a due post while paused."""
    control.pause(due.root / "data", "campaign on hold", due.clock.now())
    assert due.run_once() == 0
    assert due.statuses() == []
    control.resume(due.root / "data")
    assert due.run_once() == 0
    assert len(due.statuses()) == 1


def test_publish_while_paused_needs_force(due: Site) -> None:
    """Tried: `publish ID` published while paused without a word. It now refuses, naming the
    pause and `--force`; with `--force` it publishes."""
    control.pause(due.root / "data", "campaign on hold", due.clock.now())
    with pytest.raises(CampaignBotError) as refused:
        due.publish("due")
    assert "publishing is paused (paused at" in str(refused.value)
    assert "campaign on hold" in str(refused.value)
    assert "`campaign-bot publish due --force`" in str(refused.value)
    assert due.statuses() == []

    forced = argparse.Namespace(app=due.app(), post_id="due", force=True)
    assert publishing_commands.run_publish(forced) == 0
    assert len(due.statuses()) == 1


def test_retry_of_a_missed_post_gives_it_a_new_window(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: `retry ID` on a missed post set it pending, and the next run recorded it missed
    again at once. Its catch-up window now counts from the retry."""
    site.configure(catch_up="1h")
    site.write_posts(
        "old.yaml", [{"id": "old", "at": site.at(-timedelta(hours=3)), "text": "Late news."}]
    )
    assert site.run_once() == 0
    assert str(site.records()["old"].state) == "missed"

    site.clock.advance(timedelta(minutes=10))
    retried = argparse.Namespace(app=site.app(), post_id="old")
    assert publishing_commands.run_retry(retried) == 0
    said = capsys.readouterr().out
    assert "old is pending again, with a new window from now (" in said
    assert "it goes out at the next run (or re-plan of a running bot) if that is before" in said

    site.clock.advance(timedelta(minutes=30))
    assert site.run_once() == 0
    assert str(site.records()["old"].state) == "published"
    assert len(site.statuses()) == 1


def test_a_retried_post_later_than_its_new_window_is_missed_again(site: Site) -> None:
    """The new window is the post's own: retried and then left too long, it is missed."""
    site.configure(catch_up="1h")
    site.write_posts(
        "old.yaml", [{"id": "old", "at": site.at(-timedelta(hours=3)), "text": "Late news."}]
    )
    assert site.run_once() == 0
    assert publishing_commands.run_retry(argparse.Namespace(app=site.app(), post_id="old")) == 0
    site.clock.advance(timedelta(hours=2))
    assert site.run_once() == 0
    assert str(site.records()["old"].state) == "missed"
    assert site.statuses() == []


def test_publish_of_a_recurring_post_names_its_occurrence_and_refuses_it_twice(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """Tried: `publish ID` on a recurring post posted a new toot each time it was run. It now
    publishes the latest due occurrence, says which, and refuses it once it is out, naming the
    next one."""
    due = site.clock.now() - timedelta(minutes=30)
    site.write_posts(
        "daily.yaml",
        [{"id": "daily", "cron": f"{due.minute} {due.hour} * * *", "text": "Daily reminder."}],
    )
    key = f"daily@{due.strftime('%Y-%m-%dT%H:%M')}:00Z"
    with caplog.at_level("INFO"):
        assert site.publish("daily") == 0
    assert "publishing the occurrence planned for" in caplog.text and key in caplog.text
    assert set(site.records()) == {key}
    assert len(site.statuses()) == 1

    site.clock.advance(timedelta(minutes=1))
    with pytest.raises(CampaignBotError) as refused:
        site.publish("daily")
    said = str(refused.value)
    assert said.startswith(f"{key} (planned for ")
    assert "is already out: https://" in said
    assert "`campaign-bot publish daily@" in said
    assert len(site.statuses()) == 1
