"""The running bot with three accounts on one mastodon_mock, on a fake clock (its jobs are run
in time order by the test): a token revoked on one account — a partner's, or the default
account's — holds up only that account, the alert and `health` name the account, and replacing
the token file lets that account's work go out, without a restart."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from conftest import AlertWebhook
from mastodon_mock.testing import MockServer

from bot.cli import control_commands
from bot.config.settings import load_settings
from bot.service.app import App

from .conftest import BASE_CONFIG, Site, TappedApp
from .test_coalition_e2e import TOKENS, own_statuses
from .test_outage_e2e import running

pytestmark = pytest.mark.e2e

USERS = {"lead": "alice", "partner": "bob", "ally": "carol"}


def new_token(site: Site, user: str) -> str:
    answer = requests.post(
        f"{site.server.base_url}/api/v1/_mock/login", json={"username": user}, timeout=10
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def revoke(site: Site, token: str) -> None:
    requests.post(
        f"{site.server.base_url}/oauth/revoke", data={"token": token}, timeout=10
    ).raise_for_status()


def configure(site: Site, webhook: AlertWebhook, with_file: str) -> tuple[Path, dict[str, str]]:
    """Three accounts on the mock; `with_file`'s token is in a file (so it can be replaced),
    the others' in the environment. Returns the file and the environment."""
    url = site.server.base_url
    token_file = site.root / f"{with_file}.token"
    token = new_token(site, USERS[with_file])
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    accounts: dict[str, Any] = {name: {"instance": url} for name in USERS}
    accounts[with_file]["access_token_file"] = str(token_file)
    config = {
        **BASE_CONFIG,
        "accounts": accounts,
        "default_account": "lead",
        "alerts": {"webhook": webhook.url},
    }
    site.config_path.parent.mkdir(parents=True, exist_ok=True)
    site.config_path.write_text(yaml.safe_dump(config), "utf-8")
    env = {k: v for k, v in TOKENS.items() if not k.endswith(with_file.upper())}
    return token_file, env


def posts(site: Site) -> list[dict[str, Any]]:
    return [
        {
            "id": "launch",
            "at": site.at(timedelta(minutes=1)),
            "text": "Millbrook wants to close four libraries. Sign the petition.",
            "boost": {"by": ["partner", "ally"], "after": "5m"},
        },
        {
            "id": "partner-story",
            "account": "partner",
            "at": site.at(timedelta(minutes=3)),
            "text": "Why the library matters to our readers.",
        },
        {
            "id": "ally-story",
            "account": "ally",
            "at": site.at(timedelta(minutes=4)),
            "text": "Our members' library stories.",
        },
        {"id": "lead-two", "at": site.at(timedelta(minutes=4)), "text": "Day two."},
    ]


