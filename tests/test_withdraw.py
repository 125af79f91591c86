"""Taking a post back with `Withdrawer`: a thread deleted from its last reply to the post, a
status already gone counted as gone, a post not yet out cancelled, and the ledger's record of
each step (fast: `responses` with recorded bodies, a real SQLite ledger, a fake clock)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from bot.core.clock import FakeClock
from bot.core.errors import CampaignBotError
from bot.core.states import State
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import TransientError
from bot.publishing.pacing import Pacer, Window
from bot.publishing.publisher import RetryPolicy
from bot.publishing.withdraw import Withdrawal, Withdrawer, published_parts
from bot.storage.amendments import Amendments
from bot.storage.ledger import Ledger

BASE = "https://campaign.example"
FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def url_of(status_id: str) -> str:
    return f"{BASE}/api/v1/statuses/{status_id}"


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def withdrawer(
    ledger: Ledger,
    clock: FakeClock,
    *,
    online: bool = True,
    pacer: Pacer | None = None,
    attempts: int = 3,
) -> Withdrawer:
    client = MastodonClient(BASE, "token-not-shown", clock=clock) if online else None
    rng = random.Random(3)  # noqa: S311 - jitter, not security
    policy = RetryPolicy(attempts=attempts)
    return Withdrawer(client, Amendments(ledger, clock), clock, pacer=pacer, policy=policy, rng=rng)


def thread(ledger: Ledger, key: str = "t", parts: int = 3) -> None:
    """A published thread: part i is status `10i` at https://x/10i."""
    ledger.begin_attempt(key, key, START, "h")
    for i in range(parts):
        ledger.record_part_intent(key, i, f"k{i}")
        ledger.record_part_published(key, i, f"10{i}", f"https://x/10{i}")
    ledger.mark_published(key)


def events(ledger: Ledger, key: str, kind: str) -> list[tuple[int | None, str]]:
    return [(e.part_index, e.detail) for e in ledger.events(key) if e.kind == kind]


