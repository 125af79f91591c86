"""`campaign-bot login` against a mastodon_mock server's OAuth endpoints: the token it saves is
private, works, carries exactly the scopes the bot needs, and is never shown."""

from __future__ import annotations

import io
import re
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


def saved_token(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1, "the token file holds the token alone"
    return lines[0]


def assert_never_shown(
    token: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> str:
    """Stdout, after checking that neither it, stderr nor any log record holds the token."""
    out, err = capsys.readouterr()
    assert token not in out
    assert token not in err
    assert token not in caplog.text
    assert all(token not in record.getMessage() for record in caplog.records)
    return out


@pytest.mark.parametrize(
    ("code_on_stdin", "existing_mode"),
    [
        pytest.param(False, None, id="code-flag-new-file"),
        pytest.param(True, None, id="code-on-stdin"),
        pytest.param(False, 0o644, id="replaces-world-readable-file"),
    ],
)
def test_login_saves_a_private_working_token(
    server: MockServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    code_on_stdin: bool,
    existing_mode: int | None,
) -> None:
    """login writes a mode-0600 file with a token that works for the app registered with
    exactly NEEDED_SCOPES, and never prints or logs the token."""
    token_file = tmp_path / "secrets" / "mastodon-token"
    if existing_mode is not None:
        token_file.parent.mkdir()
        token_file.write_text("an old token that is much longer than any new one\nmore\n")
        token_file.chmod(existing_mode)
    args = ["--instance", server.base_url, "--token-file", str(token_file)]
    if code_on_stdin:
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"  {ALICE_CODE}\n"))
        args = ["--debug", "login", *args]
    else:
        args = ["login", *args, "--code", ALICE_CODE]

    assert main(args) == 0

    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = saved_token(token_file)
    client = Mastodon(access_token=token, api_base_url=server.base_url)
    assert client.account_verify_credentials()["username"] == "alice"
    assert client.app_verify_credentials()["scopes"] == list(NEEDED_SCOPES)
    out = assert_never_shown(token, capsys, caplog)
    assert f"Logged in as @alice on {server.base_url}." in out
    assert f"access_token_file: {token_file}\n" in out
    if code_on_stdin:
        assert caplog.records, "with --debug every request is logged, and was searched"
        url = re.search(r"^  (\S+/oauth/authorize\S*)$", out, re.MULTILINE)
        assert url is not None, out
        query = parse_qs(urlsplit(url[1]).query)
        assert url[1].startswith(f"{server.base_url}/oauth/authorize?")
        assert query["scope"] == [" ".join(NEEDED_SCOPES)]
        assert query["redirect_uri"] == ["urn:ietf:wg:oauth:2.0:oob"]
        assert "Then paste the code shown: " in out


@pytest.mark.parametrize(
    ("config", "args", "expected"),
    [
        pytest.param(None, [], "secrets/mastodon-token", id="no-config-default-file"),
        pytest.param(
            "instance: {url}\naccess_token_file: ../private/token\n",
            ["--config", "config/bot.yaml"],
            "private/token",
            id="config-instance-and-file",
        ),
    ],
)
def test_login_finds_instance_and_file(
    server: MockServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: str | None,
    args: list[str],
    expected: str,
) -> None:
    """Without --token-file the token goes to the config's access_token_file (relative to the
    config), else to secrets/mastodon-token; without --instance the config's instance is used."""
    login = ["login", "--code", ALICE_CODE]
    if config is None:
        login += ["--instance", server.base_url]
    else:
        path = tmp_path / "config" / "bot.yaml"
        path.parent.mkdir()
        path.write_text(config.format(url=server.base_url), encoding="utf-8")

    assert main([*args, *login]) == 0

    token_file = tmp_path / expected
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = saved_token(token_file)
    assert Mastodon(access_token=token, api_base_url=server.base_url).me()["acct"] == "alice"
    out, err = capsys.readouterr()
    assert token not in out + err
    assert err == ""


@pytest.mark.parametrize(
    ("extra", "stdin", "exit_code", "message"),
    [
        pytest.param(
            ["--code", "mockcode_nobody"],
            "",
            1,
            "campaign-bot: the instance did not accept that code (mistyped, expired or already "
            "used): run `campaign-bot login` again and paste the new code it shows",
            id="wrong-code",
        ),
        pytest.param(
            [],
            "not-a-code\n",
            1,
            "campaign-bot: the instance did not accept that code (mistyped, expired or already "
            "used): run `campaign-bot login` again and paste the new code it shows",
            id="wrong-code-on-stdin",
        ),
        pytest.param([], "\n", 2, "campaign-bot: no code given", id="no-code"),
    ],
)
def test_login_refused_code_writes_nothing(
    server: MockServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    stdin: str,
    exit_code: int,
    message: str,
) -> None:
    """A code the instance refuses (or none) ends in one line on stderr, a non-zero exit and no
    token file."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    token_file = tmp_path / "secrets" / "mastodon-token"

    code = main(["login", "--instance", server.base_url, "--token-file", str(token_file), *extra])

    assert code == exit_code
    assert capsys.readouterr().err == message + "\n"
    assert not token_file.exists()


def test_login_unwritable_token_file(
    server: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token file that cannot be written is a one-line error naming the path, exit 1."""
    in_the_way = tmp_path / "token-is-a-folder"
    in_the_way.mkdir()

    args = ["--instance", server.base_url, "--token-file", str(in_the_way), "--code", ALICE_CODE]

    code = main(["login", *args])

    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"campaign-bot: cannot write the token file {in_the_way} — ")
    assert err.count("\n") == 1
    # Checked before an application is registered and its approval asked for.
    assert "Open this address" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "instance",
    ["http://mastodon.example", "http://192.0.2.10:3000", "http://localhost.example.org"],
)
def test_login_refuses_plain_http_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], instance: str
) -> None:
    """Plain http:// to anything but a loopback address is refused before any request."""
    token_file = tmp_path / "token"
    # Nothing is registered: any request would be recorded and refused, never sent.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        code = main(["login", "--instance", instance, "--token-file", str(token_file)])
        assert len(wire.calls) == 0

    assert code == 2
    assert capsys.readouterr().err == (
        f"campaign-bot: {instance}: plain http:// would send the access token unencrypted; use "
        "the instance's https:// address (http:// is allowed only for 127.0.0.1, ::1 and "
        "localhost)\n"
    )
    assert not token_file.exists()
