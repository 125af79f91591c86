"""The README documents every post key, config key, command and flag the code accepts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.campaign.schema import (
    Alerts,
    ConfigFile,
    Defaults,
    LimitsOverride,
    Media,
    Poll,
    Post,
    Reply,
)
from bot.cli.main import build_parser

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


@pytest.mark.parametrize(
    "model", [Post, Reply, Media, Poll, Defaults, ConfigFile, LimitsOverride, Alerts]
)
def test_every_file_key_is_documented(model: type[BaseModel]) -> None:
    """Each key a campaigner or operator may write appears in the README, as code."""
    missing = [key for key in _keys(model) if f"`{key}`" not in README and f"{key}`" not in README]
    assert missing == []


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_and_flag_is_documented(name: str) -> None:
    """Each command and each of its options is in the command reference."""
    assert f"`{name}" in README
    flags = [
        option
        for action in _commands()[name]._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]
    assert [flag for flag in flags if flag not in README] == []


def test_global_options_are_documented() -> None:
    """--config, --debug and --log-format are described."""
    for flag in ("--config", "--debug", "--log-format", "CAMPAIGN_BOT_CONFIG"):
        assert flag in README
