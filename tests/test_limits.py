"""Instance limits: read from real instance documents, cached for offline use, overridable."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
import responses

from bot.config.instance_limits import LimitsCache, learn_limits
from bot.config.settings import Settings, load_settings
from bot.core.clock import FakeClock
from bot.core.limits import DEFAULT_MIME_TYPES, InstanceLimits, from_instance_document
from bot.service.app import App

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
INSTANCE = "https://mastodon.example"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


# Recorded from a Mastodon 4.7.3 server (see fixtures/mastodon/README.md).
V2 = fixture("instance_v2.json")
V1 = fixture("instance_v1.json")

MASTODON_4_7 = InstanceLimits(
    max_characters=500,
    max_media_attachments=4,
    characters_reserved_per_url=23,
    description_limit=10_000,
    supported_mime_types=DEFAULT_MIME_TYPES,
    image_size_limit=16_777_216,
    video_size_limit=103_809_024,
    poll_max_options=4,
    poll_max_characters_per_option=50,
    poll_min_expiration=300,
    poll_max_expiration=2_629_746,
    poll_with_media=True,
    quotes=True,  # 4.7.3 reports api_versions.mastodon 11; quote posts came with 7 (4.5)
)


def test_v2_document() -> None:
    """Every posting limit is read from the recorded /api/v2/instance answer."""
    assert from_instance_document(V2, V1) == MASTODON_4_7
    assert from_instance_document(V2, None) == MASTODON_4_7


def test_v1_document_lacks_the_alt_text_limit() -> None:
    """/api/v1/instance has no description_limit, so the pre-4.4 limit of 1,500 is assumed."""
    assert from_instance_document(None, V1) == replace(MASTODON_4_7, description_limit=1500)


def test_v2_without_configuration_falls_back_to_v1() -> None:
    """A v2 answer without `configuration` is not trusted over v1."""
    assert from_instance_document({"version": "4.7.3"}, V1) == from_instance_document(None, V1)


def test_custom_mastodon_limits() -> None:
    """An instance with raised limits is read as it says."""
    doc = json.loads(json.dumps(V2))
    doc["configuration"]["statuses"]["max_characters"] = 5000
    doc["configuration"]["polls"]["max_options"] = 10
    limits = from_instance_document(doc, None)
    assert (limits.max_characters, limits.poll_max_options) == (5000, 10)


PLEROMA = {
    "version": "2.7.2 (compatible; Pleroma 2.6.1)",
    "max_toot_chars": 5000,
    "upload_limit": 16_000_000,
    "description_limit": 5000,
    "poll_limits": {
        "max_options": 20,
        "max_option_chars": 200,
        "min_expiration": 0,
        "max_expiration": 31_536_000,
    },
}


def test_pleroma_style_keys() -> None:
    """Pleroma and Akkoma publish limits under their own keys, outside `configuration`."""
    limits = from_instance_document(None, PLEROMA)
    assert limits == InstanceLimits(
        max_characters=5000,
        description_limit=5000,
        image_size_limit=16_000_000,
        video_size_limit=16_000_000,
        poll_max_options=20,
        poll_max_characters_per_option=200,
        # 0 is not taken for a limit: Mastodon's five minutes stay, which Pleroma also accepts.
        poll_min_expiration=300,
        poll_max_expiration=31_536_000,
        poll_with_media=False,
        software="pleroma",
        quotes=False,
    )


@pytest.mark.parametrize(
    ("version", "with_media"),
    [
        ("4.7.3", True),
        ("4.6.0", True),
        ("4.6.0-rc.1", True),
        ("4.5.11", False),
        ("4.10.0", True),
        ("3.5.3+glitch", False),
        ("2.7.2 (compatible; Pleroma 2.6.1)", False),
        ("4.6.0 (compatible; Akkoma 3.0)", False),
        ("0.17.3+git-abc", False),
        ("takahe/0.11.0", False),
        ("", False),
    ],
)
def test_poll_with_media_needs_mastodon_4_6(version: str, with_media: bool) -> None:
    """A poll and media together are allowed only on Mastodon 4.6.0 and later."""
    doc = json.loads(json.dumps(V2))
    doc["version"] = version
    assert from_instance_document(doc, None).poll_with_media is with_media


@pytest.mark.parametrize("bad", [0, -1, "500", None, True, 1.5])
def test_nonsense_values_are_ignored(bad: object) -> None:
    """A limit that is not a positive whole number leaves Mastodon's default in place."""
    doc = json.loads(json.dumps(V2))
    doc["configuration"]["statuses"]["max_characters"] = bad
    assert from_instance_document(doc, None).max_characters == 500


def test_empty_documents_give_defaults() -> None:
    """With nothing to read, the limits are Mastodon's defaults."""
    assert from_instance_document(None, None) == InstanceLimits()
    assert from_instance_document({}, {}) == InstanceLimits()


def test_overrides() -> None:
    """Overrides replace only the limits they name; lists become tuples; unknown names are left."""
    limits = InstanceLimits().with_overrides(
        {"max_characters": 1000, "supported_mime_types": ["image/png"], "nonsense": 1}
    )
    assert limits == replace(
        InstanceLimits(), max_characters=1000, supported_mime_types=("image/png",)
    )


