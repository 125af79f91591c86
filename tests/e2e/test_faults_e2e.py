"""Publishing through the mock's injected faults: every post ends on the server exactly once, or
`failed` in the ledger with its reason; a thread is resumed, never restarted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.core.posts import CampaignPost
from bot.mastodon.types import AuthError
from bot.publishing.publisher import RetryPolicy

from .conftest import STATUSES, Crash, Site, Tap, assert_published_exactly_once, lose_answer

pytestmark = pytest.mark.e2e

MEDIA = "/api/v2/media"


def write_campaign(site: Site) -> dict[str, CampaignPost]:
    """Three due posts: a thread of three with an image, a poll, and a content-warned post."""
    site.write_posts(
        "due.yaml",
        [
            {
                "id": "thread",
                "at": site.at(-timedelta(minutes=30)),
                "text": "Our libraries, a thread.",
                "hashtags": ["SaveOurLibraries"],
                "media": [
                    {
                        "file": "media/library-shelf.png",
                        "alt": "A shelf of six books",
                        "focus": [0, 0.1],
                    }
                ],
                "thread": [{"text": "Part two of the thread."}, {"text": "Part three, the end."}],
            },
            {
                "id": "poll",
                "at": site.at(-timedelta(minutes=20)),
                "text": "What do you use the library for?",
                "poll": {"options": ["Books", "Wifi"], "expires_in": "1d"},
            },
            {
                "id": "story",
                "at": site.at(-timedelta(minutes=10)),
                "cw": "cold homes",
                "text": "A story from a reader.",
            },
        ],
    )
    return site.app().campaign(online=False).by_id()


def part_events(site: Site, key: str, kind: str) -> list[int | None]:
    with site.ledger() as ledger:
        return [e.part_index for e in ledger.events(key) if e.kind == kind]


def reset_in(site: Site, seconds: float) -> str:
    return str(int((site.clock.now() + timedelta(seconds=seconds)).timestamp()))


FAULTS: dict[str, Callable[[Site], dict[str, Any]]] = {
    "500": lambda site: {"path": STATUSES, "status": 500},
    "502": lambda site: {"path": STATUSES, "status": 502},
    "503": lambda site: {"path": STATUSES, "status": 503},
    "504": lambda site: {"path": STATUSES, "status": 504},
    "429 with reset headers": lambda site: {
        "path": STATUSES,
        "type": "ratelimit",
        "headers": {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset_in(site, 40)},
    },
    "slow answers": lambda site: {"path": STATUSES, "type": "latency", "delay_ms": 300},
    "malformed status body": lambda site: {"path": STATUSES, "type": "malformed"},
    "garbage status body": lambda site: {"path": STATUSES, "type": "malformed", "truncate": False},
    "media 503": lambda site: {"path": MEDIA, "status": 503},
    "media malformed body": lambda site: {"path": MEDIA, "type": "malformed"},
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_passing_faults_end_in_exactly_one_post(
    site: Site, fault: Callable[[Site], dict[str, Any]]
) -> None:
    """A fault that passes after two hits delays the posts but each is on the server once."""
    posts = write_campaign(site)
    site.server.fault(methods=["POST"], count=2, **fault(site))
    assert site.run_once() == 0
    assert {str(r.state) for r in site.records().values()} == {"published"}
    assert_published_exactly_once(site, posts)
    assert len(site.statuses()) == 5


@pytest.mark.parametrize(
    "fault",
    [
        {"type": "timeout"},  # the server holds the request until the client gives up
        {"type": "latency", "delay_ms": 2500},  # answers after the client's 2 s timeout
    ],
    ids=["hung", "slower than the timeout"],
)
def test_hung_and_too_slow_answers_are_retried_once_each(site: Site, fault: dict[str, Any]) -> None:
    """A POST the client gave up on is retried with the same key; the post is there once."""
    site.write_posts("one.yaml", [{"id": "one", "at": site.at(), "text": "Patience."}])
    site.server.fault(path=STATUSES, methods=["POST"], count=1, **fault)
    assert site.run_once() == 0
    statuses = site.statuses()
    assert [site.source_text(s["id"]) for s in statuses] == ["Patience."]
    assert site.records()["one"].parts[0].status_id == statuses[0]["id"]


def test_persistent_503_leaves_posts_pending_then_the_next_run_publishes_once(site: Site) -> None:
    """Tried: past six tries a 503 made each post `failed` for good. Now the posts stay pending
    with the reason, the run exits 75 without sending every post into the failure, and the
    next run after the outage publishes each once."""
    posts = write_campaign(site)
    fault = site.server.fault(path=STATUSES, methods=["POST"], status=503)
    assert site.run_once() == 75
    records = site.records()
    assert {str(r.state) for r in records.values()} == {"pending"}
    assert list(records) == ["thread", "poll"]  # two failures mean an outage: story not tried
    for record in records.values():
        assert record.last_error is not None
        assert "(503)" in record.last_error
        assert "Service temporarily unavailable" in record.last_error
    assert site.statuses() == []

    fault.delete()
    assert site.run_once() == 0
    assert_published_exactly_once(site, posts)
    assert len(site.statuses()) == 5


def test_422_is_failed_with_the_servers_message(site: Site) -> None:
    """A 422 is not retried: the post is `failed` with the instance's own words."""
    site.write_posts("one.yaml", [{"id": "one", "at": site.at(), "text": "Too long, says he."}])
    message = "Validation failed: Text character limit of 500 exceeded"
    site.server.fault(path=STATUSES, methods=["POST"], status=422, body={"error": message}, count=1)
    assert site.run_once() == 1
    record = site.records()["one"]
    assert str(record.state) == "failed"
    assert record.last_error is not None
    assert message in record.last_error
    assert site.clock.slept == []
    assert site.statuses() == []


