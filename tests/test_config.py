"""Reading the operator's config: every mistake reported, paths, environment and the token."""

from __future__ import annotations

import logging
from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.config.settings import (
    DEFAULT_CONFIG,
    config_path,
    load_settings,
    read_access_token,
)
from bot.core.errors import ConfigError
from bot.schedule.slots import Slot


def write(tmp_path: Path, text: str, name: str = "config/bot.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env or {})
    return [p.render() for p in caught.value.problems]


BAD_CONFIGS = [
    pytest.param(
        "timezon: Europe/London\n",
        ["c.yaml:1:1: error: timezon: unknown key 'timezon' — did you mean `timezone`?"],
        id="unknown-key",
    ),
    pytest.param(
        "timezone: UTC\naccess_token: abc123\n",
        [
            "c.yaml:2:1: error: access_token: the access token must not be written in the config "
            "— remove it, and put it in a file named by `access_token_file:` (mode 0600) or in "
            "the MASTODON_ACCESS_TOKEN environment variable"
        ],
        id="token-in-config",
    ),
    pytest.param(
        "timezone: Europe/Londn\n",
        [
            "c.yaml:1:11: error: timezone: unknown time zone 'Europe/Londn' — use an IANA zone "
            "name such as `Europe/London` or `America/New_York`"
        ],
        id="bad-timezone",
    ),
    pytest.param(
        "slots:\n  - mon-fri 12:30\n  - funday 10:00\n  - sat 25:00\n  - sat\n",
        [
            "c.yaml:3:5: error: slots[1]: 'funday 10:00': unknown day 'funday' — write it like "
            "`mon-fri 09:30`, `daily 18:00`, `weekends 11:00` or `tue,thu 12:15`",
            "c.yaml:4:5: error: slots[2]: 'sat 25:00' has no such time of day — write it like "
            "`mon-fri 09:30`, `daily 18:00`, `weekends 11:00` or `tue,thu 12:15`",
            "c.yaml:5:5: error: slots[3]: 'sat' is not a slot — write it like `mon-fri 09:30`, "
            "`daily 18:00`, `weekends 11:00` or `tue,thu 12:15`",
        ],
        id="bad-slots",
    ),
    pytest.param(
        "catch_up: a while\n",
        [
            "c.yaml:1:11: error: catch_up: 'a while' is not a duration — write it like `30m`, "
            "`2h`, `1d`, `1w` or `1h30m`"
        ],
        id="bad-catch-up",
    ),
    pytest.param(
        "instance: mastodon.example\n",
        [
            "c.yaml:1:11: error: instance: 'mastodon.example' is not a URL — write it like "
            "`https://mastodon.example`"
        ],
        id="instance-not-a-url",
    ),
    pytest.param(
        "instance: http://mastodon.example\n",
        [
            "c.yaml:1:11: error: instance: 'http://mastodon.example': plain http:// would send "
            "the access token unencrypted; use the instance's https:// address (http:// is "
            "allowed only for 127.0.0.1, ::1 and localhost)"
        ],
        id="instance-plain-http",
    ),
    pytest.param(
        "instance: http://localhost.example.org\n",
        [
            "c.yaml:1:11: error: instance: 'http://localhost.example.org': plain http:// would "
            "send the access token unencrypted; use the instance's https:// address (http:// is "
            "allowed only for 127.0.0.1, ::1 and localhost)"
        ],
        id="instance-plain-http-lookalike",
    ),
    pytest.param(
        "limits:\n  max_charactrs: 1000\n",
        [
            "c.yaml:2:3: error: limits.max_charactrs: unknown key 'max_charactrs' — did you mean "
            "`max_characters`?"
        ],
        id="limits-typo",
    ),
    pytest.param(
        "defaults:\n  visibility: followers\n",
        [
            "c.yaml:2:15: error: defaults.visibility: 'followers' is not allowed — use one of "
            "'public', 'unlisted', 'private' or 'direct'"
        ],
        id="bad-default-visibility",
    ),
    pytest.param(
        "- timezone: UTC\n",
        ["c.yaml:1:1: error: the config must be a mapping of settings"],
        id="not-a-mapping",
    ),
    pytest.param(
        "timezone: UTC\ntimezone: Europe/London\n",
        [
            "c.yaml:2:1: error: duplicate key 'timezone' (first at line 1) — keep one of them",
        ],
        id="duplicate-key",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_config(tmp_path: Path, text: str, expected: list[str]) -> None:
    """Each config mistake is reported at its place, with the way to fix it."""
    assert problems(write(tmp_path, text, "c.yaml"), env={}) == [
        line.replace("c.yaml", str(tmp_path / "c.yaml"), 1) for line in expected
    ]


def test_missing_config_file(tmp_path: Path) -> None:
    """A config file that does not exist says how to create or point to one."""
    assert problems(tmp_path / "nowhere.yaml") == [
        f"{tmp_path / 'nowhere.yaml'}: error: config file not found — create it (see "
        "config/bot.yaml in the project) or pass --config / CAMPAIGN_BOT_CONFIG"
    ]


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """posts_dir, data_dir and access_token_file are found next to the config, not the cwd."""
    write(
        tmp_path,
        "posts_dir: ../campaign/posts\ndata_dir: state\naccess_token_file: ../secrets/token\n",
        "deploy/config/bot.yaml",
    )
    monkeypatch.chdir(tmp_path / "deploy")
    settings = load_settings(Path("config/bot.yaml"), env={})
    assert settings.posts_dir == tmp_path / "deploy" / "campaign" / "posts"
    assert settings.data_dir == tmp_path / "deploy" / "config" / "state"
    assert settings.access_token_file is not None
    assert settings.access_token_file.resolve() == tmp_path / "deploy" / "secrets" / "token"
    assert settings.ledger_path == tmp_path / "deploy" / "config" / "state" / "ledger.sqlite3"


def test_defaults_of_an_empty_config(tmp_path: Path) -> None:
    """An empty config is valid: UTC, folders beside it, an hour of catch-up, alt text required."""
    settings = load_settings(write(tmp_path, "", "c.yaml"), env={})
    assert settings.zone.key == "UTC"
    assert settings.posts_dir == tmp_path / "posts"
    assert settings.data_dir == tmp_path / "data"
    assert settings.catch_up == timedelta(hours=1)
    assert settings.request_timeout == 30.0
    assert settings.require_alt_text is True
    assert settings.slots == ()
    assert settings.instance is None
    assert settings.limit_overrides == {}


def test_settings_resolved(tmp_path: Path) -> None:
    """Zone, durations, slots and limit overrides are turned into values once."""
    text = (
        "timezone: Europe/London\ncatch_up: 1h30m\nslots: [mon-fri 12:30, weekends 10:00]\n"
        "limits: {max_characters: 1000, poll_with_media: true}\n"
    )
    settings = load_settings(write(tmp_path, text, "c.yaml"), env={})
    assert settings.zone.key == "Europe/London"
    assert settings.catch_up == timedelta(minutes=90)
    assert settings.slots == (
        Slot(frozenset(range(5)), time(12, 30)),
        Slot(frozenset({5, 6}), time(10, 0)),
    )
    assert settings.limit_overrides == {"max_characters": 1000, "poll_with_media": True}


@pytest.mark.parametrize(
    ("in_file", "in_env", "expected"),
    [
        ("https://a.example", None, "https://a.example"),
        ("https://a.example", "https://b.example/", "https://b.example"),
        (None, "https://b.example", "https://b.example"),
        (None, None, None),
    ],
)
def test_base_url_from_environment_wins(
    tmp_path: Path, in_file: str | None, in_env: str | None, expected: str | None
) -> None:
    """MASTODON_BASE_URL overrides `instance:`; a trailing slash is dropped."""
    text = f"instance: {in_file}\n" if in_file else ""
    env = {"MASTODON_BASE_URL": in_env} if in_env else {}
    assert load_settings(write(tmp_path, text, "c.yaml"), env=env).instance == expected


@pytest.mark.parametrize(
    "instance",
    [
        "http://127.0.0.1:3000",
        "http://127.8.9.10",
        "http://[::1]:8080",
        "http://localhost:3000",
        "http://LOCALHOST",
        "https://mastodon.example",
    ],
)
def test_plain_http_is_allowed_on_this_machine(tmp_path: Path, instance: str) -> None:
    """Loopback addresses (127.0.0.0/8, ::1, localhost) may use http://: sandboxes and tests."""
    path = write(tmp_path, f"instance: {instance}\n", "c.yaml")
    assert load_settings(path, env={}).instance == instance
    assert load_settings(path, env={"MASTODON_BASE_URL": instance}).instance == instance


def test_config_path_precedence() -> None:
    """--config wins over CAMPAIGN_BOT_CONFIG, which wins over config/bot.yaml."""
    env = {"CAMPAIGN_BOT_CONFIG": "env.yaml"}
    assert config_path("flag.yaml", env) == Path("flag.yaml")
    assert config_path(None, env) == Path("env.yaml")
    assert config_path(None, {}) == DEFAULT_CONFIG == Path("config/bot.yaml")


def test_token_from_environment_wins(tmp_path: Path) -> None:
    """MASTODON_ACCESS_TOKEN is used before the token file."""
    (tmp_path / "token").write_text("from-file\n")
    (tmp_path / "token").chmod(0o600)
    settings = load_settings(write(tmp_path, "access_token_file: token\n", "c.yaml"), env={})
    env = {"MASTODON_ACCESS_TOKEN": " from-env \n"}
    assert read_access_token(settings, env) == "from-env"
    assert read_access_token(settings, {}) == "from-file"


def test_token_file_first_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Only the first line of a token file is the token; a private file gives no warning."""
    (tmp_path / "token").write_text("\n  secret-token  \nhttps://mastodon.example\n")
    (tmp_path / "token").chmod(0o600)
    settings = load_settings(write(tmp_path, "access_token_file: token\n", "c.yaml"), env={})
    with caplog.at_level(logging.WARNING):
        assert read_access_token(settings, {}) == "secret-token"
    assert caplog.records == []


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_readable_token_file_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    """A token file other users can read still works, with a warning saying how to fix it."""
    token = tmp_path / "token"
    token.write_text("secret-token\n")
    token.chmod(mode)
    settings = load_settings(write(tmp_path, "access_token_file: token\n", "c.yaml"), env={})
    with caplog.at_level(logging.WARNING, logger="bot.config.settings"):
        assert read_access_token(settings, {}) == "secret-token"
    assert [r.getMessage() for r in caplog.records] == [
        f"the token file {token} can be read by other users; run: chmod 600 {token}"
    ]


def test_no_token_anywhere(tmp_path: Path) -> None:
    """Without the variable and without a token file there is no token (and no error)."""
    settings = load_settings(write(tmp_path, "", "c.yaml"), env={})
    assert read_access_token(settings, {}) is None


def test_unreadable_token_file(tmp_path: Path) -> None:
    """A token file that is missing is a config problem naming the file."""
    config = write(tmp_path, "access_token_file: missing-token\n", "c.yaml")
    settings = load_settings(config, env={})
    with pytest.raises(ConfigError) as caught:
        read_access_token(settings, {})
    assert [p.render() for p in caught.value.problems] == [
        f"{config}: error: access_token_file: cannot read the token file "
        f"{tmp_path / 'missing-token'}: No such file or directory — check the path and that the "
        "bot's user can read it"
    ]
