"""The access token never travels in clear text: every command refuses a plain http:// instance
that is not this machine, before it makes any request."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses
from conftest import MakeCampaign

from bot.cli.main import main

POST = """\
posts:
  - id: hello
    at: 2026-11-20 10:00
    text: Hello
"""

REFUSED = (
    "plain http:// would send the access token unencrypted; use the instance's https:// address "
    "(http:// is allowed only for 127.0.0.1, ::1 and localhost)"
)


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--once"],
        ["run"],
        ["publish", "hello"],
        ["retry", "hello"],
        ["status"],
        ["validate"],
    ],
    ids=" ".join,
)
def test_every_command_refuses_plain_http(
    make_campaign: MakeCampaign,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    """`instance: http://mastodon.example` is a config error at its line, for every command, and
    not one request leaves (with the token or without)."""
    campaign = make_campaign(
        {"a.yaml": POST},
        config="timezone: UTC\nposts_dir: ../posts\ninstance: http://mastodon.example\n",
    )
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", "secret-token-0123456789abcdef")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        code = main(["--config", str(campaign.config), *command])
        assert len(wire.calls) == 0
    assert code == 1
    err = capsys.readouterr().err
    assert f"{campaign.config}:3:11: error: instance: 'http://mastodon.example': {REFUSED}" in err
    assert "secret-token" not in err


def test_base_url_from_the_environment_is_refused_too(
    make_campaign: MakeCampaign,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """MASTODON_BASE_URL is checked like `instance:`, and the message names the variable."""
    campaign = make_campaign({"a.yaml": POST}, config="timezone: UTC\nposts_dir: ../posts\n")
    monkeypatch.setenv("MASTODON_BASE_URL", "http://192.0.2.10:3000")
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", "secret-token-0123456789abcdef")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        code = main(["--config", str(campaign.config), "run", "--once"])
        assert len(wire.calls) == 0
    assert code == 1
    assert capsys.readouterr().err == (
        f"{campaign.config}: error: MASTODON_BASE_URL: 'http://192.0.2.10:3000': {REFUSED}\n"
    )
