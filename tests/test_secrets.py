"""The access token stays secret: a token file others can read is warned about, and no command's
output, log line, --json document, crash report or --debug traceback ever contains the token."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ALICE_CODE
from mastodon import Mastodon
from mastodon_mock.testing import MockServer

from bot.cli.main import main
from bot.config.settings import BASE_URL_ENV, CONFIG_ENV, TOKEN_ENV, TOKEN_FILE_ENV
from bot.mastodon.client import MastodonClient
from bot.service import logs
from bot.service.doctor import NEEDED_SCOPES

LEAK = "the proxy echoed the request: Authorization: Bearer {token}"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def app_token(server: MockServer) -> str:
    """A token of alice for an application with the bot's scopes (the OAuth flow)."""
    client_id, secret = Mastodon.create_app(
        "secrets-tests", scopes=list(NEEDED_SCOPES), api_base_url=server.base_url
    )
    api = Mastodon(client_id=client_id, client_secret=secret, api_base_url=server.base_url)
    return str(api.log_in(code=ALICE_CODE, scopes=list(NEEDED_SCOPES), allow_http=True))


@dataclass
class Site:
    """A campaign with one post due a minute ago and one next week, for a sandbox."""

    root: Path
    server: MockServer

    @property
    def config(self) -> Path:
        return self.root / "config" / "bot.yaml"

    @property
    def token_file(self) -> Path:
        return self.root / "secrets" / "mastodon-token"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"


@pytest.fixture
def site(tmp_path: Path, server: MockServer) -> Site:
    made = Site(tmp_path / "campaign", server)
    made.config.parent.mkdir(parents=True)
    made.config.write_text(
        f"instance: {server.base_url}\n"
        "access_token_file: ../secrets/mastodon-token\n"
        "timezone: Europe/London\nposts_dir: ../posts\ndata_dir: ../data\n",
        encoding="utf-8",
    )
    now = datetime.now(UTC)
    posts = [
        {"id": "due-now", "at": stamp(now - timedelta(minutes=1)), "text": "Due a minute ago."},
        {"id": "next-week", "at": stamp(now + timedelta(days=7)), "text": "Due next week."},
    ]
    posts_file = made.root / "posts" / "posts.yaml"
    posts_file.parent.mkdir()
    posts_file.write_text(
        "posts:\n" + "".join(f"  - {json.dumps(p)}\n" for p in posts), encoding="utf-8"
    )
    return made


@pytest.mark.parametrize(
    ("mode", "warned"),
    [(0o600, False), (0o400, False), (0o640, True), (0o604, True), (0o644, True)],
)
@pytest.mark.parametrize("named_by", ["config", "environment"])
def test_token_file_readable_by_others_is_warned_about(
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    mode: int,
    warned: bool,
    named_by: str,
) -> None:
    """A token file that group or others may read gets a warning with the chmod to run, whether
    the config or MASTODON_ACCESS_TOKEN_FILE names it; a private one gets none."""
    token_file = site.token_file
    if named_by == "environment":
        token_file = site.root / "docker-secret"
        monkeypatch.setenv(TOKEN_FILE_ENV, str(token_file))
    token_file.parent.mkdir(exist_ok=True)
    token_file.write_text(app_token(site.server) + "\n", encoding="utf-8")
    token_file.chmod(mode)

    assert main(["--config", str(site.config), "doctor"]) == 0

    shown = token_file
    if named_by == "config":  # as the config names it: relative to the config's folder
        shown = site.config.parent.resolve() / "../secrets/mastodon-token"
    warning = f"the token file {shown} can be read by other users; run: chmod 600 {shown}"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    err = capsys.readouterr().err
    if warned:
        assert warnings == [warning]
        assert f" warning {warning}\n" in err
    else:
        assert warnings == []
        assert "can be read by other users" not in err


@dataclass
class Captured:
    command: str
    code: int
    out: str
    err: str


