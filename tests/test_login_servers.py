"""`login` on real servers: a real `state`, one registered application across `login` and
`login --code`, the broad scopes where the server needs them (Takahē), and `--account`."""

from __future__ import annotations

import io
import json
import stat
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import ALICE_CODE
from mastodon import Mastodon
from mastodon_mock.testing import MockServer

from bot.cli.main import main
from bot.service.doctor import NEEDED_SCOPES

TAKAHE = "https://takahe.example"


def _authorize_url(out: str) -> str:
    line = next(x for x in out.splitlines() if "/oauth/authorize?" in x)
    return line.strip()


def test_authorize_url_has_a_real_state_and_no_junk(
    server: MockServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tried: the URL carried force_login=False&state=None&lang=None."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    token_file = tmp_path / "token"
    assert main(["login", "--instance", server.base_url, "--token-file", str(token_file)]) == 2
    url = _authorize_url(capsys.readouterr().out)
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {"client_id", "response_type", "redirect_uri", "scope", "state"}
    assert "None" not in url and "False" not in url
    assert len(query["state"][0]) >= 24
    app = json.loads((tmp_path / "token.app.json").read_text())
    assert query["state"] == [app["state"]]
    assert query["client_id"] == [app["client_id"]]
    assert stat.S_IMODE((tmp_path / "token.app.json").stat().st_mode) == 0o600


def test_login_code_reuses_the_application_of_the_address(
    server: MockServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tried: `login --code` registered a new app, so a code from an earlier address belonged
    to another client. The app of the address is kept and used for the code."""
    token_file = tmp_path / "token"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    first = ["login", "--instance", server.base_url, "--token-file", str(token_file)]
    assert main([*first, "--app-name", "first-run"]) == 2  # shown the address, no code pasted
    url = _authorize_url(capsys.readouterr().out)

    assert main([*first, "--app-name", "second-run", "--code", ALICE_CODE]) == 0

    token = token_file.read_text().strip()
    app = Mastodon(access_token=token, api_base_url=server.base_url).app_verify_credentials()
    assert app["name"] == "first-run"
    saved = json.loads((tmp_path / "token.app.json").read_text())
    assert parse_qs(urlsplit(url).query)["client_id"] == [saved["client_id"]]


def _takahe(wire: responses.RequestsMock, granted: str) -> None:
    """A Takahē server as its source behaves: verify_credentials needs the broad `read`."""
    wire.get(
        f"{TAKAHE}/api/v2/instance",
        json={"version": "takahe/0.11.0", "configuration": {"statuses": {"max_characters": 500}}},
    )
    wire.post(f"{TAKAHE}/api/v1/apps", json={"client_id": "cid", "client_secret": "csecret"})
    # Takahē has no OAuth server metadata document; Mastodon.py asks for it first.
    wire.get(f"{TAKAHE}/.well-known/oauth-authorization-server", status=404)
    wire.post(
        f"{TAKAHE}/oauth/token",
        json={"access_token": "takahe-token", "token_type": "Bearer", "scope": granted},
    )
    if "read" in granted.split():
        wire.get(
            f"{TAKAHE}/api/v1/accounts/verify_credentials",
            json={"id": "1", "username": "campaign", "acct": "campaign", "url": ""},
        )
    else:
        wire.get(
            f"{TAKAHE}/api/v1/accounts/verify_credentials",
            status=403,
            json={"error": "out_of_scope_for_token"},
        )


def test_takahe_gets_the_broad_scopes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token_file = tmp_path / "token"
    with responses.RequestsMock() as wire:
        _takahe(wire, "read write")
        code = main(["login", "--instance", TAKAHE, "--token-file", str(token_file), "--code", "c"])
        sent = parse_qs(wire.calls[1].request.body or "")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "needs the broad scopes: asking for `read write`" in out
    assert sent["scopes"] == ["read write"]
    assert token_file.read_text() == "takahe-token\n"


def test_narrow_scopes_refused_by_the_account_check_say_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried on Takahē: the code was accepted, then verify_credentials was refused with
    out_of_scope_for_token. The message now says how to log in so that it works."""
    token_file = tmp_path / "token"
    scopes = " ".join(NEEDED_SCOPES)
    # With --scopes the instance document is not needed.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        _takahe(wire, scopes)
        args = ["--instance", TAKAHE, "--token-file", str(token_file), "--code", "c"]
        code = main(["login", *args, "--scopes", scopes])
    err = capsys.readouterr().err
    assert code == 1
    assert "refused the account check for lack of a scope (out_of_scope_for_token)" in err
    assert 'run `campaign-bot login --scopes "read write"`' in err
    assert "takahe-token" not in err
    assert not token_file.exists()


def test_login_account_uses_that_accounts_instance_and_file(
    server: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config" / "bot.yaml"
    config.parent.mkdir()
    config.write_text(
        "accounts:\n"
        f"  lead: {{instance: https://lead.example, access_token_file: ../secrets/lead}}\n"
        f"  partner: {{instance: {server.base_url}, access_token_file: ../secrets/partner}}\n",
        encoding="utf-8",
    )
    args = ["--config", str(config), "login", "--account", "partner", "--code", ALICE_CODE]
    assert main(args) == 0
    token = (tmp_path / "secrets" / "partner").read_text().strip()
    assert Mastodon(access_token=token, api_base_url=server.base_url).me()["acct"] == "alice"
    assert not (tmp_path / "secrets" / "lead").exists()

    assert main(["--config", str(config), "login", "--account", "nobody"]) == 2
    assert "no account named 'nobody'" in capsys.readouterr().err
