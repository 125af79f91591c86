"""Which occurrence `campaign-bot publish ID` sends: a one-off post as itself; of a recurring
post the latest due in the last week, else the next within 35 days, or the one its key names;
never one that is already out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_publisher import part

from bot.config.settings import Settings, load_settings
from bot.core.clock import FakeClock
from bot.core.errors import CampaignBotError, UsageError
from bot.core.posts import CampaignPost, Schedule
from bot.publishing.manual import chosen_occurrence
from bot.storage.ledger import Ledger

# 15:00 in Berlin (CET, UTC+1); the post repeats every day at 12:00 Berlin time, 11:00 UTC.
NOW = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
TODAY = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "bot.yaml"
    path.write_text('timezone: "Europe/Berlin"\ncatch_up: "1h"\n', encoding="utf-8")
    return load_settings(path, env={})


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3", FakeClock(NOW)) as opened:
        yield opened


def daily(start: datetime | None = None, until: datetime | None = None) -> CampaignPost:
    schedule = Schedule(cron="0 12 * * *", start=start, until=until)
    return CampaignPost("daily", "posts/p.yaml", 1, 0, schedule, None, (part(0, "Hi"),), "h")


def published(ledger: Ledger, key: str, at: datetime, parts: int = 1) -> None:
    ledger.begin_attempt(key, "daily", at, "h")
    for index in range(parts):
        status = str(111 + index)
        ledger.record_part_intent(key, index, f"k-{key}-{index}")
        ledger.record_part_published(key, index, status, f"https://campaign.example/@a/{status}")
    ledger.mark_published(key)


def test_a_one_off_post_is_sent_as_itself(settings: Settings, ledger: Ledger) -> None:
    once = CampaignPost(
        "once", "posts/p.yaml", 1, 0, Schedule(at=NOW + DAY), None, (part(0, "Hi"),), "h"
    )
    assert chosen_occurrence(once, settings, ledger, NOW, "once") is None


def test_the_latest_due_occurrence_of_the_last_week(settings: Settings, ledger: Ledger) -> None:
    assert chosen_occurrence(daily(), settings, ledger, NOW, "daily") == TODAY
    # The last one ended six days ago: still within the week looked back on.
    ended = daily(until=TODAY - 6 * DAY)
    assert chosen_occurrence(ended, settings, ledger, NOW, "daily") == TODAY - 6 * DAY


def test_the_next_occurrence_when_none_is_due(settings: Settings, ledger: Ledger) -> None:
    later = daily(start=NOW + 3 * DAY)
    assert chosen_occurrence(later, settings, ledger, NOW, "daily") == TODAY + 4 * DAY
    # Nothing in the last week, the next 34 days away.
    far = daily(start=NOW + 33 * DAY)
    assert chosen_occurrence(far, settings, ledger, NOW, "daily") == TODAY + 34 * DAY


@pytest.mark.parametrize(
    "post",
    [
        pytest.param(daily(start=NOW + 35 * DAY + timedelta(hours=1)), id="too-far-ahead"),
        pytest.param(daily(until=TODAY - 8 * DAY), id="ended-over-a-week-ago"),
    ],
)
def test_none_in_the_last_week_or_the_next_35_days(
    post: CampaignPost, settings: Settings, ledger: Ledger
) -> None:
    with pytest.raises(CampaignBotError) as refused:
        chosen_occurrence(post, settings, ledger, NOW, "daily")
    assert str(refused.value) == (
        "daily repeats, but has no occurrence in the last week or the next 35 days"
    )


def test_the_occurrence_a_key_names(settings: Settings, ledger: Ledger) -> None:
    key = "daily@2026-12-05T11:00:00Z"
    assert chosen_occurrence(daily(), settings, ledger, NOW, key) == TODAY + 3 * DAY
    past = "daily@2026-11-20T11:00:00Z"
    assert chosen_occurrence(daily(), settings, ledger, NOW, past) == TODAY - 12 * DAY


def test_a_key_without_an_occurrence_or_in_another_form_is_refused(
    settings: Settings, ledger: Ledger
) -> None:
    with pytest.raises(UsageError) as refused:
        chosen_occurrence(daily(), settings, ledger, NOW, "daily@2026-12-05T11:30:00Z")
    assert str(refused.value) == "daily has no occurrence at 2026-12-05 12:30 CET"
    with pytest.raises(UsageError) as refused:
        chosen_occurrence(daily(), settings, ledger, NOW, "daily@2026-12-05 12:00")
    assert str(refused.value) == (
        "'daily@2026-12-05 12:00': an occurrence key looks like daily@2026-12-06T12:00:00Z "
        "(see `campaign-bot plan` or `status`)"
    )
    assert refused.value.__suppress_context__
    # One `@`: a time with more after it, or an id with an `@` of its own, is not a key.
    for asked in ("daily@2026-12-05T11:00:00Z@x", "daily@x@2026-12-05T11:00:00Z"):
        with pytest.raises(UsageError, match="an occurrence key looks like"):
            chosen_occurrence(daily(), settings, ledger, NOW, asked)


def test_an_occurrence_already_out_is_refused_naming_the_next(
    settings: Settings, ledger: Ledger
) -> None:
    published(ledger, "daily@2026-12-02T11:00:00Z", TODAY)
    with pytest.raises(CampaignBotError) as refused:
        chosen_occurrence(daily(), settings, ledger, NOW, "daily")
    assert str(refused.value) == (
        "daily@2026-12-02T11:00:00Z (planned for 2026-12-02 12:00 CET) is already out: "
        "https://campaign.example/@a/111; the next, daily@2026-12-03T11:00:00Z, is planned for "
        "2026-12-03 12:00 CET (`campaign-bot publish daily@2026-12-03T11:00:00Z` sends it now)"
    )


def test_the_next_after_an_earlier_one_out_is_the_next_from_now(
    settings: Settings, ledger: Ledger
) -> None:
    published(ledger, "daily@2026-11-28T11:00:00Z", TODAY - 4 * DAY)
    with pytest.raises(CampaignBotError) as refused:
        chosen_occurrence(daily(), settings, ledger, NOW, "daily@2026-11-28T11:00:00Z")
    assert "the next, daily@2026-12-03T11:00:00Z," in str(refused.value)


def test_the_next_after_a_later_one_out_comes_after_it(settings: Settings, ledger: Ledger) -> None:
    published(ledger, "daily@2026-12-05T11:00:00Z", TODAY + 3 * DAY)
    with pytest.raises(CampaignBotError) as refused:
        chosen_occurrence(daily(), settings, ledger, NOW, "daily@2026-12-05T11:00:00Z")
    assert "the next, daily@2026-12-06T11:00:00Z," in str(refused.value)


def test_the_last_occurrence_out_names_no_next(settings: Settings, ledger: Ledger) -> None:
    """A thread of two: both its addresses, and nothing after it."""
    ended = daily(until=TODAY)
    published(ledger, "daily@2026-12-02T11:00:00Z", TODAY, parts=2)
    with pytest.raises(CampaignBotError) as refused:
        chosen_occurrence(ended, settings, ledger, NOW, "daily")
    assert str(refused.value) == (
        "daily@2026-12-02T11:00:00Z (planned for 2026-12-02 12:00 CET) is already out: "
        "https://campaign.example/@a/111 https://campaign.example/@a/112"
    )


def test_a_failed_occurrence_may_be_sent_by_hand(settings: Settings, ledger: Ledger) -> None:
    key = "daily@2026-12-02T11:00:00Z"
    ledger.begin_attempt(key, "daily", TODAY, "h")
    ledger.mark_failed(key, "refused")
    assert chosen_occurrence(daily(), settings, ledger, NOW, "daily") == TODAY