# --- learning the limits ------------------------------------------------------------------------


def settings_for(tmp_path: Path, text: str = "") -> Settings:
    path = tmp_path / "bot.yaml"
    path.write_text(f"instance: {INSTANCE}\ndata_dir: data\n{text}", encoding="utf-8")
    return load_settings(path, env={})


def answer() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    return V2, V1


def unreachable() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    raise ConnectionError("connection refused")


def test_learn_from_the_instance_and_cache(tmp_path: Path, clock: FakeClock) -> None:
    """Limits read from the instance are used and written to the cache with their time."""
    settings = settings_for(tmp_path)
    report = learn_limits(settings, clock, answer)
    assert report.limits == MASTODON_4_7
    assert report.source == f"read from {INSTANCE}"
    record = json.loads(settings.limits_cache_path.read_text(encoding="utf-8"))
    assert record == {
        "instance": INSTANCE,
        "fetched_at": "2026-11-20T12:00:00+00:00",
        "limits": json.loads(json.dumps(asdict(MASTODON_4_7))),
    }
    assert settings.limits_cache_path == tmp_path / "data" / "instance-limits.json"


def test_cache_used_when_unreachable(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """When the instance cannot be reached, the cached limits are used and the cause logged."""
    settings = settings_for(tmp_path)
    learn_limits(settings, clock, answer)
    report = learn_limits(settings, clock, unreachable)
    assert report.limits == MASTODON_4_7
    assert report.source == f"cached from {INSTANCE} at 2026-11-20T12:00:00+00:00"
    assert f"could not read the limits of {INSTANCE}: connection refused" in caplog.text


def test_offline_uses_the_cache(tmp_path: Path, clock: FakeClock) -> None:
    """Without a fetcher (offline), the cache is used without asking."""
    settings = settings_for(tmp_path)
    learn_limits(settings, clock, answer)
    assert learn_limits(settings, clock, None).limits == MASTODON_4_7


def test_cache_of_another_instance_is_ignored(tmp_path: Path, clock: FakeClock) -> None:
    """Limits cached for another instance are not used."""
    settings = settings_for(tmp_path)
    LimitsCache(settings.limits_cache_path).save(
        "https://other.example", replace(InstanceLimits(), max_characters=9), clock.now()
    )
    report = learn_limits(settings, clock, unreachable)
    assert report.limits == InstanceLimits()
    assert report.source == f"Mastodon's defaults ({INSTANCE} unreachable, nothing cached)"


@pytest.mark.parametrize("content", ["not json", "[]", '{"instance": "x"}', ""])
def test_broken_cache_is_ignored(tmp_path: Path, clock: FakeClock, content: str) -> None:
    """A damaged cache file means defaults, not a crash."""
    settings = settings_for(tmp_path)
    settings.limits_cache_path.parent.mkdir(parents=True)
    settings.limits_cache_path.write_text(content, encoding="utf-8")
    assert learn_limits(settings, clock, None).limits == InstanceLimits()


def test_no_instance_means_defaults(tmp_path: Path, clock: FakeClock) -> None:
    """Without an instance the limits are Mastodon's defaults, and the report says so."""
    path = tmp_path / "bot.yaml"
    path.write_text("data_dir: data\n", encoding="utf-8")
    settings = load_settings(path, env={})
    report = learn_limits(settings, clock, answer)
    assert report.limits == InstanceLimits()
    assert report.source == "Mastodon's defaults (no instance configured)"
    assert not settings.limits_cache_path.exists()


def test_config_overrides_win(tmp_path: Path, clock: FakeClock) -> None:
    """`limits:` in the config wins over the instance and over the cache."""
    settings = settings_for(
        tmp_path, "limits: {max_characters: 1000, poll_with_media: false, description_limit: 42}\n"
    )
    expected = replace(
        MASTODON_4_7, max_characters=1000, poll_with_media=False, description_limit=42
    )
    online = learn_limits(settings, clock, answer)
    assert online.limits == expected
    assert online.source == (
        f"read from {INSTANCE}, with config overrides: description_limit, max_characters, "
        "poll_with_media"
    )
    assert learn_limits(settings, clock, unreachable).limits == expected
    # The cache keeps what the instance said, not the overrides.
    cached = LimitsCache(settings.limits_cache_path).load(INSTANCE)
    assert cached is not None and cached[0] == MASTODON_4_7


@responses.activate
def test_limits_read_offline_do_not_stand_in_for_the_instances(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A command that first looked offline (the cache or the defaults) and then asks for the
    instance's own limits gets them from the instance, and caches them."""
    responses.get(f"{INSTANCE}/api/v2/instance", json=V2)
    app = App(settings_for(tmp_path), clock=clock, env={})
    assert app.limits(online=False).source.startswith("Mastodon's defaults")
    online = app.limits(online=True)
    assert online.limits == MASTODON_4_7
    assert online.source == f"read from {INSTANCE}"
    assert app.settings.limits_cache_path.exists()
    assert app.limits(online=False) is online
