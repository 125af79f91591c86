"""`campaign-bot doctor` against a mastodon_mock sandbox: all checks pass on a healthy set-up, and
each failure is one line saying what is wrong and what to do, with exit code 1."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import responses
from conftest import ALICE_CODE
from mastodon import Mastodon, MastodonAPIError
from mastodon_mock.config import AuthConfig, MastodonMockConfig
from mastodon_mock.testing import DEFAULT_TEST_SEED, MockServer

from bot.cli.main import main
from bot.core.clock import SystemClock
from bot.service.doctor import NEEDED_SCOPES, run_checks, scope_missing

VALID_POSTS = """\
posts:
  - id: hello
    at: 2030-01-07 10:00
    text: Hello from the doctor tests.
"""
CHECKS_IN_ORDER = [
    "config",
    "instance",
    "token",
    "scopes",
    "clock",
    "limits",
    "posts",
    "data_dir",
    "ledger",
]
LINE = re.compile(r"^(?P<mark>[✓✗?]) (?P<name>\w+): (?P<rest>.*)$")


def app_token(server: MockServer, scopes: Sequence[str]) -> str:
    """A token of alice for a new application registered with these scopes (the OAuth flow)."""
    client_id, secret = Mastodon.create_app(
        "doctor-tests", scopes=list(scopes), api_base_url=server.base_url
    )
    api = Mastodon(client_id=client_id, client_secret=secret, api_base_url=server.base_url)
    return str(api.log_in(code=ALICE_CODE, scopes=list(scopes), allow_http=True))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Site:
    """A campaign folder (config, posts, data, token file) pointed at a sandbox."""

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

    @property
    def posts_dir(self) -> Path:
        return self.root / "posts"

    def write_config(self, **settings: object) -> None:
        body: dict[str, object] = {
            "instance": self.server.base_url,
            "access_token_file": "../secrets/mastodon-token",
            "timezone": "Europe/London",
            "posts_dir": "../posts",
            "data_dir": "../data",
            **settings,
        }
        self.config.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            f"{key}: {json.dumps(value)}\n" for key, value in body.items() if value is not None
        ]
        self.config.write_text("".join(lines), encoding="utf-8")

    def write_token(self, token: str) -> None:
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        self.token_file.write_text(token + "\n", encoding="utf-8")
        self.token_file.chmod(0o600)

    @property
    def instance(self) -> str:
        found = re.search(r'^instance: "(.*)"$', self.config.read_text("utf-8"), re.MULTILINE)
        return found[1] if found else ""


@pytest.fixture
def site(tmp_path: Path, server: MockServer) -> Site:
    """A healthy set-up: a valid config and post, and a token made the way `login` makes it."""
    made = Site(tmp_path / "campaign", server)
    made.write_config()
    made.posts_dir.mkdir(parents=True)
    (made.posts_dir / "posts.yaml").write_text(VALID_POSTS, encoding="utf-8")
    made.write_token(app_token(server, NEEDED_SCOPES))
    return made


@dataclass
class Report:
    code: int
    checks: list[tuple[str, str, str]]  # (mark, name, rest of the line)
    summary: str


def doctor(site: Site, capsys: pytest.CaptureFixture[str]) -> Report:
    """`campaign-bot --config ... doctor`, with every request outside 127.0.0.1 refused and
    recorded (none may be made)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        wire.add_passthru(re.compile(r"http://127\.0\.0\.1:\d+/"))
        code = main(["--config", str(site.config), "doctor"])
        urls = [str(call.request.url) for call in wire.calls]
    outside = [url for url in urls if not url.startswith("http://127.0.0.1:")]
    assert outside == []
    out = capsys.readouterr().out
    *lines, summary = out.splitlines()
    checks = []
    for line in lines:
        parsed = LINE.match(line)
        assert parsed is not None, f"not a check line: {line!r}"
        checks.append((parsed["mark"], parsed["name"], parsed["rest"]))
    return Report(code, checks, summary)