def test_401_stops_publishing_and_keeps_the_post_pending(site: Site) -> None:
    """A revoked token stops the run loudly; the post stays pending and goes out later, once."""
    posts = write_campaign(site)
    site.server.fault(
        path=STATUSES,
        methods=["POST"],
        status=401,
        body={"error": "The access token was revoked"},
        count=1,
    )
    with pytest.raises(AuthError, match="access token was revoked") as raised:
        site.run_once()
    assert "Preferences" in str(raised.value)  # says how to fix it
    records = site.records()
    assert list(records) == ["thread"]  # nothing after it was attempted
    assert str(records["thread"].state) == "pending"
    assert "401" in (records["thread"].last_error or "")
    assert site.statuses() == []

    assert site.run_once() == 0
    assert_published_exactly_once(site, posts)
    assert len(site.statuses()) == 5


def test_429_with_a_far_reset_defers_until_then(site: Site) -> None:
    """A 429 resetting in two hours leaves the post pending; a run after the reset posts it."""
    site.write_posts("one.yaml", [{"id": "one", "at": site.at(), "text": "Later, then."}])
    site.configure(catch_up="6h")
    site.server.fault(
        path=STATUSES,
        methods=["POST"],
        type="ratelimit",
        headers={"X-RateLimit-Reset": reset_in(site, 7200)},
        count=1,
    )
    assert site.run_once() == 75  # try again later
    record = site.records()["one"]
    assert str(record.state) == "pending"
    assert "rate limited" in (record.last_error or "")
    assert site.statuses() == []
    site.clock.advance(timedelta(hours=2, minutes=1))
    assert site.run_once() == 0
    assert str(site.records()["one"].state) == "published"
    assert [site.source_text(s["id"]) for s in site.statuses()] == ["Later, then."]


@pytest.mark.parametrize("lost", [1, 2], ids=["first part", "a thread reply"])
def test_forgotten_key_and_lost_answer_on_a_server_ignoring_keys(site: Site, lost: int) -> None:
    """Keys ignored, key forgotten, answer lost: the part is found and adopted, not resent."""
    site.configure(idempotency_keys="ignored")
    posts = write_campaign(site)
    tap = Tap()
    site.session = tap

    def forget_then_lose() -> None:
        assert site.forget_idempotency_keys() == lost
        lose_answer()

    tap.after[lost] = forget_then_lose
    assert site.run_once() == 0
    assert_published_exactly_once(site, posts)
    assert len(site.statuses()) == 5
    assert part_events(site, "thread", "part-adopted") == [lost - 1]


@pytest.mark.parametrize(
    ("forget", "later", "adopted"),
    [
        (True, timedelta(minutes=61), [0]),  # key forgotten: found on the server
        (False, timedelta(minutes=10), []),  # key remembered: the server answers with the post
    ],
    ids=["after an hour", "within the hour"],
)
def test_restart_after_a_lost_answer(
    site: Site, forget: bool, later: timedelta, adopted: list[int]
) -> None:
    """After dying right behind a POST, the restart does not post it again, key kept or not."""
    posts = write_campaign(site)
    tap = Tap()
    site.session = tap

    def die() -> None:
        if forget:
            site.forget_idempotency_keys()
        raise Crash

    tap.after[1] = die
    with pytest.raises(Crash):
        site.run_once()
    assert str(site.records()["thread"].state) == "sending"
    assert len(site.statuses()) == 1

    site.clock.advance(later)
    site.session = None
    assert site.run_once() == 0
    assert_published_exactly_once(site, posts)
    assert len(site.statuses()) == 5
    assert part_events(site, "thread", "part-adopted") == adopted


