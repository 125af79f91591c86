"""The command line as people type it: negative durations as values, output cut short by a pipe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO, MakeCampaign

from bot.cli.main import build_parser


@pytest.mark.parametrize("command", ["plan", "calendar", "rehearse"])
@pytest.mark.parametrize("value", ["-2d", "-1h30m", "-45m", "-1w"])
def test_negative_durations_are_values(command: str, value: str) -> None:
    """`--from -2d`, the form the README shows, is read like `--from=-2d`, in every command that
    takes a window, for --from and --until alike."""
    args = build_parser().parse_args([command, "--from", value, "--until", value])
    assert (args.start, args.end) == (value, value)


def test_plan_from_a_negative_duration(make_campaign: MakeCampaign) -> None:
    """`plan --from -2d` runs and shows the window from two days ago."""
    campaign = make_campaign(
        {"a.yaml": "posts:\n  - id: a\n    at: 2030-01-01 10:00\n    text: Hello\n"}
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(campaign.config), "plan", "--from", "-2d"],
        capture_output=True,
        text=True,
        check=False,
        env=_env(),
    )
    assert done.stderr == ""
    assert done.returncode == 0
    assert done.stdout.startswith("Posts from ")


def _env() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    return {k: v for k, v in os.environ.items() if k in keep} | {"PYTHONPATH": str(REPO)}


def test_output_cut_short_by_a_pipe_ends_quietly(make_campaign: MakeCampaign) -> None:
    """`plan | head` stops reading early: the command exits without a word on stderr (no
    "unexpected error: BrokenPipeError"), with the status of a process ended by SIGPIPE."""
    posts = "".join(
        f"  - id: p{n}\n    at: 2030-01-{1 + n // 100:02d} {n % 24:02d}:{n % 60:02d}\n"
        f"    text: Post number {n} of a long campaign with many lines in its plan\n"
        for n in range(2000)
    )
    campaign = make_campaign({"a.yaml": "posts:\n" + posts})
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(campaign.config),
            "plan",
            "--offline",
            "--until",
            "2030-02-01",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert first.startswith(b"Posts from ")
    assert err == ""
    assert code == 141