def test_healthy_sandbox_passes_every_check(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """On a healthy set-up every check is ✓, in the documented order, and doctor exits 0."""
    report = doctor(site, capsys)

    assert [name for _, name, _ in report.checks] == CHECKS_IN_ORDER
    assert [mark for mark, _, _ in report.checks] == ["✓"] * len(CHECKS_IN_ORDER)
    assert report.summary == "all checks passed"
    assert report.code == 0
    details = {name: rest for _, name, rest in report.checks}
    assert details["token"] == "valid, for @alice"
    assert details["scopes"] == " ".join(sorted(NEEDED_SCOPES))
    assert details["limits"] == f"read from {site.server.base_url}"
    assert details["posts"] == "1 post valid in 1 file"


def _wrong_url(site: Site) -> None:
    site.write_config(instance=f"http://127.0.0.1:{free_port()}")


def _plain_http(site: Site) -> None:
    site.write_config(instance="http://mastodon.example")


def _bad_token(site: Site) -> None:
    site.write_token("not-a-token-the-instance-knows-0123456789")


def _no_token(site: Site) -> None:
    site.write_config(access_token_file=None)
    site.token_file.unlink()


def _missing_token_file(site: Site) -> None:
    site.token_file.unlink()


def _scope_missing(site: Site) -> None:
    site.write_token(app_token(site.server, ["read:accounts", "read:statuses", "write:statuses"]))


def _data_dir_is_a_file(site: Site) -> None:
    site.data_dir.write_text("not a folder\n", encoding="utf-8")


def _data_dir_under_a_file(site: Site) -> None:
    (site.root / "blocker").write_text("not a folder\n", encoding="utf-8")
    site.write_config(data_dir="../blocker/data")


def _invalid_post(site: Site) -> None:
    (site.posts_dir / "typo.yaml").write_text(
        "posts:\n  - id: typo\n    at: 2030-01-08 10:00\n    txt: Hello\n", encoding="utf-8"
    )


def _broken_ledger(site: Site) -> None:
    site.data_dir.mkdir()
    (site.data_dir / "ledger.sqlite3").write_bytes(b"this is not a database\n" * 200)


def _bad_config(site: Site) -> None:
    site.write_config(timezone="Europe/Londn")


UNREACHABLE_LIMITS = (
    r"Mastodon's defaults \({instance} unreachable, nothing cached\) — the instance's limits "
    r"could not be read; validation uses defaults"
)
NOT_A_FOLDER = (
    r"{data} is not a folder \(a file is in the way\) — move that file away, or point "
    r"`data_dir:` at a folder"
)
BROKEN_LEDGER = (
    r"{data}/ledger\.sqlite3: not a usable campaign-bot ledger \(file is not a database\).*"
)

FAILURES = [
    pytest.param(
        _wrong_url,
        {
            "instance": r"{instance}: could not reach the instance for the "
            r"instance information request: 127\.0\.0\.1:\d+ refused the connection — check the "
            r"address, DNS and "
            r"the server's firewall",
            "limits": UNREACHABLE_LIMITS,
        },
        id="wrong-url",
    ),
    pytest.param(
        _plain_http,
        {
            "config": r"{config}:1:11: error: instance: 'http://mastodon\.example': plain http:// "
            r"would send the access token unencrypted; use the instance's https:// address "
            r"\(http:// is allowed only for 127\.0\.0\.1, ::1 and localhost\) — fix the config "
            r"file, then run doctor again",
        },
        id="plain-http",
    ),
    pytest.param(
        _bad_token,
        {
            "token": r"the instance rejected the access token \(401\): [^—]+ — the token is wrong, "
            r"revoked or expired; create a new one under Preferences → Development and put it in "
            r"the configuration — or run `campaign-bot login`",
        },
        id="bad-token",
    ),
    pytest.param(
        _no_token,
        {
            "token": r"no access token — run `campaign-bot login`, or set MASTODON_ACCESS_TOKEN "
            r"or access_token_file",
        },
        id="no-token",
    ),
    pytest.param(
        _missing_token_file,
        {
            "token": r"cannot read the token file {token_file}: No such file or directory — check "
            r"the path and that the bot's user can read it",
        },
        id="token-file-missing",
    ),
    pytest.param(
        _scope_missing,
        {
            "scopes": r"the token lacks write:media — create a token with the scopes listed in the "
            r"README \(Preferences → Development\), or run `campaign-bot login`",
        },
        id="scope-missing",
    ),
    pytest.param(_data_dir_is_a_file, {"data_dir": NOT_A_FOLDER}, id="data-dir-is-a-file"),
    pytest.param(
        _data_dir_under_a_file,
        {"data_dir": NOT_A_FOLDER.replace("{data}", "{root}/blocker/data")},
        id="data-dir-under-a-file",
    ),
    pytest.param(
        _invalid_post,
        {
            "posts": r"1 problem, first: \S*typo\.yaml:4:5: error: posts\[0\]\.txt: unknown key "
            r"'txt' — did you mean `text`\? — run `campaign-bot validate` and fix them",
        },
        id="invalid-post",
    ),
    pytest.param(
        _broken_ledger,
        {
            "posts": r"could not be checked: " + BROKEN_LEDGER + " — see the ledger check below",
            "ledger": r"{data}/ledger\.sqlite3: the ledger is damaged or not a ledger \(file is "
            r"not a database\) — publishing is stopped so that nothing is posted twice; put a good "
            r"copy back with `campaign-bot ledger restore` .*`campaign-bot ledger rebuild`",
        },
        id="broken-ledger",
    ),
    pytest.param(
        _bad_config,
        {
            "config": r"{config}:\d+:\d+: error: timezone: unknown time zone 'Europe/Londn' — "
            r"use an IANA zone name such as .* — fix the config file, then run doctor again",
        },
        id="bad-config",
    ),
]


@pytest.mark.parametrize(("break_it", "expected"), FAILURES)
def test_each_failure_is_named_with_its_fix(
    site: Site,
    capsys: pytest.CaptureFixture[str],
    break_it: Callable[[Site], None],
    expected: dict[str, str],
) -> None:
    """Each broken precondition fails exactly its own checks, each as one line with the reason
    and what to do, and doctor exits 1."""
    break_it(site)

    report = doctor(site, capsys)

    failed = {name: rest for mark, name, rest in report.checks if mark == "✗"}
    assert sorted(failed) == sorted(expected)
    places = {
        "instance": re.escape(site.instance),
        "data": re.escape(str(site.data_dir)),
        "root": re.escape(str(site.root)),
        "token_file": re.escape(str(site.config.parent / "../secrets/mastodon-token")),
        "config": re.escape(str(site.config)),
    }
    for name, pattern in expected.items():
        assert re.fullmatch(pattern.format(**places), failed[name]), (name, failed[name])
    many = len(expected) > 1
    assert report.summary == (f"{len(expected)} checks failed" if many else "1 check failed")
    assert report.code == 1


def test_plain_http_is_refused_before_any_request(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plain http:// instance that is not loopback gets no request at all, not even for its
    limits, so the token never travels in clear."""
    _plain_http(site)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        code = main(["--config", str(site.config), "doctor"])
        assert len(wire.calls) == 0
    assert code == 1
    out = capsys.readouterr().out
    assert "✗ config: " in out
    assert "'http://mastodon.example': plain http:// would send the access token unencrypted" in out


@pytest.fixture
def strict_server() -> Iterator[MockServer]:
    """A sandbox that answers 403 to a write made with a token lacking the write scope."""
    config = MastodonMockConfig(seed=DEFAULT_TEST_SEED, auth=AuthConfig(enforce_scopes=True))
    with MockServer(config=config) as started:
        yield started


def test_read_only_token_is_caught_before_publishing(
    tmp_path: Path, strict_server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only token fails the scopes check, naming the missing write scopes — the same
    token the instance then refuses to post with."""
    site = Site(tmp_path / "campaign", strict_server)
    site.write_config()
    site.posts_dir.mkdir(parents=True)
    (site.posts_dir / "posts.yaml").write_text(VALID_POSTS, encoding="utf-8")
    token = app_token(strict_server, ["read"])
    site.write_token(token)

    report = doctor(site, capsys)

    failed = [(name, rest) for mark, name, rest in report.checks if mark == "✗"]
    assert failed == [
        (
            "scopes",
            "the token lacks write:statuses write:media — create a token with the scopes listed "
            "in the README (Preferences → Development), or run `campaign-bot login`",
        )
    ]
    assert report.code == 1
    with pytest.raises(MastodonAPIError, match="outside the authorized scopes"):
        Mastodon(access_token=token, api_base_url=strict_server.base_url).status_post("hello")


def test_token_without_application_is_not_contradicted(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid token whose application the instance will not describe is not failed: the scopes
    are reported as unlisted, with "?" — a check that could not be made, not a pass — and the
    token is not reported as rejected after being accepted."""
    site.write_token("alice_token")  # a seeded token, not tied to any application

    report = doctor(site, capsys)

    lines = {name: (mark, rest) for mark, name, rest in report.checks}
    assert [name for _, name, _ in report.checks] == CHECKS_IN_ORDER
    assert lines["token"] == ("✓", "valid, for @alice")
    assert lines["scopes"] == (
        "?",
        "the instance does not list the token's scopes (HTTP 401) — publishing will tell; check "
        "the token's scopes in the instance's web interface",
    )
    assert [mark for mark, _, _ in report.checks].count("?") == 1
    assert report.summary == "no check failed; 1 could not be made (marked ?)"
    assert report.code == 0


class OffsetClock(SystemClock):
    """The real time moved by `offset`. The instance's Date header is real time too, so the skew
    doctor sees is the offset (give or take the header's whole second), however long the checks
    before it took; a clock stopped at the test's start would add that time."""

    def __init__(self, offset: timedelta) -> None:
        super().__init__()
        self.offset = offset

    def now(self) -> datetime:
        return super().now() + self.offset


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(0), True),
        (timedelta(seconds=45), True),
        (timedelta(minutes=5), False),
        (timedelta(minutes=-5), False),
    ],
)
def test_clock_check(site: Site, offset: timedelta, ok: bool) -> None:
    """The clock passes within a minute of the instance's Date header and fails beyond it, with
    what to do."""
    clock = OffsetClock(offset)

    checks = {c.name: c for c in run_checks(site.config, {}, clock)}

    check = checks["clock"]
    assert check.ok is ok
    seconds = int(check.detail.split(" s ")[0])
    assert abs(seconds - abs(offset.total_seconds())) <= 2
    if not ok:
        assert check.render().endswith(
            "s from the instance's clock — set up NTP (e.g. systemd-timesyncd) so posts go out "
            "on time"
        )
    assert all(c.ok for name, c in checks.items() if name != "clock")


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        (NEEDED_SCOPES, []),
        (("read", "write"), []),
        (("profile", "read:statuses", "write"), []),
        (("write:statuses", "write:media"), ["read:accounts", "read:statuses"]),
        (("profile", "write:statuses"), ["write:media", "read:statuses"]),
        (("read",), ["write:statuses", "write:media"]),
        (("follow", "push"), list(NEEDED_SCOPES)),
    ],
)
def test_scope_missing(granted: tuple[str, ...], missing: list[str]) -> None:
    """`write`/`read` cover their sub-scopes and `profile` covers the account check."""
    assert [s for s in NEEDED_SCOPES if scope_missing(granted, s)] == missing