def test_gone_thread_parent_fails_with_a_clear_reason(site: Site) -> None:
    """A 404 for a thread reply (its parent deleted meanwhile) fails the post and says why."""
    site.write_posts(
        "one.yaml",
        [{"id": "one", "at": site.at(), "text": "Start.", "thread": [{"text": "Orphan."}]}],
    )
    tap = Tap()
    site.session = tap
    gone = "The post you are trying to reply to does not appear to exist."
    tap.after[1] = lambda: site.server.fault(
        path=STATUSES, methods=["POST"], status=404, body={"error": gone}, count=1
    )
    assert site.run_once() == 1
    record = site.records()["one"]
    assert str(record.state) == "failed"
    assert record.last_error is not None
    assert gone in record.last_error
    assert "earlier part of the thread is gone" in record.last_error
    assert len(site.statuses()) == 1


@pytest.mark.parametrize(
    ("fault", "state", "code"),
    [
        # As many 503s as the retry budget has tries: only that part runs into them, and it
        # stays pending (exit 75: try again later) while the other posts go out.
        ({"status": 503, "count": RetryPolicy().attempts}, "pending", 75),
        # The rate limit is the account's: nothing else is sent into it before the reset.
        ({"type": "ratelimit", "count": 1}, "pending", 75),
    ],
    ids=["503 until the budget is spent", "429 for two hours"],
)
def test_thread_failing_halfway_resumes_from_the_last_published_part(
    site: Site, fault: dict[str, Any], state: str, code: int
) -> None:
    """A thread stopped after two parts is resumed with the third, under the second. A 503 of
    its own does not hold up the posts after it; a far 429 (the account's limit) does."""
    limited = fault.get("type") == "ratelimit"
    site.configure(catch_up="6h")
    posts = write_campaign(site)
    tap = Tap()
    site.session = tap
    if fault.get("type") == "ratelimit":
        fault = {**fault, "headers": {"X-RateLimit-Reset": reset_in(site, 7200)}}
    tap.after[2] = lambda: site.server.fault(path=STATUSES, methods=["POST"], **fault)
    assert site.run_once() == code
    records = site.records()
    thread = records["thread"]
    assert str(thread.state) == state
    assert [p.status_id is not None for p in thread.parts] == [True, True, False]
    assert thread.last_error
    if limited:
        assert set(records) == {"thread"}
        assert len(site.statuses()) == 2
    else:
        assert {str(records[k].state) for k in ("poll", "story")} == {"published"}
        assert len(site.statuses()) == 4

    site.clock.advance(timedelta(hours=2, minutes=1))
    assert site.run_once() == 0
    assert_published_exactly_once(site, posts)
    assert len(site.statuses()) == 5  # three thread parts, the poll, the story
    # Parts 0 and 1 were sent once, in the first run; only part 2 was sent again.
    assert part_events(site, "thread", "part-sending") == [0, 1, 2, 2]
    assert part_events(site, "thread", "part-published") == [0, 1, 2]


def test_the_key_is_the_same_across_runs(site: Site) -> None:
    """Every send of a part carries the same Idempotency-Key, in every run."""
    site.write_posts("one.yaml", [{"id": "one", "at": site.at(), "text": "Same key."}])
    seen: list[str] = []

    class Recording(Tap):
        def send(self, request: Any, **kwargs: Any) -> Any:
            if request.method == "POST" and request.path_url == STATUSES:
                seen.append(request.headers["Idempotency-Key"])
            return super().send(request, **kwargs)

    def die() -> None:
        raise Crash

    tap = Recording()
    site.session = tap
    tap.after[1] = lose_answer
    tap.after[2] = die
    with pytest.raises(Crash):
        site.run_once()
    assert site.run_once() == 0
    assert len(seen) == 3
    assert len(set(seen)) == 1
    assert seen[0].startswith("campaign-bot-")
    assert len(site.statuses()) == 1
    assert str(site.records()["one"].state) == "published"