def health(site: Site, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    app = App(load_settings(site.config_path, env), clock=site.clock, env=env)
    code = control_commands.run_health(argparse.Namespace(app=app, json=True))
    return code, app


def texts(server: MockServer, user: str) -> list[str]:
    return [s["content"] for s in own_statuses(server, user) if not s["reblog"]]


def test_a_partners_revoked_token_alerts_naming_the_account(
    site: Site,
    server: MockServer,
    webhook: AlertWebhook,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token_file, env = configure(site, webhook, "partner")
    site.write_posts("coalition.yaml", posts(site))
    app = TappedApp(load_settings(site.config_path, env), clock=site.clock, env=env)
    start = site.clock.now()
    with running(app, site) as (bot, drive):
        revoke(site, token_file.read_text().strip())
        with caplog.at_level(logging.INFO):
            drive.until(start + timedelta(minutes=10))
            # Only the partner waits: the lead's posts, the ally's post and boost go out.
            assert bot.token_rejected is None
            assert len(texts(server, "alice")) == 2
            assert len(own_statuses(server, "carol")) == 2
            assert own_statuses(server, "bob") == []
            [alert] = webhook.bodies
            assert (alert["kind"], alert["subject"]) == ("token", "token:partner")
            assert alert["message"].startswith("account 'partner': publishing stopped")
            assert "campaign-bot login --account partner" in alert["message"]

            bot._heartbeat()
            capsys.readouterr()
            code, _ = health(site, env)
            body = json.loads(capsys.readouterr().out)
            assert code == 1
            assert body["reason"].startswith("account 'partner': the instance rejected")
            accounts = body["accounts"]
            assert list(accounts) == ["ally", "lead", "partner"]
            assert accounts["partner"]["token_rejected"].startswith("account 'partner':")
            assert accounts["lead"]["token_rejected"] is None
            assert accounts["ally"]["token_rejected"] is None
            assert accounts["lead"]["instance"] == server.base_url

            # The partner's token file is replaced: its post and boost go out by themselves.
            token_file.write_text(new_token(site, "bob") + "\n")
            drive.until(start + timedelta(minutes=20))
    assert len(texts(server, "bob")) == 1
    assert len(own_statuses(server, "bob")) == 2  # its story and its boost
    assert [(b["kind"], b["subject"]) for b in webhook.bodies] == [
        ("token", "token:partner"),
        ("recovered", "token:partner"),
    ]
    assert "account 'partner': the access token works again" in caplog.text
    assert {str(r.state) for r in site.records().values()} == {"published"}


def test_a_revoked_default_token_holds_up_only_the_default_account(
    site: Site, server: MockServer, webhook: AlertWebhook, capsys: pytest.CaptureFixture[str]
) -> None:
    token_file, env = configure(site, webhook, "lead")
    site.write_posts("coalition.yaml", posts(site))
    app = TappedApp(load_settings(site.config_path, env), clock=site.clock, env=env)
    start = site.clock.now()
    with running(app, site) as (bot, drive):
        drive.until(start + timedelta(minutes=2))  # the launch is out
        revoke(site, token_file.read_text().strip())
        drive.until(start + timedelta(minutes=10))
        # The partners' posts and boosts of the launch go on; the lead's second post waits.
        assert bot.token_rejected is None
        assert len(texts(server, "alice")) == 1
        assert len(own_statuses(server, "bob")) == 2
        assert len(own_statuses(server, "carol")) == 2
        assert [(b["kind"], b["subject"]) for b in webhook.bodies] == [("token", "token:lead")]
        assert webhook.bodies[0]["message"].startswith("account 'lead': publishing stopped")
        bot._heartbeat()
        capsys.readouterr()
        code, _ = health(site, env)
        body = json.loads(capsys.readouterr().out)
        assert code == 1
        assert body["accounts"]["lead"]["token_rejected"].startswith("account 'lead':")
        assert body["accounts"]["partner"]["token_rejected"] is None

        token_file.write_text(new_token(site, "alice") + "\n")
        drive.until(start + timedelta(minutes=20))
    assert len(texts(server, "alice")) == 2
    assert {str(r.state) for r in site.records().values()} == {"published"}
    assert [b["kind"] for b in webhook.bodies] == ["token", "recovered"]


def test_sighup_tries_a_replaced_token_at_once(
    site: Site, server: MockServer, webhook: AlertWebhook
) -> None:
    """As for one account, `kill -HUP` after replacing a token publishes what waits for it at
    once, without waiting for the next check."""
    token_file, env = configure(site, webhook, "partner")
    site.write_posts("coalition.yaml", posts(site)[1:2])  # the partner's story, at +3m
    app = TappedApp(load_settings(site.config_path, env), clock=site.clock, env=env)
    start = site.clock.now()
    with running(app, site) as (bot, drive):
        revoke(site, token_file.read_text().strip())
        drive.until(start + timedelta(minutes=3, seconds=30))
        assert own_statuses(server, "bob") == []
        token_file.write_text(new_token(site, "bob") + "\n")
        bot._reload("SIGHUP")  # what the signal queues, run on the fake clock's same second
        assert len(own_statuses(server, "bob")) == 1
    assert site.clock.now() == start + timedelta(minutes=3, seconds=30)
