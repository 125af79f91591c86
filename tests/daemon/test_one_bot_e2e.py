"""One bot per ledger: a second `run`, `run --once` or `publish` beside a running bot refuses at
once naming it, reading commands still work, and a SIGKILLed bot's lock never blocks a restart."""

from __future__ import annotations

import os
import re
import signal
import socket

import pytest

from .conftest import Campaign, StartBot, post, soon, statuses, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_second_daemon_refuses_and_reading_commands_work_beside_the_first(
    campaign: Campaign, start_bot: StartBot
) -> None:
    """Tried: two daemons on one data_dir published a thread head twice. The second now exits
    1 at once with the first's pid, host and start time; nothing is posted twice."""
    campaign.write("a.yaml", [post("soon", soon(4), thread=[{"text": "Its reply."}])])
    first = start_bot()
    first.wait_for(r"start: 1 post")

    second = start_bot()
    code = second.proc.wait(30)
    second.kill()
    assert code == 1
    refusal = second.output
    assert re.search(
        rf"another bot is already publishing from {re.escape(str(campaign.data_dir))}: "
        rf"campaign-bot process {first.pid} on {re.escape(socket.gethostname())} \(`run`\), "
        r"running since \d{4}-\d\d-\d\dT",
        refusal,
    ), refusal
    assert "Traceback" not in refusal
    for args in (("run", "--once"), ("publish", "soon")):
        other = campaign.cli(*args, token=campaign.token)
        assert other.returncode == 1, other.stdout + other.stderr
        assert f"campaign-bot process {first.pid} " in other.stderr
    for args in (("status",), ("plan",), ("validate",), ("health",)):
        beside = campaign.cli(*args)
        assert beside.returncode == 0, (args, beside.stdout + beside.stderr)

    first.wait_for(r"soon: published")
    assert len(statuses(campaign.box)) == 2


def test_a_sigkilled_bots_lock_does_not_block_a_restart(
    campaign: Campaign, start_bot: StartBot
) -> None:
    """kill -9 leaves the lock file but not the lock: the restart starts and publishes; health
    says at once that the killed bot is gone."""
    campaign.write("a.yaml", [post("later", soon(8))])
    first = start_bot()
    first.wait_for(r"start: 1 post")
    wait_until(lambda: campaign.cli("health").returncode == 0, 20, "healthy")
    os.kill(first.pid, signal.SIGKILL)
    first.proc.wait(10)
    assert (campaign.data_dir / "bot.lock").exists()

    health = campaign.cli("health")
    assert health.returncode == 1
    assert f"(pid {first.pid}) is not running any more" in health.stdout

    again = start_bot()
    again.wait_for(r"start: 1 post")
    again.wait_for(r"later: published", timeout=20)
    wait_until(lambda: campaign.cli("health").returncode == 0, 20, "healthy after the restart")
    code, _ = again.stop()
    assert code == 0
    assert len(statuses(campaign.box)) == 1
