"""A coalition campaign on mastodon_mock: three accounts (alice leads, bob and carol are
partners), posts from two of them, boosts and a quote read back from the server."""

from __future__ import annotations

import argparse
import json
import random
from datetime import timedelta
from typing import Any

import pytest
import yaml
from mastodon_mock.testing import MockServer

from bot.cli import publishing_commands
from bot.cli.main import main
from bot.config.settings import load_settings
from bot.core.errors import TRY_AGAIN_LATER
from bot.mastodon.types import TokenRefused
from bot.service.app import App

from .conftest import BASE_CONFIG, Site
from .test_crash_e2e import RUN_TIMEOUT, SEED, run_until_killed

pytestmark = [pytest.mark.e2e]

TOKENS = {
    "MASTODON_ACCESS_TOKEN_LEAD": "alice_token",
    "MASTODON_ACCESS_TOKEN_PARTNER": "bob_token",
    "MASTODON_ACCESS_TOKEN_ALLY": "carol_token",
}


def configure(site: Site) -> None:
    url = site.server.base_url
    config = {
        **BASE_CONFIG,
        "accounts": {name: {"instance": url} for name in ("lead", "partner", "ally")},
        "default_account": "lead",
    }
    site.config_path.parent.mkdir(parents=True, exist_ok=True)
    site.config_path.write_text(yaml.safe_dump(config), "utf-8")


def run_once(site: Site, env: dict[str, str]) -> int:
    app = App(load_settings(site.config_path, env), clock=site.clock, env=env)
    return publishing_commands.run_run(argparse.Namespace(app=app, once=True, dry_run=False))


def own_statuses(server: MockServer, user: str) -> list[Any]:
    client = server.client(user)
    me = client.account_verify_credentials()
    return sorted(client.account_statuses(me["id"], limit=40), key=lambda s: int(s["id"]))


def coalition_posts(site: Site) -> list[dict[str, Any]]:
    return [
        {
            "id": "launch",
            "at": site.at(-timedelta(minutes=1)),
            "text": "Millbrook wants to close four libraries. Sign the petition.",
            "boost": {"by": ["partner", "ally"], "after": "5m"},
            "quote": [{"by": "ally", "after": "10m", "text": "Our members back this."}],
        },
        {
            "id": "partner-story",
            "account": "partner",
            "at": site.at(-timedelta(minutes=1)),
            "text": "Why the library matters to our readers.",
        },
    ]


