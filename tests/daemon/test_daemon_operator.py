"""The operator's commands and edits as a running bot must see them (issue: each was tried and
was wrong): `retry` and `resume` act within seconds without SIGHUP, a post an edit made invalid
is held back and said so, a post due while publishing is stopped gets a log line, and SIGHUP
resumes publishing after the token was refused."""

from __future__ import annotations

import signal

import pytest
import requests
from conftest import AlertWebhook

from .conftest import (
    Campaign,
    StartBot,
    plain,
    post,
    soon,
    statuses,
)

pytestmark = pytest.mark.e2e

PUBLISHED = r" {}: published (http\S+)"
STATUSES = "/api/v1/statuses"


def test_retry_reaches_a_running_bot_without_sighup(
    campaign: Campaign, start_bot: StartBot
) -> None:
    """Tried: `retry` of a failed post set it pending, and the running bot never sent it."""
    campaign.write("a.yaml", [post("refused", soon(2))])
    campaign.box.server.fault(
        path=STATUSES, methods=["POST"], status=422, body={"error": "Validation failed"}, count=1
    )
    bot = start_bot()
    bot.wait_for(r"refused: failed: refused: the instance rejected the post \(422\)", 20)
    retried = campaign.cli("retry", "refused")
    assert retried.returncode == 0, retried.stderr
    bot.wait_for(PUBLISHED.format("refused"), 15)
    code, _ = bot.stop()
    assert code == 0
    assert campaign.states() == {"refused": "published"}
    assert len(statuses(campaign.box)) == 1


@pytest.mark.slow
def test_a_post_made_invalid_by_an_edit_is_held_back(
    campaign: Campaign, start_bot: StartBot, webhook: AlertWebhook
) -> None:
    """Tried: a post made too long by a live edit was logged as "cancelled: removed from the
    post files, or moved", then nothing at its time. Now it is held back: said so, alerted when
    it falls due while invalid, and shown as held back by `status`."""
    campaign.configure(alerts={"webhook": webhook.url})
    due = soon(15)
    campaign.write("a.yaml", [post("story", due)])
    bot = start_bot()
    bot.wait_for(r"story: planned for", 15)
    campaign.write("a.yaml", [post("story", due, text="Far too long. " * 60)])
    bot.wait_for(r"story: left out: invalid — see the problem above", 15)
    shown = campaign.cli("status")
    assert "1 posts held back as invalid (see `campaign-bot validate`): story" in shown.stdout
    bot.wait_for(r"story: due but left out: invalid — see the problem above", 25)
    code, _ = bot.stop()
    assert code == 0
    assert "cancelled" not in bot.output
    assert statuses(campaign.box) == []
    assert [(b["kind"], b["subject"]) for b in webhook.bodies] == [("held back", "story")]


def test_a_post_due_while_paused_gets_a_log_line_and_resume_acts_at_once(
    campaign: Campaign, start_bot: StartBot
) -> None:
    """Tried: a post falling due while publishing was stopped left no trace in the log."""
    due = soon(8)
    campaign.write("a.yaml", [post("held", due)])
    # Paused before the start, so a slow start cannot let the post out first.
    assert campaign.cli("pause").returncode == 0
    bot = start_bot()
    bot.wait_for(r"start: 1 post,", 15)
    bot.wait_for(r"held: due but not sent: publishing stopped \(paused by the operator", 15)
    assert campaign.cli("resume").returncode == 0
    bot.wait_for(PUBLISHED.format("held"), 15)
    code, _ = bot.stop()
    assert code == 0
    [status] = statuses(campaign.box)
    assert plain(status).startswith("Post held ")


def _login(campaign: Campaign) -> str:
    answer = requests.post(
        f"{campaign.box.base_url}/api/v1/_mock/login", json={"username": "campaign"}, timeout=10
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def test_sighup_after_a_refused_token_resumes_with_the_new_token_file(
    campaign: Campaign, start_bot: StartBot, webhook: AlertWebhook
) -> None:
    """A token revoked while the bot runs pauses publishing; writing a new token to the file
    and sending SIGHUP resumes it at once, without a restart."""
    token_file = campaign.root / "token"
    first = _login(campaign)
    token_file.write_text(first + "\n")
    token_file.chmod(0o600)
    campaign.configure(access_token_file=str(token_file), alerts={"webhook": webhook.url})
    due = soon(10)
    campaign.write("a.yaml", [post("later", due)])
    bot = start_bot(token=None)
    bot.wait_for(r"later: planned for", 15)
    requests.post(
        f"{campaign.box.base_url}/oauth/revoke", data={"token": first}, timeout=10
    ).raise_for_status()
    bot.wait_for(r"critical the access token was refused at .*publishing is paused", 20)
    assert campaign.states() == {"later": "pending"}
    second = _login(campaign)
    token_file.write_text(second + "\n")
    bot.send(signal.SIGHUP)
    bot.wait_for(r"the access token works again after", 15)
    bot.wait_for(PUBLISHED.format("later"), 15)
    code, _ = bot.stop()
    assert code == 0
    assert campaign.states() == {"later": "published"}
    assert [b["kind"] for b in webhook.bodies] == ["token", "recovered"]
    assert first not in bot.output and second not in bot.output
    assert len(statuses(campaign.box)) == 1
