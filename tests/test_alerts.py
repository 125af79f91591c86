"""Alerts: a JSON webhook on 127.0.0.1 and/or a direct message, once per subject, never carrying
the access token, and never taking the bot down when delivery fails."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import AlertWebhook

from bot import __version__
from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.mastodon.types import TokenRefused
from bot.publishing.publisher import Publisher
from bot.publishing.runner import Runner
from bot.service.alerts import Alerter
from bot.service.app import App
from bot.service.daemon import Daemon
from bot.service.logs import register_secret

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@dataclass
class Memory:
    """Stands in for the ledger's record of what was alerted."""

    alerted: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def alerter(self, webhook: str | None, direct_to: str | None = None) -> Alerter:
        return Alerter(
            webhook=webhook,
            direct_message_to=direct_to,
            send_direct_message=self.messages.append if direct_to else None,
            already_alerted=lambda subject: subject in self.alerted,
            remember=self.alerted.__setitem__,
            timeout=5,
        )


def test_webhook_gets_one_json_body_per_subject(webhook: AlertWebhook) -> None:
    """The webhook gets a JSON body naming the subject; the same subject is not alerted twice."""
    memory = Memory()
    alerter = memory.alerter(webhook.url)
    alerter.alert("launch", "failed", "launch failed: 422 text too long")
    alerter.alert("launch", "failed", "launch failed: 422 text too long")
    alerter.alert("token", "token", "publishing stopped: 401")

    assert [body for _, body in webhook.requests] == [
        {
            "source": f"campaign-bot/{__version__}",
            "kind": "failed",
            "subject": "launch",
            "message": "launch failed: 422 text too long",
        },
        {
            "source": f"campaign-bot/{__version__}",
            "kind": "token",
            "subject": "token",
            "message": "publishing stopped: 401",
        },
    ]
    assert all(h["Content-Type"] == "application/json" for h, _ in webhook.requests)
    assert memory.alerted == {"launch": "failed via webhook", "token": "token via webhook"}


def test_direct_message_names_the_operator_and_is_cut_to_fit() -> None:
    """The direct message starts with the operator's handle and stays within 480 characters."""
    memory = Memory()
    alerter = memory.alerter(None, "@ops@social.example")
    alerter.alert("long", "failed", "x" * 1000)
    [message] = memory.messages
    assert message.startswith("@ops@social.example campaign-bot: xxx")
    assert len(message) == 480
    assert memory.alerted == {"long": "failed via direct message"}


def test_the_token_never_leaves_in_an_alert(webhook: AlertWebhook) -> None:
    """A registered secret inside an alert's text is replaced before it is sent anywhere."""
    secret = "tok-5f1d0c2b9a8e7d6c"
    register_secret(secret)
    memory = Memory()
    memory.alerter(webhook.url, "@ops").alert("t", "token", f"401 for Bearer {secret}")
    [(_, body)] = webhook.requests
    assert secret not in json.dumps(body)
    assert body["message"] == "401 for Bearer [redacted]"
    assert secret not in memory.messages[0]


