"""One account held up, the others going on (`responses`, a real ledger): a rejected token,
an instance that cannot be reached, an outage or a rate limit on one account's instance.
What the daemon is told (`token_problems`, `waiting`, the callbacks) and what it logs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import responses
from test_coalition_boosts import ALLY, Accounts, messages, own_post, publish
from test_coalition_publish import LEAD, PARTNER, START, clock, ledger, status

from bot.core.clock import FakeClock
from bot.core.errors import CampaignBotError
from bot.core.states import Result, State
from bot.mastodon.types import AuthError, TokenRefused
from bot.storage.ledger import Ledger

__all__ = ["clock", "ledger"]  # the fixtures, used by name
REFUSED = TokenRefused("the instance rejected the access token (401)")
HELD = "account 'partner': the instance rejected the access token (401)"
LOGGER = "bot.publishing.coalition"


class Told:
    """What the daemon hears: a token rejected, a token working again."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, AuthError]] = []
        self.back: list[tuple[str, timedelta]] = []

    def problem(self, name: str, exc: AuthError) -> None:
        self.problems.append((name, exc))

    def token_back(self, name: str, lasted: timedelta) -> None:
        self.back.append((name, lasted))


def serve_post(wire: responses.RequestsMock, base: str, status_id: str) -> None:
    wire.post(f"{base}/api/v1/statuses", json=status(status_id))