@pytest.mark.parametrize(
    ("source", "global_args"),
    [
        ("file", []),
        ("env", ["--debug"]),
        ("env-file", ["--log-format", "json"]),
        ("file", ["--debug", "--log-format", "json"]),
    ],
)
def test_token_never_in_any_output(
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    source: str,
    global_args: list[str],
) -> None:
    """login, validate, plan, run --once, publish, status (text and --json), doctor and health
    print and log everything they should, and the token nowhere — nor in the data folder."""
    captured: list[Captured] = []

    def run(*args: str) -> Captured:
        code = main([*global_args, "--config", str(site.config), *args])
        out, err = capsys.readouterr()
        captured.append(Captured(" ".join(args), code, out, err))
        return captured[-1]

    monkeypatch.setattr(sys, "stdin", io.StringIO(ALICE_CODE + "\n"))
    assert run("login").code == 0
    token = site.token_file.read_text(encoding="utf-8").strip()
    if source != "file":
        site.token_file.rename(site.root / "elsewhere")
        if source == "env":
            monkeypatch.setenv(TOKEN_ENV, token)
        else:
            monkeypatch.setenv(TOKEN_FILE_ENV, str(site.root / "elsewhere"))

    assert run("validate").code == 0
    assert "next-week" in run("plan").out
    assert run("run", "--once").code == 0
    assert run("publish", "next-week").code == 0
    status = json.loads(run("status", "--json").out)
    assert sorted(o["state"] for o in status["occurrences"]) == ["published", "published"]
    assert all(o["urls"] for o in status["occurrences"])
    assert "published" in run("status").out
    assert run("doctor").code == 0
    assert run("health").code == 1  # no daemon is running
    assert run("publish", "due-now").code == 1  # already published: an error line

    assert caplog.records, "the commands logged what they did"
    for each in captured:
        assert each.out or each.err, f"{each.command} printed nothing"
        assert token not in each.out, each.command
        assert token not in each.err, each.command
    assert token not in caplog.text
    for path in site.data_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("args", "target"),
    [
        pytest.param(["run", "--once"], "post_status", id="run-once"),
        pytest.param(["publish", "next-week"], "post_status", id="publish"),
        pytest.param(["doctor"], "verify_credentials", id="doctor"),
        pytest.param(
            ["login", "--instance", "{url}", "--token-file", "{root}/t", "--code", ALICE_CODE],
            "verify_credentials",
            id="login",
        ),
    ],
)
def test_crash_report_is_redacted(
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    target: str,
) -> None:
    """An unexpected exception whose message holds the token is reported on one line with the
    token replaced by [redacted], exit 70."""
    site.token_file.parent.mkdir()
    token = app_token(site.server)
    site.token_file.write_text(token + "\n", encoding="utf-8")
    site.token_file.chmod(0o600)
    leaked: list[str] = []

    def leak(self: MastodonClient, *args: object, **kwargs: object) -> None:
        # `login` makes its own token: leak whichever one this client holds.
        leaked.append(self._token)
        raise RuntimeError(LEAK.format(token=self._token))

    monkeypatch.setattr(MastodonClient, target, leak)
    filled = [a.format(url=site.server.base_url, root=site.root) for a in args]

    code = main(["--config", str(site.config), *filled])

    out, err = capsys.readouterr()
    assert code == 70
    assert leaked and leaked[0]
    assert err.splitlines()[-1] == (
        "campaign-bot: unexpected error: RuntimeError('the proxy echoed the request: "
        "Authorization: Bearer [redacted]') (run again with --debug for details, and please "
        "report it)"
    )
    assert leaked[0] not in out + err


CRASHING_SCRIPT = """\
import os
import sys

from bot.core import errors
from bot.mastodon import client as mastodon_api
from bot.cli.main import main


def leak(self, *args, **kwargs):
    raise getattr(errors, sys.argv[1], RuntimeError)(
        "the proxy echoed the request: Authorization: Bearer " + self._token
    )


mastodon_api.MastodonClient.verify_credentials = leak
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("raised", "exit_code", "last_line"),
    [
        pytest.param(
            "RuntimeError",
            1,
            "RuntimeError: the proxy echoed the request: Authorization: Bearer [redacted]",
            id="unexpected",
        ),
        pytest.param(
            "CampaignBotError",
            1,
            "campaign-bot: the proxy echoed the request: Authorization: Bearer [redacted]",
            id="expected",
        ),
    ],
)
def test_debug_traceback_is_redacted(
    site: Site, tmp_path: Path, raised: str, exit_code: int, last_line: str
) -> None:
    """With --debug the traceback is shown — with the token in its message redacted, whether
    Python prints it (an unexpected error) or the log does (an expected one)."""
    token = app_token(site.server)
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_SCRIPT, encoding="utf-8")
    outside = (TOKEN_ENV, TOKEN_FILE_ENV, BASE_URL_ENV, CONFIG_ENV)
    env = {k: v for k, v in os.environ.items() if k not in outside} | {TOKEN_ENV: token}

    done = subprocess.run(
        [sys.executable, str(script), raised, "--debug", "--config", str(site.config), "doctor"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == exit_code, done.stderr
    assert "Traceback (most recent call last):" in done.stderr
    assert done.stderr.rstrip("\n").splitlines()[-1] == last_line
    assert token not in done.stdout
    assert token not in done.stderr


def test_redaction_survives_every_log_format(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A registered secret logged in a message, its arguments or an exception is redacted in
    text and JSON lines alike."""
    secret = "s3cret-token-value-0123456789"
    logs.register_secret(secret)
    for fmt in ("text", "json"):
        logs.configure(fmt=fmt)
        logger = logging.getLogger("bot.test")
        logger.warning("token %s", secret)
        logger.warning(f"token {secret} inline")
        try:
            raise ValueError(secret)
        except ValueError:
            logger.exception("failed with %r", secret)
        err = capsys.readouterr().err
        assert secret not in err
        assert err.count("[redacted]") >= 4