def test_failed_webhook_is_logged_and_tried_again_next_time(
    webhook: AlertWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    """A webhook answering 500 is logged, not remembered, so the next alert tries again."""
    webhook.status = 500
    memory = Memory()
    alerter = memory.alerter(webhook.url)
    with caplog.at_level(logging.ERROR, "bot.service.alerts"):
        alerter.alert("p", "failed", "p failed")
    assert "alert webhook failed: 500 Server Error" in caplog.text
    assert memory.alerted == {}
    webhook.status = 204
    alerter.alert("p", "failed", "p failed")
    assert len(webhook.requests) == 2
    assert memory.alerted == {"p": "failed via webhook"}


def test_unreachable_webhook_still_sends_the_direct_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the webhook cannot be reached the direct message still goes, and the bot goes on."""
    memory = Memory()
    with caplog.at_level(logging.ERROR, "bot.service.alerts"):
        memory.alerter("http://127.0.0.1:9/nothing-listens", "@ops").alert("p", "failed", "boom")
    assert "alert webhook failed" in caplog.text
    assert memory.messages == ["@ops campaign-bot: boom"]
    assert memory.alerted == {"p": "failed via direct message"}


def test_failing_direct_message_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """An exception while sending the direct message is logged, not raised."""

    def explode(text: str) -> None:
        raise RuntimeError("instance down")

    alerter = Alerter(
        webhook=None,
        direct_message_to="@ops",
        send_direct_message=explode,
        already_alerted=lambda subject: False,
        remember=lambda subject, detail: None,
    )
    with caplog.at_level(logging.ERROR, "bot.service.alerts"):
        alerter.alert("p", "failed", "boom")
    assert "alert direct message failed: instance down" in caplog.text


def test_no_channel_configured_means_no_alert() -> None:
    """Without a webhook or a direct message address nothing is attempted or remembered."""
    memory = Memory()
    alerter = memory.alerter(None)
    assert not alerter.enabled
    alerter.alert("p", "failed", "boom")
    assert memory.alerted == {}


def test_daemon_alerts_once_per_subject_across_restarts(
    tmp_path: Path, webhook: AlertWebhook
) -> None:
    """The daemon remembers alerts in the ledger, so a restarted bot does not alert again."""
    config = tmp_path / "bot.yaml"
    config.write_text(f'data_dir: "data"\nalerts: {{webhook: "{webhook.url}"}}\n')
    (tmp_path / "posts").mkdir()
    for _ in range(2):
        app = App(load_settings(config, env={}), clock=FakeClock(NOW), env={})
        daemon = Daemon(app)
        try:
            daemon.alerter.alert("launch", "failed", "launch failed: 422")
            daemon.alerter.alert("launch", "failed", "launch failed: 422")
        finally:
            daemon.ledger.close()
    assert [body["subject"] for _, body in webhook.requests] == ["launch"]


def test_daemon_without_a_connection_does_not_count_a_direct_message_as_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A direct message the daemon cannot send (no working token) is reported, not remembered."""
    config = tmp_path / "bot.yaml"
    config.write_text('data_dir: "data"\nalerts: {direct_message: "@ops@social.example"}\n')
    (tmp_path / "posts").mkdir()
    daemon = Daemon(App(load_settings(config, env={}), clock=FakeClock(NOW), env={}))
    try:
        with caplog.at_level(logging.ERROR, "bot.service.alerts"):
            daemon.alerter.alert("token", "token", "publishing stopped: 401")
        assert "alert direct message failed: not connected to the instance" in caplog.text
        assert [e.kind for e in daemon.ledger.events("token")] == []
    finally:
        daemon.ledger.close()


class Credentials:
    """A client whose token the instance accepts or rejects, as the test says."""

    def __init__(self) -> None:
        self.accepted = False

    def verify_credentials(self) -> None:
        if not self.accepted:
            raise TokenRefused("the instance rejected the access token (401)", http_status=401)


def test_token_alert_once_per_outage(tmp_path: Path, webhook: AlertWebhook) -> None:
    """A refused token is alerted once however often it is rechecked, once more when it works
    again, and again only after it has worked in between."""
    config = tmp_path / "bot.yaml"
    config.write_text(
        f'data_dir: "data"\ntimezone: "Europe/London"\nalerts: {{webhook: "{webhook.url}"}}\n'
    )
    (tmp_path / "posts").mkdir()
    clock = FakeClock(NOW)
    daemon = Daemon(App(load_settings(config, env={}), clock=clock, env={}))
    client = Credentials()
    publisher = Publisher(
        client,  # type: ignore[arg-type]
        daemon.ledger,
        clock,
        instance="https://social.example",
        account_id="1",
        honours_idempotency_keys=True,
    )
    daemon.client = client  # type: ignore[assignment]
    daemon.publisher = publisher
    daemon.runner = Runner(daemon.settings, daemon.ledger, clock, publisher)
    try:
        daemon._token_problem(TokenRefused("401 on publishing"))
        daemon.recheck_token()
        daemon.recheck_token()
        assert daemon.token_rejected
        client.accepted = True
        clock.advance(timedelta(minutes=20))
        daemon.recheck_token()
        assert daemon.token_rejected is None
        client.accepted = False
        daemon._token_problem(TokenRefused("401 again, a month later"))
    finally:
        daemon.ledger.close()
    assert [(body["kind"], body["message"]) for _, body in webhook.requests] == [
        (
            "token",
            "the access token was refused at 2026-12-01 09:30 GMT; publishing is paused; run "
            "`campaign-bot login` or replace the token file (the bot checks it again by "
            "itself) — 401 on publishing",
        ),
        ("recovered", "the access token works again after 20m; publishing resumes"),
        (
            "token",
            "the access token was refused at 2026-12-01 09:50 GMT; publishing is paused; run "
            "`campaign-bot login` or replace the token file (the bot checks it again by "
            "itself) — 401 again, a month later",
        ),
    ]
