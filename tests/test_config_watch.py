"""A running bot keeps the config it started with; when the file changes, it says which keys
changed and that a restart applies them — once per change, and again when asked by SIGHUP."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.service.config_watch import ConfigWatch

START = """\
instance: https://mastodon.example
timezone: Europe/London
catch_up: 1h
alerts:
  webhook: https://hooks.example/a
slots: [mon-fri 12:30]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(START, encoding="utf-8")
    return path


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.name == "bot.service.config_watch"]
    caplog.clear()
    return found


def test_changed_keys_are_named_once(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    watch = ConfigWatch(config)
    with caplog.at_level("INFO"):
        assert watch.check() == []
        assert messages(caplog) == []
        config.write_text(
            START.replace("1h", "2h").replace("hooks.example/a", "hooks.example/b")
            + "require_alt_text: false\n",
            encoding="utf-8",
        )
        assert watch.check() == ["alerts.webhook", "catch_up", "require_alt_text"]
        assert messages(caplog) == [
            f"{config} changed (alerts.webhook, catch_up, require_alt_text); the bot keeps the "
            "config it started with until it is restarted"
        ]
        watch.check()
        assert messages(caplog) == []  # the same change is not repeated every few seconds
        assert watch.check(always=True) == ["alerts.webhook", "catch_up", "require_alt_text"]
        assert len(messages(caplog)) == 1  # SIGHUP asks again


def test_an_edit_undone_is_said_too(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    watch = ConfigWatch(config)
    config.write_text(START.replace("mon-fri 12:30", "daily 18:00"), encoding="utf-8")
    with caplog.at_level("INFO"):
        assert watch.check() == ["slots"]
        messages(caplog)
        config.write_text(START, encoding="utf-8")
        assert watch.check() == []
        assert messages(caplog) == [f"{config} is back to the config the bot runs with"]


def test_layout_and_comments_are_not_changes(config: Path) -> None:
    watch = ConfigWatch(config)
    config.write_text("# edited\n" + START.replace(": ", ":   "), encoding="utf-8")
    assert watch.check() == []


def test_an_unreadable_config_is_said_without_stopping(
    config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = ConfigWatch(config)
    config.write_text("timezone: [unclosed\n", encoding="utf-8")
    with caplog.at_level("INFO"):
        assert watch.check() == []
    [line] = messages(caplog)
    assert line.startswith(f"{config} changed and cannot be read (")
    assert line.endswith("); the bot keeps the config it started with")
    config.unlink()
    with caplog.at_level("INFO"):
        watch.check()
    assert messages(caplog) == [
        f"{config} changed and cannot be read (config file not found); the bot keeps the "
        "config it started with"
    ]
