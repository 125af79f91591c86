"""Character counting of servers other than Mastodon, as their own source counts.

Takahē: api/views/statuses.py post_status, `len(details.status) > Config.system.post_length`
(code points, links in full, the content warning not counted) → 400 "Status is too long".
GoToSocial: internal/processing/status/common.go validateStatusContent, runes of status plus
spoiler. Pleroma/Akkoma: CommonAPI.ActivityDraft.full_payload, String.length (graphemes) of the
trimmed status joined to the summary, links in full.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEFAULT_CONFIG, MakeCampaign

from bot.campaign.charcount import count_characters, count_for_server, strictest_count
from bot.campaign.loading import Campaign, load_campaign
from bot.config.instance_limits import LimitsCache
from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.core.limits import InstanceLimits, from_instance_document
from bot.core.problems import Severity

THUMBS = "👍🏽"  # two code points (thumbs up + skin tone), one grapheme
LINK = "https://petition.example.org/save-millbrook-libraries"


def test_takahe_counts_code_points_not_graphemes() -> None:
    """Tried on Takahē: 480 x and 20 👍🏽 count 500 by Mastodon's rule, 520 by Takahē's."""
    text = "x" * 480 + THUMBS * 20
    assert count_characters(text) == 500
    assert count_for_server("takahe", text) == 520


def test_takahe_counts_links_in_full_and_ignores_the_content_warning() -> None:
    text = f"Sign: {LINK}"
    assert count_for_server("takahe", text, "a warning") == len(text)
    assert count_characters(text) == 6 + 23


def test_gotosocial_counts_runes_of_text_and_content_warning() -> None:
    text = f"{THUMBS} {LINK}"
    assert count_for_server("gotosocial", text, "cw " + THUMBS) == len(text) + 5


@pytest.mark.parametrize("software", ["akkoma", "pleroma"])
def test_pleroma_family_counts_graphemes_with_links_in_full(software: str) -> None:
    text = f"  {THUMBS * 3} {LINK}\n"
    # Trimmed status joined to the summary, then trimmed again: 3 graphemes, a space, the link.
    assert count_for_server(software, text, "cw") == 3 + 1 + len(LINK) + 2


def test_mastodon_and_unknown_count_as_mastodon() -> None:
    text = f"{THUMBS * 3} {LINK}"
    assert count_for_server("mastodon", text) == count_for_server("unknown", text) == 3 + 1 + 23


def test_mastodon_counting_keeps_the_content_warning_and_the_url_reservation() -> None:
    """Software counted by Mastodon's rule counts the content warning, and each link as the
    instance's `characters_reserved_per_url`."""
    text = f"Sign: {LINK}"
    for software in ("mastodon", "unknown"):
        assert count_for_server(software, text, "CW") == 2 + 6 + 23
        assert count_for_server(software, text, characters_reserved_per_url=30) == 6 + 30


def test_strictest_count_is_the_highest_known() -> None:
    text = f"{THUMBS * 3} {LINK}"
    assert strictest_count(text, "cw") == 6 + 1 + len(LINK) + 2  # GoToSocial's
    assert strictest_count(text) == 6 + 1 + len(LINK)  # no content warning, nothing for it


def test_the_instance_document_names_the_software() -> None:
    takahe = {"version": "takahe/0.11.0", "configuration": {"statuses": {"max_characters": 500}}}
    assert from_instance_document(takahe, None).software == "takahe"
    assert from_instance_document({"version": "4.3.2", "configuration": {}}, None).software == (
        "mastodon"
    )
    assert from_instance_document(None, None).software == "mastodon"


def test_the_software_survives_the_cache(tmp_path: Path, clock: FakeClock) -> None:
    cache = LimitsCache(tmp_path / "limits.json")
    cache.save("https://t.example", InstanceLimits(software="gotosocial"), clock.now())
    loaded = cache.load("https://t.example")
    assert loaded is not None and loaded[0].software == "gotosocial"


def _load(make_campaign: MakeCampaign, clock: FakeClock, text: str, software: str) -> Campaign:
    body = f'posts:\n  - id: p\n    at: 2026-12-01 09:30\n    text: "{text}"\n'
    files = make_campaign({"a.yaml": body}, config=DEFAULT_CONFIG)
    settings = load_settings(files.config, env={})
    limits = InstanceLimits(software=software)
    return load_campaign(settings, limits, published={}, now=clock.now())


def test_takahe_refusal_is_caught_by_validate(
    make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    """The post Takahē refused is an error before publishing, with its real count."""
    campaign = _load(make_campaign, clock, "x" * 480 + THUMBS * 20, "takahe")
    [problem] = campaign.errors
    assert problem.line == 4
    assert "520 characters as Takahē counts them; the limit is 500" in problem.render()
    assert "shorten it by 20 (Takahē counts each link in full)" in problem.render()


def test_same_post_is_fine_on_mastodon(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    campaign = _load(make_campaign, clock, "x" * 480 + THUMBS * 20, "mastodon")
    assert campaign.problems == []
    assert campaign.posts[0].parts[0].characters == 500


def test_unknown_software_warns_near_the_limit(
    make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    """Unknown software may count like the strictest known server: a warning, not an error."""
    campaign = _load(make_campaign, clock, "x" * 480 + THUMBS * 20, "unknown")
    [problem] = campaign.problems
    assert problem.severity is Severity.WARNING
    assert "may count 520" in problem.render()
    short = _load(make_campaign, clock, "x" * 400 + THUMBS * 20, "unknown")
    assert short.problems == []