def test_posts_boosts_and_quotes_by_the_right_accounts(
    site: Site, server: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(site)
    site.write_posts("coalition.yaml", coalition_posts(site))

    assert run_once(site, TOKENS) == 0
    [launch] = own_statuses(server, "alice")
    [story] = own_statuses(server, "bob")
    assert story["content"].startswith("<p>Why the library matters")
    assert server.client("alice").status_reblogged_by(launch["id"]) == []

    site.clock.advance(timedelta(minutes=6))
    assert run_once(site, TOKENS) == 0
    boosters = server.client("alice").status_reblogged_by(launch["id"])
    assert [a["username"] for a in boosters] == ["bob"]

    site.clock.advance(timedelta(minutes=6))
    assert run_once(site, TOKENS) == 0
    boosters = server.client("alice").status_reblogged_by(launch["id"])
    assert sorted(a["username"] for a in boosters) == ["bob", "carol"]
    carol = own_statuses(server, "carol")
    quotes = [s for s in carol if s.get("quote")]
    assert len(quotes) == 1
    assert quotes[0]["quote"]["quoted_status"]["id"] == launch["id"]
    assert "Our members back this." in quotes[0]["content"]

    records = site.records()
    assert {k: str(r.state) for k, r in records.items()} == {
        "launch": "published",
        "partner-story": "published",
        "launch~boost~partner": "published",
        "launch~boost~ally": "published",
        "launch~quote~ally": "published",
    }
    # `status` names the account of each, and groups them by account.
    capsys.readouterr()
    assert main(["--config", str(site.config_path), "status", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    rows = body["occurrences"]
    assert body["accounts"] == {
        "ally": {
            "instance": server.base_url,
            "occurrences": ["launch~boost~ally", "launch~quote~ally"],
            "states": {"published": 2},
        },
        "lead": {
            "instance": server.base_url,
            "occurrences": ["launch"],
            "states": {"published": 1},
        },
        "partner": {
            "instance": server.base_url,
            "occurrences": ["partner-story", "launch~boost~partner"],
            "states": {"published": 2},
        },
    }
    assert {r["key"]: r["account"] for r in rows} == {
        "launch": "lead",
        "partner-story": "partner",
        "launch~boost~partner": "partner",
        "launch~boost~ally": "ally",
        "launch~quote~ally": "ally",
    }
    assert main(["--config", str(site.config_path), "status"]) == 0
    text = capsys.readouterr().out
    # In the config's order (written sorted here): ally, lead, partner.
    assert text.index("@ally:") < text.index("launch~boost~ally") < text.index("@lead:")
    assert text.index("@lead:") < text.index("launch ") < text.index("@partner:")
    assert text.index("@partner:") < text.index("partner-story")
    assert "no longer in the files" not in text

    # Nothing more goes out on later runs.
    site.clock.advance(timedelta(hours=1))
    assert run_once(site, TOKENS) == 0
    assert len(server.client("alice").status_reblogged_by(launch["id"])) == 2
    assert len([s for s in own_statuses(server, "carol") if s.get("quote")]) == 1


def test_a_revoked_token_holds_up_only_its_account(
    site: Site, server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    configure(site)
    site.write_posts("coalition.yaml", coalition_posts(site))
    revoked = {**TOKENS, "MASTODON_ACCESS_TOKEN_PARTNER": "revoked-token"}

    run_once(site, revoked)
    site.clock.advance(timedelta(minutes=12))
    run_once(site, revoked)

    [launch] = own_statuses(server, "alice")
    assert own_statuses(server, "bob") == []
    boosters = server.client("alice").status_reblogged_by(launch["id"])
    assert [a["username"] for a in boosters] == ["carol"]
    assert any(s.get("quote") for s in own_statuses(server, "carol"))
    assert "account 'partner': the instance rejected the access token" in caplog.text
    # Nothing of partner's was sent, so the ledger has nothing of it, or has it waiting.
    states = {k: str(r.state) for k, r in site.records().items()}
    assert states.get("partner-story", "pending") == "pending"
    assert states.get("launch~boost~partner", "pending") == "pending"

    # The token is fixed: partner's work goes out, late but within its window.
    site.clock.advance(timedelta(minutes=5))
    assert run_once(site, TOKENS) == 0
    assert len(own_statuses(server, "bob")) == 2  # its own post and its boost
    assert len(server.client("alice").status_reblogged_by(launch["id"])) == 2


def test_a_boost_whose_post_never_went_out_is_skipped(site: Site, server: MockServer) -> None:
    configure(site)
    posts = coalition_posts(site)[:1]
    posts[0]["at"] = site.at(-timedelta(days=3))  # long past its catch-up window
    posts[0]["not_after"] = "1h"
    site.write_posts("coalition.yaml", posts)
    run_once(site, TOKENS)
    records = site.records()
    assert str(records["launch"].state) == "missed"
    with site.ledger() as ledger:
        for key in ("launch~boost~partner", "launch~boost~ally", "launch~quote~ally"):
            assert str(records[key].state) == "missed"
            [event] = [e for e in ledger.events(key) if e.kind == "missed"]
            assert event.detail.startswith("skipped: the post it shares, launch, was never")
    assert own_statuses(server, "bob") == [] and own_statuses(server, "carol") == []


class CoalitionSite(Site):
    """The campaign folder with the three accounts' tokens in the environment."""

    @property
    def env(self) -> dict[str, str]:
        return dict(TOKENS)


@pytest.mark.slow
def test_sigkill_during_boosts_and_quotes_never_loses_or_doubles_one(
    site: Site, server: MockServer
) -> None:
    """`run --once` killed again and again while posts, boosts and quotes of three accounts go
    out: in the end each post, each boost and each quote is on the server exactly once."""
    crashing = CoalitionSite(site.root, server, site.clock)
    configure(crashing)
    plan = [
        ("lead", "partner", "ally"),
        ("lead", "ally", "partner"),
        ("partner", "lead", "ally"),
    ]
    posts = [
        {
            "id": f"post-{i}",
            "account": author,
            "at": site.at(-timedelta(minutes=30 - i)),
            "text": f"Coalition post number {i}.",
            "boost": {"by": [booster], "after": "0s"},
            "quote": [{"by": quoter, "after": "0s", "text": f"We back post {i}."}],
        }
        for i, (author, booster, quoter) in enumerate(plan)
    ]
    crashing.write_posts("coalition.yaml", posts)
    rng = random.Random(SEED)  # noqa: S311 - kill moments, not secrets
    kills = 0
    code: int | None = None
    while code is None and kills < 12:
        code, kill = run_until_killed(crashing, rng)
        kills += kill is not None
    if code is None:
        finished = crashing.cli("run", "--once", timeout=RUN_TIMEOUT)
        assert finished.returncode == 0, finished.stderr
    assert kills >= 5

    records = crashing.records()
    assert len(records) == 9 and {str(r.state) for r in records.values()} == {"published"}
    users = {"lead": "alice", "partner": "bob", "ally": "carol"}
    statuses = {name: own_statuses(server, user) for name, user in users.items()}
    for i, (author, booster, quoter) in enumerate(plan):
        [post] = [s for s in statuses[author] if not s["reblog"] and f"number {i}." in s["content"]]
        boosts = [
            s
            for name in users
            for s in statuses[name]
            if (s["reblog"] or {}).get("id") == post["id"]
        ]
        assert [b["account"]["username"] for b in boosts] == [users[booster]]
        quotes = [
            s for name in users for s in statuses[name]
            if ((s.get("quote") or {}).get("quoted_status") or {}).get("id") == post["id"]
        ]  # fmt: skip
        assert [q["account"]["username"] for q in quotes] == [users[quoter]]
    # Nothing else is on the server: three posts, three boosts, three quotes.
    assert sum(len(s) for s in statuses.values()) == 9


def test_a_revoked_default_token_holds_up_only_the_default_account(
    site: Site, server: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The lead (the default account) has its token revoked: its own posts wait, while the
    partners' posts, and their boosts of the lead's post already out, keep going out."""
    configure(site)
    posts = coalition_posts(site)
    posts[1]["at"] = site.at(timedelta(minutes=2))
    posts.append({"id": "lead-later", "at": site.at(timedelta(minutes=2)), "text": "Day two."})
    site.write_posts("coalition.yaml", posts)
    assert run_once(site, TOKENS) == 0
    [launch] = own_statuses(server, "alice")

    revoked = {**TOKENS, "MASTODON_ACCESS_TOKEN_LEAD": "revoked-token"}
    site.clock.advance(timedelta(minutes=6))
    with caplog.at_level("INFO"):
        assert run_once(site, revoked) == TRY_AGAIN_LATER
    assert [s["content"] for s in own_statuses(server, "bob") if not s["reblog"]] == [
        "<p>Why the library matters to our readers.</p>"
    ]
    boosters = server.client("alice").status_reblogged_by(launch["id"])
    assert [a["username"] for a in boosters] == ["bob"]
    assert [s["id"] for s in own_statuses(server, "alice")] == [launch["id"]]
    assert "account 'lead': the instance rejected the access token" in caplog.text
    assert "that account's posts, boosts and quotes wait, the others go on" in caplog.text
    states = {k: str(r.state) for k, r in site.records().items()}
    assert states["partner-story"] == "published"
    assert states["launch~boost~partner"] == "published"
    assert states.get("lead-later", "pending") == "pending"

    # The token works again: the lead's post goes out, late but within its window.
    site.clock.advance(timedelta(minutes=6))
    assert run_once(site, TOKENS) == 0
    later = [s for s in own_statuses(server, "alice") if "Day two." in s["content"]]
    assert len(later) == 1
    assert str(site.records()["lead-later"].state) == "published"


def test_a_revoked_default_token_on_a_new_ledger_stops_everything(
    site: Site, server: MockServer
) -> None:
    """On an empty ledger only the default account's posts on the instance can tell whether
    the ledger was lost: with its token refused, nothing goes out."""
    configure(site)
    site.write_posts("coalition.yaml", coalition_posts(site))
    revoked = {**TOKENS, "MASTODON_ACCESS_TOKEN_LEAD": "revoked-token"}
    with pytest.raises(TokenRefused):
        run_once(site, revoked)
    assert own_statuses(server, "bob") == [] and own_statuses(server, "carol") == []