def test_a_rejected_partner_token_holds_only_that_accounts_posts(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = Accounts(ledger, clock)
    accounts.refuse["partner"] = REFUSED
    publisher = accounts.coalition()
    told = Told()
    publisher.on_token_problem = told.problem
    publisher.on_token_back = told.token_back
    retry = START + timedelta(minutes=2)

    with responses.RequestsMock() as wire, caplog.at_level("INFO", LOGGER):
        serve_post(wire, LEAD, "501")
        first = publish(publisher, own_post("p1", "partner"))
        second = publish(publisher, own_post("p2", "partner"))
        again = publish(publisher, own_post("p2", "partner"))
        lead = publish(publisher, own_post("l1"))
    assert (first.result, first.error, first.retry_at) == (Result.DEFERRED, HELD, retry)
    assert (second.result, second.error, second.retry_at) == (Result.DEFERRED, HELD, retry)
    assert again.result is Result.DEFERRED
    assert lead.result is Result.PUBLISHED  # the lead goes on
    assert accounts.made == ["partner"]  # the token is not tried at every post
    assert ledger.get("p1") is None and ledger.get("p2") is None  # nothing was sent
    assert told.problems == [("partner", REFUSED)]
    assert publisher.token_problems() == {"partner": HELD}
    assert publisher.waiting() == {"partner": HELD}
    assert publisher.working_client("partner") is None
    assert publisher.working_client("lead") is publisher.client
    assert messages(caplog)[:2] == [
        (
            "CRITICAL",
            f"{HELD} — that account's posts, boosts and quotes wait, the others go on; fix it "
            "with `campaign-bot login --account partner` or replace its token (the bot tries "
            "it again by itself)",
            None,
        ),
        # Each post held up is named once, not at every look.
        ("WARNING", f"due but not sent: {HELD}; it waits for that account's token", "p2"),
    ]
    assert [m for m in messages(caplog) if m[0] == "WARNING"] == [
        ("WARNING", f"due but not sent: {HELD}; it waits for that account's token", "p2")
    ]

    # Two minutes later the token is read and tried again: still refused, said more quietly.
    caplog.clear()
    clock.set(retry)
    with responses.RequestsMock(), caplog.at_level("INFO", LOGGER):
        still = publish(publisher, own_post("p2", "partner"))
    assert (still.result, still.retry_at) == (Result.DEFERRED, retry + timedelta(minutes=2))
    assert accounts.made == ["partner", "partner"]
    assert told.problems == [("partner", REFUSED)]
    assert messages(caplog) == [
        ("INFO", "account 'partner': the access token is still refused; trying again later", None)
    ]
    # Past its retry time, an account whose token is refused is still waiting.
    clock.set(retry + timedelta(minutes=3))
    assert publisher.waiting() == {"partner": HELD}

    # The token was replaced: it works, the partner's posts go, the daemon hears of it.
    del accounts.refuse["partner"]
    caplog.clear()
    with responses.RequestsMock() as wire, caplog.at_level("INFO", LOGGER):
        serve_post(wire, PARTNER, "502")
        back = publish(publisher, own_post("p2", "partner"))
    assert back.result is Result.PUBLISHED
    assert told.back == [("partner", timedelta(minutes=5))]
    assert messages(caplog) == [
        (
            "INFO",
            "account 'partner': the access token works again after 5m; its posts, boosts and "
            "quotes go on",
            None,
        )
    ]
    assert publisher.token_problems() == {}
    assert publisher.waiting() == {}
    found = publisher.working_client("partner")
    assert found is not None and found is not publisher.client

    # Refused once more later: told again, and each post held up is named again.
    accounts.refuse["partner"] = REFUSED
    publisher.token_refused("partner", REFUSED)
    assert told.problems == [("partner", REFUSED), ("partner", REFUSED)]
    caplog.clear()
    with responses.RequestsMock(), caplog.at_level("INFO", LOGGER):
        publish(publisher, own_post("p3", "partner"))
    assert messages(caplog) == [
        ("WARNING", f"due but not sent: {HELD}; it waits for that account's token", "p3")
    ]


def test_after_a_token_works_again_its_held_posts_are_named_again(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The posts named while a token was refused are named again if it is refused again."""
    accounts = Accounts(ledger, clock)
    accounts.refuse["partner"] = REFUSED
    publisher = accounts.coalition()
    with responses.RequestsMock():
        publish(publisher, own_post("p1", "partner"))
        publish(publisher, own_post("p1", "partner"))  # named
    del accounts.refuse["partner"]
    clock.advance(timedelta(minutes=2))
    publisher.publisher_for("partner")  # works again
    publisher.token_refused("partner", REFUSED)
    caplog.clear()
    with responses.RequestsMock(), caplog.at_level("INFO", LOGGER):
        publish(publisher, own_post("p1", "partner"))
    assert [m[0] for m in messages(caplog)] == ["WARNING"]


def test_a_rejected_default_token_holds_only_the_default_accounts_posts(
    ledger: Ledger, clock: FakeClock
) -> None:
    """The default account's token was rejected when the bot connected: its posts wait, the
    partner's go; once its token works, its own publisher is made and its posts go."""
    accounts = Accounts(ledger, clock)
    accounts.refuse["lead"] = REFUSED
    publisher = accounts.coalition(refused=REFUSED)
    held = "account 'lead': the instance rejected the access token (401)"
    assert publisher.token_problems() == {"lead": held}
    assert publisher.working_client("lead") is None
    with responses.RequestsMock() as wire:
        serve_post(wire, PARTNER, "601")
        lead = publish(publisher, own_post("l1"))
        partner = publish(publisher, own_post("p1", "partner"))
    assert (lead.result, lead.error) == (Result.DEFERRED, held)
    assert partner.result is Result.PUBLISHED
    assert accounts.made == ["partner"]

    del accounts.refuse["lead"]
    clock.advance(timedelta(minutes=2))
    with responses.RequestsMock() as wire:
        serve_post(wire, LEAD, "602")
        assert publish(publisher, own_post("l1")).result is Result.PUBLISHED
    assert accounts.made == ["partner", "lead"]
    assert publisher.token_problems() == {}


def test_a_token_rejected_while_posting_holds_that_account(
    ledger: Ledger, clock: FakeClock
) -> None:
    """The lead's token is revoked: its post stays pending and waits two minutes, the
    partner's post goes; two minutes later the lead's token is read again."""
    accounts = Accounts(ledger, clock)
    publisher = accounts.coalition()
    with responses.RequestsMock() as wire:
        wire.post(f"{LEAD}/api/v1/statuses", status=401, json={"error": "invalid token"})
        serve_post(wire, PARTNER, "701")
        lead = publish(publisher, own_post("l1"))
        later = publish(publisher, own_post("l2"))
        partner = publish(publisher, own_post("p1", "partner"))
    assert lead.result is Result.DEFERRED
    assert lead.retry_at == START + timedelta(minutes=2)
    assert lead.error and lead.error.startswith("account 'lead': ")
    assert later.result is Result.DEFERRED
    record = ledger.get("l1")
    assert record is not None and record.state is State.PENDING
    assert ledger.get("l2") is None
    assert partner.result is Result.PUBLISHED
    assert set(publisher.token_problems()) == {"lead"}

    clock.advance(timedelta(minutes=2))
    with responses.RequestsMock() as wire:
        serve_post(wire, LEAD, "702")
        assert publish(publisher, own_post("l2")).result is Result.PUBLISHED
    assert accounts.made == ["partner", "lead"]


def test_sighup_tries_a_rejected_token_at_once(ledger: Ledger, clock: FakeClock) -> None:
    accounts = Accounts(ledger, clock)
    accounts.refuse["partner"] = REFUSED
    accounts.broken["ally"] = CampaignBotError("no token file for 'ally'")
    publisher = accounts.coalition()
    with responses.RequestsMock():
        publish(publisher, own_post("p1", "partner"))
        publish(publisher, own_post("a1", "ally"))
    del accounts.refuse["partner"]
    del accounts.broken["ally"]
    publisher.recheck_tokens()
    # Still rejected, for the same reason, until it is tried.
    assert publisher.token_problems() == {"partner": HELD}
    assert publisher.waiting() == {
        "partner": HELD,
        "ally": "account 'ally': no token file for 'ally'",
    }
    with responses.RequestsMock() as wire:
        serve_post(wire, PARTNER, "801")
        assert publish(publisher, own_post("p1", "partner")).result is Result.PUBLISHED
        # An account held up for another reason still waits its minute.
        assert publish(publisher, own_post("a1", "ally")).result is Result.DEFERRED
    assert accounts.made == ["partner", "ally", "partner"]


def test_an_account_that_cannot_connect_waits_a_minute(
    ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = Accounts(ledger, clock)
    accounts.broken["ally"] = CampaignBotError("no token file for 'ally'")
    publisher = accounts.coalition()
    reason = "account 'ally': no token file for 'ally'"
    with responses.RequestsMock(), caplog.at_level("INFO", LOGGER):
        first = publish(publisher, own_post("a1", "ally"))
        second = publish(publisher, own_post("a2", "ally"))
    retry = START + timedelta(minutes=1)
    assert (first.result, first.error, first.retry_at) == (Result.DEFERRED, reason, retry)
    assert (second.result, second.error, second.retry_at) == (Result.DEFERRED, reason, retry)
    assert accounts.made == ["ally"]
    assert messages(caplog) == [("WARNING", f"{reason}; its posts wait", "a1")]
    assert publisher.waiting() == {"ally": reason}
    assert publisher.token_problems() == {}
    assert publisher.working_client("ally") is None

    # A minute later it is tried again; it connects and posts.
    del accounts.broken["ally"]
    clock.set(retry)
    assert publisher.waiting() == {}
    with responses.RequestsMock() as wire:
        serve_post(wire, ALLY, "901")
        assert publish(publisher, own_post("a2", "ally")).result is Result.PUBLISHED


def test_a_rate_limit_on_a_partners_instance_holds_only_that_partner(
    ledger: Ledger, clock: FakeClock
) -> None:
    reset = START + timedelta(minutes=30)
    accounts = Accounts(ledger, clock)
    publisher = accounts.coalition()
    with responses.RequestsMock() as wire:
        wire.post(
            f"{PARTNER}/api/v1/statuses",
            status=429,
            json={"error": "Too many requests"},
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": stamp(reset),
            },
        )
        serve_post(wire, LEAD, "1001")
        first = publish(publisher, own_post("p1", "partner"))
        second = publish(publisher, own_post("p2", "partner"))
        lead = publish(publisher, own_post("l1"))
        assert len(wire.calls) == 2  # the partner's second post was not even tried
    assert first.result is Result.DEFERRED and first.retry_at == reset
    assert (second.result, second.error, second.retry_at) == (
        Result.DEFERRED,
        first.error,
        reset,
    )
    assert lead.result is Result.PUBLISHED
    assert publisher.waiting() == {"partner": first.error}
    assert publisher.token_problems() == {}


def test_the_default_accounts_outage_is_not_an_accounts_wait(
    ledger: Ledger, clock: FakeClock
) -> None:
    """The default account's own instance watch holds its posts; `waiting` names only the
    other accounts held up."""
    publisher = Accounts(ledger, clock).coalition()
    with responses.RequestsMock() as wire:
        wire.post(f"{LEAD}/api/v1/statuses", status=503, body="Service Unavailable")
        outcome = publish(publisher, own_post("l1"))
    assert outcome.result in {Result.DEFERRED, Result.UNAVAILABLE}
    assert publisher.waiting() == {}


def test_a_partner_sends_nothing_when_the_bot_is_stopping(ledger: Ledger, clock: FakeClock) -> None:
    """Each account's publisher asks the bot's own stop switch: a stopping bot sends nothing
    more for any account."""
    publisher = Accounts(ledger, clock).coalition(stopping=True)
    with responses.RequestsMock():  # nothing is sent
        outcome = publish(publisher, own_post("p1", "partner"))
    assert outcome.result is Result.DEFERRED
    assert (outcome.error or "").startswith("the bot is stopping")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
