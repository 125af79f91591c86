"""The warning about a post whose time has passed is given where a campaigner checks the plan
(`validate`, `plan`), once, and only about a post the bot has not started on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import MakeCampaign

from bot.cli.main import main
from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.storage.ledger import Ledger

POSTS = """\
posts:
  - id: old
    at: 2020-01-01 10:00
    text: Long ago.
    thread:
      - text: And its reply.
  - id: new
    at: 2099-01-01 10:00
    text: Far ahead.
"""
CONFIG = "timezone: UTC\nposts_dir: ../posts\ndata_dir: ../data\n"
PAST = "is in the past and the post has not been published"


@pytest.mark.parametrize(
    ("command", "times"),
    [
        (["validate"], 1),
        (["plan", "--from", "2019-12-01 00:00", "--until", "2020-02-01 00:00"], 1),
        (["plan"], 1),
        (["run", "--once", "--dry-run"], 0),
        (["status"], 0),
        (["calendar", "--out", "site"], 0),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else f"{value}x",
)
def test_said_by_validate_and_plan_only(
    make_campaign: MakeCampaign,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    times: int,
) -> None:
    campaign = make_campaign({"a.yaml": POSTS}, config=CONFIG)
    main(["--config", str(campaign.config), *command])
    out, err = capsys.readouterr()
    assert (out + err).count(PAST) == times, out + err


@pytest.mark.parametrize("put_back", [False, True], ids=["sending", "pending again"])
def test_not_said_of_a_thread_half_out(
    make_campaign: MakeCampaign, capsys: pytest.CaptureFixture[str], put_back: bool
) -> None:
    """A thread with its first toot out (still sending, or put back to pending after a deferred
    try) is not "not published": the bot finishes it. A pending post with nothing out is."""
    campaign = make_campaign({"a.yaml": POSTS}, config=CONFIG)
    settings = load_settings(campaign.config, env={})
    planned = datetime(2020, 1, 1, 10, tzinfo=UTC)
    with Ledger.open(settings.ledger_path, FakeClock(planned)) as ledger:
        ledger.begin_attempt("old", "old", planned, "h")
        ledger.record_part_intent("old", 0, "k0")
        ledger.record_part_published("old", 0, "1", "https://mastodon.example/@c/1")
        if put_back:
            ledger.mark_pending_after_error("old", "rate limited")
    main(["--config", str(campaign.config), "validate"])
    assert PAST not in capsys.readouterr().out

    with Ledger.open(settings.ledger_path, FakeClock(planned)) as ledger:
        ledger.begin_attempt("other", "other", planned, "h")
        ledger.mark_pending_after_error("other", "rate limited")
    extra = "  - id: other\n    at: 2020-01-02 10:00\n    text: Nothing out yet.\n"
    (campaign.posts_dir / "b.yaml").write_text("posts:\n" + extra, encoding="utf-8")
    main(["--config", str(campaign.config), "validate"])
    out = capsys.readouterr().out
    assert out.count(PAST) == 1
    assert "posts/b.yaml" in out