def test_a_thread_is_deleted_from_its_last_reply_to_the_post(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Replies first, so none is left hanging under a deleted post; each deletion is a ledger
    event naming the status and its URL, and a log line naming the part as people count it;
    the occurrence ends `withdrawn`."""
    caplog.set_level(logging.INFO, logger="bot.publishing.withdraw")
    thread(ledger)
    for i in (2, 1, 0):
        mock.delete(url_of(f"10{i}"), json=body("status_deleted_with_source"))
    done = withdrawer(ledger, clock).withdraw("t", "t", START, ledger.get("t"))
    assert done == Withdrawal("t", ("https://x/102", "https://x/101", "https://x/100"))
    assert [str(c.request.url).split("/")[-1] for c in mock.calls] == ["102", "101", "100"]
    assert events(ledger, "t", "part-deleted") == [
        (2, "status 102: deleted https://x/102"),
        (1, "status 101: deleted https://x/101"),
        (0, "status 100: deleted https://x/100"),
    ]
    assert events(ledger, "t", "withdrawn") == [(None, "3 statuses deleted, 0 already gone")]
    assert ledger.states()["t"] is State.WITHDRAWN
    assert [(r.getMessage(), getattr(r, "post_id", None)) for r in caplog.records] == [
        ("part 3 withdrawn: https://x/102", "t"),
        ("part 2 withdrawn: https://x/101", "t"),
        ("part 1 withdrawn: https://x/100", "t"),
    ]


def test_a_status_already_gone_is_reported_as_gone_and_the_rest_deleted(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock
) -> None:
    """A 404 (deleted by hand or by a moderator) is not an error: that part is `already gone`,
    the others are deleted, and the post is withdrawn."""
    thread(ledger)
    mock.delete(url_of("102"), json=body("status_deleted_with_source"))
    mock.delete(url_of("101"), status=404, json=body("error_404_record_not_found"))
    mock.delete(url_of("100"), json=body("status_deleted_with_source"))
    done = withdrawer(ledger, clock).withdraw("t", "t", START, ledger.get("t"))
    assert done.deleted == ("https://x/102", "https://x/100")
    assert done.already_gone == ("https://x/101",)
    assert not done.cancelled
    assert events(ledger, "t", "part-deleted")[1] == (1, "status 101: already gone: https://x/101")
    assert events(ledger, "t", "withdrawn") == [(None, "2 statuses deleted, 1 already gone")]
    assert ledger.states()["t"] is State.WITHDRAWN


def test_only_the_parts_on_the_instance_are_deleted(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock
) -> None:
    """A thread that failed after its first part: the part never sent is not asked about."""
    ledger.begin_attempt("t", "t", START, "h")
    ledger.record_part_intent("t", 0, "k0")
    ledger.record_part_published("t", 0, "100", "https://x/100")
    ledger.record_part_intent("t", 1, "k1")
    ledger.mark_failed("t", "422")
    record = ledger.get("t")
    assert published_parts(record) == [(0, "100", "https://x/100")]
    mock.delete(url_of("100"), json=body("status_deleted_with_source"))
    done = withdrawer(ledger, clock).withdraw("t", "t", START, record)
    assert done.deleted == ("https://x/100",)
    assert len(mock.calls) == 1


def test_published_parts_is_empty_without_a_record() -> None:
    assert published_parts(None) == []


@pytest.mark.parametrize("online", [True, False])
def test_a_post_not_yet_out_is_cancelled_without_asking_the_instance(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock, online: bool
) -> None:
    """Nothing is on the instance: the occurrence is created as `withdrawn` (so no run sends
    it), also offline."""
    planned = START + timedelta(days=1)
    done = withdrawer(ledger, clock, online=online).withdraw("later", "post", planned, None)
    assert done == Withdrawal("later", cancelled=True)
    record = ledger.get("later")
    assert record is not None and record.state is State.WITHDRAWN
    assert record.post_id == "post" and record.planned_at == planned
    assert events(ledger, "later", "withdrawn") == [(None, "cancelled before it went out")]
    assert len(mock.calls) == 0


def test_a_failed_post_with_nothing_out_is_cancelled(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock
) -> None:
    ledger.begin_attempt("f", "f", START, "h")
    ledger.mark_failed("f", "422")
    done = withdrawer(ledger, clock).withdraw("f", "f", START, ledger.get("f"))
    assert done.cancelled and done.deleted == ()
    assert ledger.states()["f"] is State.WITHDRAWN
    assert len(mock.calls) == 0


def test_a_post_being_sent_is_refused_with_what_to_do(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock
) -> None:
    ledger.begin_attempt("s", "s", START, "h")
    with pytest.raises(CampaignBotError) as caught:
        withdrawer(ledger, clock).withdraw("s", "s", START, ledger.get("s"))
    assert str(caught.value) == (
        "s is being sent right now (or a send was interrupted): let the bot finish it "
        "(`campaign-bot run --once`), then withdraw it"
    )
    assert ledger.states()["s"] is State.SENDING
    assert len(mock.calls) == 0


def test_withdrawing_again_changes_nothing(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock
) -> None:
    """A withdrawn post still has its status ids in the ledger: none is deleted again."""
    thread(ledger, parts=1)
    Amendments(ledger, clock).mark_withdrawn("t", "t", START, "done before")
    before = ledger.events("t")
    done = withdrawer(ledger, clock).withdraw("t", "t", START, ledger.get("t"))
    assert done == Withdrawal("t")
    assert ledger.events("t") == before
    assert len(mock.calls) == 0


def test_offline_a_published_post_cannot_be_withdrawn(ledger: Ledger, clock: FakeClock) -> None:
    thread(ledger, parts=1)
    with pytest.raises(CampaignBotError) as caught:
        withdrawer(ledger, clock, online=False).withdraw("t", "t", START, ledger.get("t"))
    assert str(caught.value) == "t is on the instance: withdrawing it needs the instance"
    assert ledger.states()["t"] is State.PUBLISHED


def test_a_blip_is_tried_again_and_its_lost_deletion_counts_as_done(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503, then a 404 (the first deletion had gone through): the part is gone, after one
    backoff on the bot's clock, and the operator's log says why it waited."""
    caplog.set_level(logging.WARNING, logger="bot.publishing.withdraw")
    thread(ledger, parts=1)
    mock.delete(url_of("100"), status=503, json={"error": "Service unavailable"})
    mock.delete(url_of("100"), status=404, json=body("error_404_record_not_found"))
    done = withdrawer(ledger, clock).withdraw("t", "t", START, ledger.get("t"))
    assert done.already_gone == ("https://x/100",)
    assert len(mock.calls) == 2
    assert len(clock.slept) == 1 and 0.5 <= clock.slept[0] <= 1.0
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line == (
        "deleting 100: the instance had a temporary problem with the deletion of post 100 "
        f"(503): Service unavailable; trying again in {clock.slept[0]:.0f} s"
    )


def test_a_blip_that_lasts_past_the_tries_is_raised_and_nothing_is_settled(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock
) -> None:
    thread(ledger, parts=1)
    mock.delete(url_of("100"), status=503, json={"error": "Service unavailable"})
    with pytest.raises(TransientError):
        withdrawer(ledger, clock, attempts=2).withdraw("t", "t", START, ledger.get("t"))
    assert len(mock.calls) == 2
    assert ledger.states()["t"] is State.PUBLISHED
    assert events(ledger, "t", "part-deleted") == []


def test_deletions_are_paced_by_their_own_limit(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock
) -> None:
    """Deleting has its own throttle: with room for one deletion per 30 minutes, the second
    part waits half an hour on the bot's clock."""
    thread(ledger, parts=2)
    for i in (1, 0):
        mock.delete(url_of(f"10{i}"), json=body("status_deleted_with_source"))
    # The pacer keeps 90 % of a limit for itself, and at least one.
    pacer = Pacer(clock, {"delete": Window(1, timedelta(minutes=30))})
    withdrawer(ledger, clock, pacer=pacer).withdraw("t", "t", START, ledger.get("t"))
    assert clock.now() == START + timedelta(minutes=30)


def test_a_status_the_instance_gave_no_url_for_is_still_deleted(
    mock: responses.RequestsMock, ledger: Ledger, clock: FakeClock
) -> None:
    """Some servers give a status no URL: the part is deleted by its id and listed blank."""
    ledger.begin_attempt("t", "t", START, "h")
    ledger.record_part_intent("t", 0, "k0")
    ledger.record_part_published("t", 0, "100", "")
    ledger.mark_published("t")
    assert published_parts(ledger.get("t")) == [(0, "100", "")]
    mock.delete(url_of("100"), json=body("status_deleted_with_source"))
    done = withdrawer(ledger, clock).withdraw("t", "t", START, ledger.get("t"))
    assert done.deleted == ("",)
    assert events(ledger, "t", "part-deleted") == [(0, "status 100: deleted ")]
