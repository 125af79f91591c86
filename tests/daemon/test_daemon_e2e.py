"""`campaign-bot run` as a real process against a mastodon_mock server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from conftest import AlertWebhook

from bot.core.clock import FakeClock
from bot.storage import control
from bot.storage.ledger import Ledger

from .conftest import (
    WRONG_TOKEN,
    Campaign,
    StartBot,
    by_first_words,
    plain,
    post,
    soon,
    stamp,
    statuses,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUBLISHED = r" {}: published (http\S+)"


def created_at(status: dict[str, object]) -> datetime:
    value = status["created_at"]
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def test_posts_go_out_at_their_planned_second(campaign: Campaign, start_bot: StartBot) -> None:
    """Each post goes out at its planned second, never before it and in planned order, logged
    with id and URL. How soon after it is measured by bench/daemon_latency.py, not asserted: a
    loaded machine is slower, not wrong."""
    first = soon(3)
    planned = {"first": first, "second": first + timedelta(seconds=1)}
    planned["thread"] = first + timedelta(seconds=2)
    campaign.write(
        "a.yaml",
        [
            post("first", planned["first"]),
            post("second", planned["second"]),
            post(
                "thread", planned["thread"], thread=[{"text": "Reply one"}, {"text": "Reply two"}]
            ),
        ],
    )
    bot = start_bot()
    bot.wait_for(r"start: 3 posts, 3 occurrences planned")
    urls = {key: bot.wait_for(PUBLISHED.format(key)).group(1) for key in planned}
    code, _ = bot.stop()

    assert code == 0
    assert campaign.token not in bot.output
    found = statuses(campaign.box)
    assert len(found) == 5
    for key, when in planned.items():
        [status] = by_first_words(found, f"Post {key} ")
        # Not early by the server's clock, nor by the bot's own when it began to send.
        assert created_at(status) >= when, key
        assert campaign.times(key)[0] == when
        assert campaign.times(key)[1] >= when, key
        assert status["url"] in urls[key].split()
    heads = [by_first_words(found, f"Post {key} ")[0] for key in planned]
    assert [int(s["id"]) for s in heads] == sorted(int(s["id"]) for s in heads)
    replies = [by_first_words(found, words)[0] for words in ("Reply one", "Reply two")]
    [head] = by_first_words(found, "Post thread ")
    assert [r["in_reply_to_id"] for r in replies] == [head["id"], replies[0]["id"]]
    assert set(campaign.states().values()) == {"published"}
    # The daemon asked the instance for its limits instead of assuming Mastodon's defaults.
    assert (campaign.data_dir / "instance-limits.json").exists()


def test_dry_run_needs_no_token_and_posts_nothing(campaign: Campaign, start_bot: StartBot) -> None:
    """`run --dry-run` goes through a due post without a token, sends and records nothing, and
    marks every line it logs."""
    due = soon(2)
    campaign.write("a.yaml", [post("rehearsed", due, media=[])])
    bot = start_bot("--dry-run", token=None)
    bot.wait_for(r"rehearsed: \[dry run\] would publish part 1")
    code, _ = bot.stop()

    assert code == 0
    assert statuses(campaign.box) == []
    assert not (campaign.data_dir / "ledger.sqlite3").exists()
    assert bot.lines
    assert all("[dry run]" in line for line in bot.lines), bot.output


def test_live_reload_follows_edits(campaign: Campaign, start_bot: StartBot) -> None:
    """Edits under a running daemon are picked up by the folder watch: a moved, a new and a
    deleted post, and a broken file that is reported while the rest of the campaign keeps
    running. The moved post goes out at its new time (how soon after an edit the watch reloads
    is measured by bench/daemon_reactions.py)."""
    t0 = soon(0)
    # `doomed` must still be ahead when the edit deleting it is loaded: the bot has to start,
    # see the edit and reload in those 15 s, which leaves room for a loaded machine.
    doomed_at = t0 + timedelta(seconds=15)
    campaign.write("keep.yaml", [post("steady", t0 + timedelta(seconds=7))])
    campaign.write(
        "edit.yaml", [post("moved", t0 + timedelta(seconds=60)), post("doomed", doomed_at)]
    )
    campaign.write("later.yaml", [post("later", t0 + timedelta(seconds=90))])
    bot = start_bot()
    bot.wait_for(r"start: 4 posts")

    moved_to = soon(4)
    campaign.write(
        "edit.yaml", [post("moved", moved_to), post("added", moved_to + timedelta(seconds=1))]
    )
    (campaign.posts_dir / "later.yaml").write_text("posts:\n  - {id: later, at: [unclosed\n")
    bot.wait_for(r"post files changed: 3 posts")
    bot.wait_for(r"later\.yaml:\d+:\d+: error")
    bot.wait_for(r"doomed: cancelled")
    bot.wait_for(r"later: cancelled")
    for key in ("steady", "moved", "added"):
        bot.wait_for(PUBLISHED.format(key))
    while datetime.now(UTC) < doomed_at + timedelta(seconds=1):
        time.sleep(0.2)
    code, _ = bot.stop()

    assert code == 0
    found = statuses(campaign.box)
    assert sorted(plain(s).split()[1] for s in found) == ["added", "moved", "steady"]
    [moved] = by_first_words(found, "Post moved ")
    assert created_at(moved) >= moved_to
    assert campaign.times("moved")[0] == moved_to
    assert not bot.matching(r"doomed: published")
    assert "doomed" not in campaign.states()


def test_sighup_reloads_at_once(campaign: Campaign, start_bot: StartBot) -> None:
    """SIGHUP reloads an edit the folder watch cannot see (same size, same modification time)."""
    far = soon(120)
    path = campaign.write("a.yaml", [post("quiet", far)])
    bot = start_bot()
    bot.wait_for(r"start: 1 post,")
    before = path.stat()
    new_time = soon(3)
    path.write_text(path.read_text().replace(stamp(far), stamp(new_time)))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size

    sent = len(bot.lines)
    bot.send(signal.SIGHUP)
    bot.wait_for(r"SIGHUP: 1 post, 1 occurrence planned .* \(1 moved\)", start=sent)
    bot.wait_for(PUBLISHED.format("quiet"))
    code, _ = bot.stop()

    assert code == 0
    [status] = statuses(campaign.box)
    assert created_at(status) >= new_time
    assert campaign.times("quiet")[0] == new_time


@pytest.mark.parametrize("resume_by", ["command", "deleting the file"])
def test_pause_holds_posts_and_resume_applies_catch_up(
    campaign: Campaign, start_bot: StartBot, resume_by: str
) -> None:
    """Nothing is published while paused; on resume a post still within its window goes out late,
    and one whose `not_after` has passed is recorded as missed."""
    campaign.write("far.yaml", [post("far", soon(3600))])
    bot = start_bot()
    bot.wait_for(r"start: 1 post")
    paused = campaign.cli("pause", "--reason", "checking a typo")
    assert paused.returncode == 0, paused.stderr
    assert "paused" in paused.stdout
    bot.wait_for(r"paused: nothing is published")
    # Written once the pause holds, so the posts fall due while paused however slow the machine.
    due = soon(3)
    campaign.write(
        "a.yaml", [post("held", due), post("stale", due, not_after="2s", text="Stale post")]
    )
    bot.wait_for(r"post files changed: 3 posts")
    while datetime.now(UTC) < due + timedelta(seconds=3):
        time.sleep(0.2)
    assert statuses(campaign.box) == []
    assert campaign.states() == {}

    if resume_by == "command":
        resumed = campaign.cli("resume")
        assert resumed.returncode == 0, resumed.stderr
        assert "resumed" in resumed.stdout
    else:
        control.pause_path(campaign.data_dir).unlink()
    bot.wait_for(r"resumed: catching up")
    bot.wait_for(PUBLISHED.format("held"))
    bot.wait_for(r"stale: missed: planned for .* past its not_after window")
    code, _ = bot.stop()

    assert code == 0
    assert campaign.states() == {"held": "published", "stale": "missed"}
    [status] = statuses(campaign.box)
    assert plain(status).startswith("Post held ")
    assert created_at(status) >= due + timedelta(seconds=3)


def test_health_follows_the_running_bot(campaign: Campaign, start_bot: StartBot) -> None:
    """`health` exits 0 while the bot runs, and non-zero with one line once it has stopped."""
    campaign.write("a.yaml", [post("far", soon(3600))])
    bot = start_bot()
    bot.wait_for(r"start: 1 post,")
    healthy = campaign.cli("health")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.startswith("healthy: running, 1 posts scheduled")
    code, _ = bot.stop()
    assert code == 0

    stopped = campaign.cli("health")
    assert stopped.returncode == 1
    assert stopped.stdout.count("\n") == 1
    assert stopped.stdout.startswith("unhealthy: no heartbeat")


def test_health_reports_a_rejected_token(
    campaign: Campaign, start_bot: StartBot, webhook: AlertWebhook
) -> None:
    """A token the instance rejects stops publishing, alerts once, and makes `health` fail."""
    campaign.configure(alerts={"webhook": webhook.url})
    due = soon(2)
    campaign.write("a.yaml", [post("blocked", due)])
    bot = start_bot(token=WRONG_TOKEN)
    bot.wait_for(r"critical the access token was refused at")
    while datetime.now(UTC) < due + timedelta(seconds=1):
        time.sleep(0.2)
    result = campaign.cli("health")
    code, _ = bot.stop()

    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: the instance rejected the access token")
    assert result.stdout.count("\n") == 1
    assert code == 0
    assert statuses(campaign.box) == []
    assert [(b["kind"], b["subject"]) for b in webhook.bodies] == [("token", "token")]
    assert WRONG_TOKEN not in json.dumps(webhook.bodies)


def _write_stuck_ledger(campaign: Campaign) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    with Ledger.open(campaign.data_dir / "ledger.sqlite3", FakeClock(long_ago)) as ledger:
        ledger.begin_attempt("stuck-post", "stuck-post", long_ago, "h")
        ledger.record_part_intent("stuck-post", 0, "idem-stuck")


def _write_heartbeat(campaign: Campaign, age: timedelta) -> None:
    beat = control.Heartbeat(
        at=(datetime.now(UTC) - age).isoformat(),
        pid=os.getpid(),
        paused=False,
        token_rejected=None,
        scheduled=0,
        next_post=None,
        dry_run=False,
    )
    control.write_heartbeat(campaign.data_dir, beat)


@pytest.mark.parametrize(
    ("heartbeat_age", "stuck", "expected"),
    [
        (None, False, r"unhealthy: no heartbeat in .*: is `campaign-bot run` running\?"),
        (timedelta(minutes=5), False, r"unhealthy: the heartbeat is 3\d\d s old"),
        (timedelta(seconds=5), True, r"unhealthy: 1 post stuck in `sending` .*: stuck-post"),
        (timedelta(seconds=5), False, r"healthy: running, 0 posts scheduled"),
    ],
)
def test_health_reasons(
    campaign: Campaign, heartbeat_age: timedelta | None, stuck: bool, expected: str
) -> None:
    """`health` names the one reason the bot is unhealthy, or says it is healthy."""
    if heartbeat_age is not None:
        _write_heartbeat(campaign, heartbeat_age)
    if stuck:
        _write_stuck_ledger(campaign)
    result = campaign.cli("health")
    assert result.stdout.count("\n") == 1
    assert (result.returncode == 0) == expected.startswith("healthy")
    assert re.match(expected, result.stdout), result.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_an_idle_bot(
    campaign: Campaign, start_bot: StartBot, sig: signal.Signals
) -> None:
    """SIGTERM and SIGINT end an idle bot with exit code 0: it says it is stopping, then that it
    has stopped, and `health` at once sees no heartbeat. (How long it takes is measured by
    bench/daemon_reactions.py.)"""
    campaign.write("a.yaml", [post("far", soon(3600))])
    bot = start_bot()
    bot.wait_for(r"start: 1 post,")
    code, _ = bot.stop(sig)
    assert code == 0
    stopping = bot.wait_for(rf"stopping \({sig.name}\)").string
    stopped = bot.wait_for(r"info    stopped$").string
    assert bot.lines.index(stopping) < bot.lines.index(stopped)
    assert "no heartbeat" in campaign.cli("health").stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_while_a_request_hangs(
    campaign: Campaign, start_bot: StartBot, sig: signal.Signals
) -> None:
    """A stop during a hung request exits 0 without waiting for the server's answer, leaves the
    occurrence recorded as being sent with its idempotency key, and the next start publishes it
    exactly once."""
    campaign.write("a.yaml", [post("hung", soon(2))])
    campaign.box.server.fault(
        path="/api/v1/statuses", methods=["POST"], type="timeout", delay_ms=30_000, count=1
    )
    bot = start_bot()
    bot.wait_for(r"start: 1 post,")
    wait_until(lambda: campaign.states() == {"hung": "sending"}, 10, "the send began")
    wait_until(
        lambda: len(campaign.parts("hung")) == 1, 30, "part 0 was recorded before its request"
    )
    wait_until(lambda: not faults(campaign), 30, "the server took the request to hold it")
    # Waiting for the answer would take the 30 s the server holds the request (and the bot's
    # request_timeout): the stop ends well before, or this deadline fails the test.
    code, _ = bot.stop(sig, timeout=25)

    assert code == 0
    bot.wait_for(r"request was still in flight .* abandoned")
    assert campaign.states() == {"hung": "sending"}
    [(index, idempotency_key, status_id)] = campaign.parts("hung")
    assert (index, status_id) == (0, None)
    assert idempotency_key

    again = start_bot()
    again.wait_for(PUBLISHED.format("hung"))
    code, _ = again.stop()
    assert code == 0
    assert campaign.states() == {"hung": "published"}
    assert len(by_first_words(statuses(campaign.box), "Post hung ")) == 1


def faults(campaign: Campaign) -> list[dict[str, object]]:
    """The sandbox's fault rules still waiting for a request (a `count=1` rule leaves the list
    as the request it holds arrives)."""
    answer = requests.get(f"{campaign.box.base_url}/api/v1/_mock/faults", timeout=10)
    answer.raise_for_status()
    found: list[dict[str, object]] = answer.json()
    return found


def test_rejected_post_fails_and_alerts_once(
    campaign: Campaign, start_bot: StartBot, webhook: AlertWebhook
) -> None:
    """A post the server refuses ends `failed` and the webhook gets exactly one JSON alert for it;
    JSON log lines parse and carry the post id."""
    campaign.configure(alerts={"webhook": webhook.url})
    due = soon(2)
    campaign.write("a.yaml", [post("refused", due), post("fine", due + timedelta(seconds=1))])
    campaign.box.server.fault(
        path="/api/v1/statuses",
        methods=["POST"],
        status=422,
        body={"error": "Validation failed: Text character limit of 500 exceeded"},
        count=1,
    )
    bot = start_bot(global_args=("--log-format", "json"))
    bot.wait_for(r'"message": "published [^"]*".*"post_id": "fine"')
    bot.wait_for(r"alerted about refused")
    bot.send(signal.SIGHUP)
    bot.wait_for(r"SIGHUP: 2 posts")
    code, _ = bot.stop()

    assert code == 0
    assert campaign.states() == {"refused": "failed", "fine": "published"}
    [alert] = webhook.bodies
    assert alert["kind"] == "failed"
    assert alert["subject"] == "refused"
    assert "character limit of 500" in alert["message"]
    lines = [json.loads(line) for line in bot.lines]
    assert all({"time", "level", "message"} <= line.keys() for line in lines)
    [failed] = [line for line in lines if line["message"].startswith("failed:")]
    assert (failed["post_id"], failed["level"]) == ("refused", "error")
    [published] = [line for line in lines if line["message"].startswith("published ")]
    assert published["post_id"] == "fine"
    [status] = statuses(campaign.box)
    assert status["url"] in published["message"]
