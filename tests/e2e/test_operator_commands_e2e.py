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