def test_every_account_is_checked(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """With `accounts:`, instance, token, scopes, clock and limits are checked for each account,
    each check naming it; a partner without a usable token fails with the way to fix it."""
    site.write_config(
        instance=None,
        access_token_file=None,
        accounts={
            "lead": {
                "instance": site.server.base_url,
                "access_token_file": "../secrets/mastodon-token",
            },
            "partner": {"instance": site.server.base_url, "access_token_file": "../secrets/none"},
        },
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as wire:
        wire.add_passthru(re.compile(r"http://127\.0\.0\.1:\d+/"))
        code = main(["--config", str(site.config), "doctor"])
    out = capsys.readouterr().out
    assert code == 1
    assert "✓ token (lead): valid, for @alice" in out
    assert "✓ scopes (lead):" in out
    assert "✓ instance (partner):" in out
    assert "✗ token (partner): cannot read the token file" in out
    assert "✓ limits (partner): read from" in out


def _publish_hello(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """`campaign-bot publish hello`: the campaign's post is on the account, and in the ledger."""
    assert main(["--config", str(site.config), "publish", "hello"]) == 0
    capsys.readouterr()


def test_deleted_ledger_is_reported_when_the_campaign_is_on_the_account(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: after `rm` of the ledger, doctor said all checks passed. It now says the ledger
    was lost, since the account already has the campaign's post, and what to run."""
    _publish_hello(site, capsys)
    for leftover in site.data_dir.glob("ledger.sqlite3*"):
        leftover.unlink()

    report = doctor(site, capsys)

    failed = {name: rest for mark, name, rest in report.checks if mark == "✗"}
    assert failed == {
        "ledger": f"{site.data_dir}/ledger.sqlite3 is missing, but the account already has 1 "
        "posts of this campaign (hello): it was lost — `campaign-bot ledger rebuild` recovers it "
        "from the account's posts"
    }
    assert report.code == 1
    assert not (site.data_dir / "ledger.sqlite3").exists()  # doctor made no new, empty one


def test_fresh_set_up_without_a_ledger_passes(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the first run there is no ledger, and nothing of the campaign on the account."""
    report = doctor(site, capsys)

    lines = {name: (mark, rest) for mark, name, rest in report.checks}
    assert lines["ledger"] == ("✓", f"no ledger yet in {site.data_dir}; the first run makes it")
    assert report.code == 0
    assert not (site.data_dir / "ledger.sqlite3").exists()


def test_zero_byte_ledger_is_damaged(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """Tried: `: > data/ledger.sqlite3` went unnoticed. doctor now calls the file damaged."""
    _publish_hello(site, capsys)
    (site.data_dir / "ledger.sqlite3").write_bytes(b"")

    report = doctor(site, capsys)

    failed = {name: rest for mark, name, rest in report.checks if mark == "✗"}
    assert failed["ledger"].startswith(
        f"{site.data_dir}/ledger.sqlite3: the ledger is empty (zero bytes): its records are "
        "gone — publishing is stopped"
    )
    assert report.code == 1


def test_token_of_another_account_is_reported(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: with a token for another account doctor said all checks passed. It now names both
    accounts and the way to move the ledger on purpose."""
    _publish_hello(site, capsys)
    site.write_token("bob_token")

    report = doctor(site, capsys)

    failed = {name: rest for mark, name, rest in report.checks if mark == "✗"}
    assert list(failed) == ["ledger"]
    assert re.fullmatch(
        r"the ledger belongs to @alice \(account id \w+\) on http://127\.0\.0\.1:\d+, but the "
        r"token is for @bob \(account id \w+\) on http://127\.0\.0\.1:\d+ — use @alice's token, "
        r"or `campaign-bot ledger rebind` if the campaign has moved",
        failed["ledger"],
    )
