"""The files through which an operator and the daemon talk (pause switch, heartbeat), and the
`pause`, `resume` and `health` commands built on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli.control_commands import health_problem
from bot.cli.main import main
from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.service.app import App
from bot.storage import control
from bot.storage.ledger import Ledger
from bot.storage.lock import RunLock

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
# What the daemon records when the instance refuses the token (bot.mastodon.errors).
REJECTED = (
    "the instance rejected the access token (401): The access token is invalid — the token is "
    "wrong, revoked or expired; create a new one under Preferences → Development and put it in "
    "the configuration"
)


def beat(at: datetime, **changes: object) -> control.Heartbeat:
    fields: dict[str, object] = {
        "at": at.isoformat(),
        "pid": os.getpid(),
        "paused": False,
        "token_rejected": None,
        "scheduled": 3,
        "next_post": (at + timedelta(hours=1)).isoformat(),
        "dry_run": False,
    }
    fields.update(changes)
    return control.Heartbeat(**fields)  # type: ignore[arg-type]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text('timezone: "Europe/London"\ndata_dir: "data"\n')
    (tmp_path / "posts").mkdir()
    return path


@pytest.fixture
def data_dir(config: Path) -> Path:
    return config.parent / "data"


def test_pause_and_resume_through_the_file(tmp_path: Path) -> None:
    """`pause` creates the switch (and its folder) with the reason; `resume` removes it once."""
    data = tmp_path / "not-yet" / "data"
    assert not control.is_paused(data)
    control.pause(data, "fixing a typo", NOW)
    assert control.is_paused(data)
    assert control.pause_path(data).read_text() == f"paused at {NOW.isoformat()}: fixing a typo\n"
    assert control.resume(data) is True
    assert not control.is_paused(data)
    assert control.resume(data) is False


def test_the_pause_switch_is_the_file_paused_in_data_dir(tmp_path: Path) -> None:
    """The switch is `data_dir/PAUSED`, as the README tells operators: made by hand, it pauses."""
    control.pause(tmp_path, "by command", NOW)
    assert [p.name for p in tmp_path.iterdir()] == ["PAUSED"]
    control.resume(tmp_path)
    (tmp_path / "PAUSED").write_text("")
    assert control.is_paused(tmp_path)


def test_pause_reason_is_the_file_on_one_line_or_plain_paused(tmp_path: Path) -> None:
    """What `status` and the daemon show: the file's words on one line, cut at 200 characters;
    a missing or blank file reads as "paused"."""
    assert control.pause_reason(tmp_path) == "paused"
    control.pause(tmp_path, "fixing\n  a typo\tin launch", NOW)
    assert control.pause_reason(tmp_path) == f"paused at {NOW.isoformat()}: fixing a typo in launch"
    control.pause_path(tmp_path).write_text("x" * 150 + "\n\n" + "y" * 150, encoding="utf-8")
    assert control.pause_reason(tmp_path) == "x" * 150 + " " + "y" * 49
    control.pause_path(tmp_path).write_text(" \n\t\n", encoding="utf-8")
    assert control.pause_reason(tmp_path) == "paused"


def test_nudge_creates_its_folder_and_changes_each_time(tmp_path: Path) -> None:
    """A nudge in a data_dir not made yet creates it, parents included; each nudge is seen."""
    data = tmp_path / "not-yet" / "data"
    assert control.nudged_at(data) is None
    control.nudge(data)
    first = control.nudged_at(data)
    assert first is not None
    os.utime(data / control.NUDGE_FILE, ns=(1, 1))
    control.nudge(data)
    assert control.nudged_at(data) not in (None, 1)


def test_heartbeat_creates_its_folder(tmp_path: Path) -> None:
    """The first heartbeat of a new data_dir creates the folder, parents included."""
    data = tmp_path / "not-yet" / "data"
    control.write_heartbeat(data, beat(NOW))
    assert control.read_heartbeat(data) == beat(NOW)


def test_heartbeat_round_trip_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A heartbeat reads back as written, replaced atomically, and is gone once cleared."""
    control.write_heartbeat(tmp_path, beat(NOW))
    control.write_heartbeat(tmp_path, beat(NOW + timedelta(seconds=15), paused=True))
    assert control.read_heartbeat(tmp_path) == beat(NOW + timedelta(seconds=15), paused=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [control.HEARTBEAT_FILE]
    control.clear_heartbeat(tmp_path)
    control.clear_heartbeat(tmp_path)
    assert control.read_heartbeat(tmp_path) is None


@pytest.mark.parametrize(
    "content", ["", "{not json", "[]", json.dumps({"at": "x"}), json.dumps({"unknown": 1})]
)
def test_unreadable_heartbeat_reads_as_none(tmp_path: Path, content: str) -> None:
    """A damaged or foreign heartbeat file counts as no heartbeat, never as a crash."""
    (tmp_path / control.HEARTBEAT_FILE).write_text(content)
    assert control.read_heartbeat(tmp_path) is None


def _stuck_for(data_dir: Path, minutes: float) -> None:
    since = NOW - timedelta(minutes=minutes)
    with Ledger.open(data_dir / "ledger.sqlite3", FakeClock(since)) as ledger:
        ledger.begin_attempt("slow-post", "slow-post", since, "h")


@pytest.mark.parametrize(
    ("age", "changes", "stuck_minutes", "expected"),
    [
        (timedelta(seconds=5), {}, None, None),
        (timedelta(seconds=89), {}, None, None),
        (
            timedelta(seconds=91),
            {},
            None,
            "the heartbeat is 91 s old: the bot has stopped or hangs",
        ),
        (
            timedelta(seconds=5),
            {"token_rejected": REJECTED},
            None,
            REJECTED,
        ),
        (timedelta(seconds=5), {}, 9, None),
        (
            timedelta(seconds=5),
            {},
            11,
            "1 post stuck in `sending` for over 0:10:00: slow-post",
        ),
        (timedelta(seconds=5), {"paused": True}, None, None),
    ],
)
def test_health_problem(
    config: Path,
    data_dir: Path,
    age: timedelta,
    changes: dict[str, object],
    stuck_minutes: float | None,
    expected: str | None,
) -> None:
    """Healthy needs a fresh heartbeat, an accepted token and nothing stuck in `sending`."""
    control.write_heartbeat(data_dir, beat(NOW - age, **changes))
    if stuck_minutes is not None:
        _stuck_for(data_dir, stuck_minutes)
    app = App(load_settings(config, env={}), clock=FakeClock(NOW), env={})
    assert health_problem(app) == expected


def test_health_without_heartbeat(config: Path, data_dir: Path) -> None:
    """No heartbeat file means the bot is not running."""
    app = App(load_settings(config, env={}), clock=FakeClock(NOW), env={})
    assert health_problem(app) == (f"no heartbeat in {data_dir}: is `campaign-bot run` running?")


@pytest.mark.parametrize(
    ("heartbeat", "code", "output"),
    [
        (None, 1, "unhealthy: no heartbeat in {data}: is `campaign-bot run` running?\n"),
        (
            {"paused": True, "scheduled": 2, "next_post": "2026-12-01T10:00:00+00:00"},
            0,
            "healthy: paused, 2 posts scheduled, next at 2026-12-01T10:00:00+00:00\n",
        ),
        (
            {"next_post": None, "scheduled": 0},
            0,
            "healthy: running, 0 posts scheduled, next at -\n",
        ),
    ],
)
def test_health_command_output(
    config: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    heartbeat: dict[str, object] | None,
    code: int,
    output: str,
) -> None:
    """`health` prints one line and exits 0 only when healthy."""
    if heartbeat is not None:
        control.write_heartbeat(data_dir, beat(datetime.now(UTC), **heartbeat))
    assert main(["--config", str(config), "health"]) == code
    assert capsys.readouterr().out == output.format(data=data_dir)


def test_pause_and_resume_commands(
    config: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pause --reason` writes the switch, `resume` removes it and says when it was not set."""
    assert main(["--config", str(config), "pause", "--reason", "press embargo"]) == 0
    assert control.pause_path(data_dir).read_text().endswith(": press embargo\n")
    assert capsys.readouterr().out.startswith("paused: nothing is published")
    assert main(["--config", str(config), "resume"]) == 0
    assert capsys.readouterr().out.startswith("resumed:")
    assert not control.is_paused(data_dir)
    assert main(["--config", str(config), "resume"]) == 0
    assert capsys.readouterr().out == "was not paused\n"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_health_of_a_killed_bot_is_unhealthy_at_once(config: Path, data_dir: Path) -> None:
    """Tried: after `kill -9` health said healthy for up to 90 s, until the heartbeat aged. The
    heartbeat's pid is now checked: a fresh heartbeat of a dead process is unhealthy."""
    pid = _dead_pid()
    control.write_heartbeat(data_dir, beat(NOW - timedelta(seconds=2), pid=pid))
    app = App(load_settings(config, env={}), clock=FakeClock(NOW), env={})
    assert health_problem(app) == (
        f"the bot that wrote the heartbeat (pid {pid}) is not running any more "
        "(killed 2 s ago or less)"
    )


def test_a_bot_holding_the_run_lock_is_alive_whatever_its_pid(config: Path, data_dir: Path) -> None:
    """In a container the pid may be another namespace's; the run lock still shows it runs."""
    control.write_heartbeat(data_dir, beat(NOW - timedelta(seconds=2), pid=_dead_pid()))
    app = App(load_settings(config, env={}), clock=FakeClock(NOW), env={})
    with RunLock.acquire(data_dir, "run", NOW):
        # `held_by_another` sees this process's own lock as held, as another process would.
        assert health_problem(app) is None


def test_health_names_failed_posts_in_its_line_and_json(
    config: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Failed posts do not make the bot unhealthy, but health names them, and --json lists
    them with the heartbeat."""
    with Ledger.open(data_dir / "ledger.sqlite3", FakeClock(NOW)) as ledger:
        ledger.begin_attempt("rejected", "rejected", NOW, "h")
        ledger.mark_failed("rejected", "422 too long")
    control.write_heartbeat(data_dir, beat(datetime.now(UTC)))
    assert main(["--config", str(config), "health"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("healthy: running, 3 posts scheduled")
    assert line.endswith("; 1 post failed (rejected): see `campaign-bot status`, then `retry`\n")
    assert main(["--config", str(config), "health", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["healthy"] is True
    assert body["reason"] is None
    assert body["failed"] == ["rejected"]
    assert body["heartbeat"]["pid"] == os.getpid()


def test_health_stays_healthy_during_an_outage_but_says_so(
    config: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An instance outage is not the bot's fault: `health` exits 0, and both its line and
    `--json` name the outage and how many posts wait."""
    outage = {
        "instance_unavailable_since": "2026-12-01T09:31:00+00:00",
        "last_answer": "502",
        "waiting": 3,
    }
    control.write_heartbeat(data_dir, beat(datetime.now(UTC), **outage))
    assert main(["--config", str(config), "health"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("healthy: running")
    assert line.endswith(
        "; instance unavailable since 2026-12-01 09:31 GMT (last answer: 502), 3 posts waiting\n"
    )
    assert main(["--config", str(config), "health", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["healthy"] is True
    assert body["reason"] is None
    assert body["instance"] == (
        "instance unavailable since 2026-12-01 09:31 GMT (last answer: 502), 3 posts waiting"
    )
    assert body["heartbeat"]["waiting"] == 3


def test_health_json_gives_the_reason_when_unhealthy(
    config: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "health", "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["healthy"] is False
    assert body["reason"].startswith("no heartbeat in ")
    assert body["instance"] == "unknown"
