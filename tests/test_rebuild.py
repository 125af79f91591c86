"""`ledger rebuild` and the fresh-ledger guard below the command line: the account's statuses
served by `responses` (bodies from the recorded fixtures), a real ledger, a fake clock."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from bot.config.settings import Settings, load_settings
from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, Part, Schedule
from bot.core.states import State
from bot.mastodon.client import MastodonClient
from bot.publishing.publisher import idempotency_key
from bot.publishing.rebuild import (
    LedgerLost,
    candidates,
    find_on_account,
    guard_fresh_ledger,
    rebuild,
)
from bot.storage.ledger import Ledger
from bot.storage.recovery import ORIGIN

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
BASE = "https://campaign.example"
TOKEN = "test-token-not-real"
ACCOUNT = "117440810532227399"
STATUSES = f"{BASE}/api/v1/accounts/{ACCOUNT}/statuses"
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=40)


def part(index: int, text: str) -> Part:
    return Part(
        index=index,
        text=text,
        spoiler_text=None,
        sensitive=False,
        visibility="public",
        language="en",
        media=(),
        poll=None,
        characters=len(text),
    )


def post(post_id: str, schedule: Schedule, *texts: str, order: int = 0) -> CampaignPost:
    parts = tuple(part(i, t) for i, t in enumerate(texts or (f"Text of {post_id}.",)))
    return CampaignPost(
        post_id, "posts/test.yaml", 1 + order, order, schedule, None, parts, f"hash-{post_id}"
    )


_ids = itertools.count(200)


def status(
    text: str, at: datetime, *, reply_to: str | None = None, status_id: str | None = None
) -> dict[str, Any]:
    """A status as the instance lists it; `at` is the instance's time."""
    made: dict[str, Any] = json.loads(
        (FIXTURES / "status_created_with_content_warning.json").read_text(encoding="utf-8")
    )
    new_id = status_id or str(next(_ids))
    made.update(
        id=new_id,
        url=f"http://localhost:3000/@mastodonpy_test/{new_id}",
        created_at=at.isoformat().replace("+00:00", "Z"),
        content=f"<p>{text}</p>",
        spoiler_text="",
        sensitive=False,
        in_reply_to_id=reply_to,
        media_attachments=[],
        reblog=None,
    )
    return made


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    path = tmp_path / "bot.yaml"
    config = {
        "instance": BASE,
        "timezone": "UTC",
        "catch_up": "1h",
        "slots": ["mon-sun 09:00"],
    }
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in config.items()))
    return load_settings(path, env={})


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    made = Ledger.open(tmp_path / "ledger.sqlite3", clock)
    yield made
    made.close()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as served:
        yield served


@pytest.fixture
def client(clock: FakeClock) -> MastodonClient:
    return MastodonClient(BASE, TOKEN, clock=clock)


def serve(mock: responses.RequestsMock, statuses: list[dict[str, Any]]) -> None:
    """One page of the account's statuses (newest first), then an empty one."""
    mock.get(STATUSES, json=sorted(statuses, key=lambda s: s["created_at"], reverse=True))
    mock.get(STATUSES, json=[])


def run_rebuild(
    ledger: Ledger, client: MastodonClient, posts: list[CampaignPost], settings: Settings
) -> Any:
    return rebuild(
        ledger,
        client,
        instance=BASE,
        account_id=ACCOUNT,
        posts=posts,
        settings=settings,
        skew=SKEW,
    )


DAILY = Schedule(cron="0 10 * * *")
LAUNCH_AT = NOW - timedelta(days=2)


def test_rebuild_writes_what_it_finds_and_reports_the_rest(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    """A whole thread and one firing of a recurring post are written as published, with each
    part's status, address, time (the instance's plus the skew) and the key the publisher would
    have sent; past occurrences not found are reported, future ones are not."""
    launch = post("launch", Schedule(at=LAUNCH_AT), "We launch today.", "Reply one.", order=0)
    daily = post("daily", DAILY, "Daily reminder.", order=1)
    later = post("later", Schedule(at=NOW + timedelta(days=1)), "Not yet.", order=2)
    head_at = LAUNCH_AT + timedelta(minutes=3)
    head = status("We launch today.", head_at, status_id="101")
    reply = status("Reply one.", head_at + timedelta(seconds=2), reply_to="101", status_id="102")
    today = NOW.replace(hour=10)
    fired = status("Daily reminder.", today + timedelta(seconds=5), status_id="103")
    other = status("Something else entirely.", NOW - timedelta(days=9), status_id="99")
    serve(mock, [head, reply, fired, other])

    report = run_rebuild(ledger, client, [launch, daily, later], settings)

    assert report.looked_at == 4
    assert report.oldest == NOW - timedelta(days=9)
    today_key = "daily@2026-06-10T10:00:00Z"
    assert [m.occurrence.key for m in report.matched] == ["launch", today_key]
    assert [m.complete for m in report.matched] == [True, True]
    assert report.already_known == []
    # Every daily firing of the last 7 days but today's; not `later`, which is still to come.
    missing = [o.key for o in report.unmatched]
    assert missing == [f"daily@2026-06-{day:02}T10:00:00Z" for day in range(4, 10)]

    record = ledger.get("launch")
    assert record is not None
    assert record.state is State.PUBLISHED
    assert record.planned_at == LAUNCH_AT
    assert record.content_hash == "hash-launch"
    assert [(p.index, p.status_id, p.url) for p in record.parts] == [
        (0, "101", "http://localhost:3000/@mastodonpy_test/101"),
        (1, "102", "http://localhost:3000/@mastodonpy_test/102"),
    ]
    assert [p.published_at for p in record.parts] == [
        head_at + SKEW,
        head_at + timedelta(seconds=2) + SKEW,
    ]
    assert [p.idempotency_key for p in record.parts] == [
        idempotency_key(BASE, ACCOUNT, "launch", 0),
        idempotency_key(BASE, ACCOUNT, "launch", 1),
    ]
    recurring = ledger.get(today_key)
    assert recurring is not None
    assert recurring.state is State.PUBLISHED
    assert recurring.planned_at == today
    assert recurring.post_id == "daily"
    assert set(ledger.states()) == {"launch", today_key}
    assert (
        ledger.get_meta(ORIGIN) == "rebuilt from the account's posts at 2026-06-10T12:00:00+00:00"
    )


def test_a_half_published_thread_is_sending_and_a_second_rebuild_knows_it(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    """Only the part found is written and the occurrence stays `sending`; run again, the found
    occurrence is reported as already known and nothing is written twice."""
    launch = post("launch", Schedule(at=LAUNCH_AT), "We launch today.", "Reply one.", "Two.")
    head = status("We launch today.", LAUNCH_AT, status_id="101")
    stray = status("Reply one.", LAUNCH_AT + timedelta(seconds=1), reply_to="55")
    other = status("Not part of it.", LAUNCH_AT + timedelta(seconds=2), reply_to="101")
    serve(mock, [head, stray, other])
    report = run_rebuild(ledger, client, [launch], settings)
    assert [m.complete for m in report.matched] == [False]
    assert [len(m.statuses) for m in report.matched] == [1]
    record = ledger.get("launch")
    assert record is not None
    assert record.state is State.SENDING
    assert [p.status_id for p in record.parts] == ["101"]

    # Run again, with a second post out since: the first is known, the second is written.
    follow = post("follow", Schedule(at=LAUNCH_AT + timedelta(hours=1)), "And then.", order=1)
    serve(mock, [head, stray, other, status("And then.", NOW - timedelta(hours=1))])
    again = run_rebuild(ledger, client, [launch, follow], settings)
    assert again.already_known == ["launch"]
    assert [m.occurrence.key for m in again.matched] == ["follow"]
    assert [p.status_id for p in (ledger.get("launch") or record).parts] == ["101"]
    assert set(ledger.states()) == {"launch", "follow"}


def test_an_account_without_posts_leaves_everything_unmatched(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    """Nothing on the account: nothing written; a post planned for this very moment counts as
    due, so it is reported among those not found."""
    serve(mock, [])
    report = run_rebuild(ledger, client, [post("now", Schedule(at=NOW), "Right now.")], settings)
    assert (report.looked_at, report.oldest, report.matched) == (0, None, [])
    assert [o.key for o in report.unmatched] == ["now"]
    assert ledger.states() == {}


def test_a_queued_post_keeps_the_slot_it_went_out_in(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    """A post that waits for a slot is recorded at the time it was seen going out (with the
    skew), not at the slot the queue would give it now."""
    queued = post("queued", Schedule(), "From the queue.")
    sent_at = NOW - timedelta(days=1, hours=3, seconds=7)
    serve(mock, [status("From the queue.", sent_at, status_id="301")])
    report = run_rebuild(ledger, client, [queued], settings)
    assert [m.occurrence.key for m in report.matched] == ["queued"]
    record = ledger.get("queued")
    assert record is not None
    assert record.planned_at == sent_at + SKEW


def test_rebuild_looks_at_the_latest_25_pages(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    """The account's history is read 25 pages back, no further."""
    pages = itertools.count()

    def page(request: Any) -> tuple[int, dict[str, str], str]:
        n = next(pages)
        body = [status(f"Old {n}.", NOW - timedelta(hours=n), status_id=str(1000 - n))]
        return 200, {}, json.dumps(body)

    mock.add_callback(responses.GET, STATUSES, callback=page)
    report = run_rebuild(ledger, client, [post("p", Schedule(at=NOW), "New.")], settings)
    assert len(mock.calls) == 25
    assert report.looked_at == 25


@pytest.mark.parametrize(
    ("offset", "found"),
    [
        (-timedelta(minutes=5), True),
        (-timedelta(minutes=5, seconds=1), False),
        (timedelta(hours=1, minutes=5), True),
        (timedelta(hours=1, minutes=5, seconds=1), False),
    ],
)
def test_a_recurring_post_is_found_only_near_its_window(
    mock: responses.RequestsMock,
    client: MastodonClient,
    ledger: Ledger,
    settings: Settings,
    offset: timedelta,
    found: bool,
) -> None:
    """A firing counts from 5 minutes before its time to 5 minutes after its deadline (time plus
    catch_up), on our clock: the instance's time plus the skew."""
    daily = post("daily", DAILY, "Daily reminder.")
    fired_at = NOW.replace(hour=10) - timedelta(days=1)
    serve(mock, [status("Daily reminder.", fired_at + offset - SKEW, status_id="400")])
    report = run_rebuild(ledger, client, [daily], settings)
    keys = [m.occurrence.key for m in report.matched]
    assert keys == (["daily@2026-06-09T10:00:00Z"] if found else [])


def test_candidates_are_recent_firings_and_every_one_off_post(settings: Settings) -> None:
    """Recurring posts: the firings of the last 7 days up to now. One-off posts: whenever
    planned, even years ahead (`publish ID` sends one early)."""
    daily = post("daily", DAILY, order=0)
    far = post("far", Schedule(at=NOW + timedelta(days=3000)), order=1)
    old = post("old", Schedule(at=NOW - timedelta(days=3000)), order=2)
    keys = [o.key for o in candidates([daily, far, old], settings, NOW)]
    firings = [k for k in keys if k.startswith("daily@")]
    assert firings == [f"daily@2026-06-{day:02}T10:00:00Z" for day in range(4, 11)]
    assert "far" in keys and "old" in keys


def test_recurring_candidates_fire_in_the_campaigns_zone(tmp_path: Path) -> None:
    """A daily 10:00 in London is 09:00 UTC in June."""
    path = tmp_path / "london.yaml"
    path.write_text('instance: "https://campaign.example"\ntimezone: "Europe/London"\n')
    london = load_settings(path, env={})
    keys = [o.key for o in candidates([post("daily", DAILY)], london, NOW)]
    assert keys[-1] == "daily@2026-06-10T09:00:00Z"


def test_each_status_is_claimed_once_oldest_occurrence_first(settings: Settings) -> None:
    """Two one-off posts with the same text and one status: the earlier post has it. A reply
    belongs to the thread only under the part before it."""
    first = post("first", Schedule(at=NOW - timedelta(days=2)), "Same words.", "Tail.", order=1)
    second = post("second", Schedule(at=NOW - timedelta(days=1)), "Same words.", order=0)
    wanted = candidates([second, first], settings, NOW)
    from_instance = [
        status("Same words.", NOW - timedelta(hours=1), status_id="9"),
        status("Tail.", NOW - timedelta(minutes=50), reply_to="8", status_id="10"),
        status("Tail.", NOW - timedelta(minutes=40), reply_to="9", status_id="11"),
    ]
    with responses.RequestsMock() as served:
        served.get(STATUSES, json=from_instance)
        found = MastodonClient(BASE, TOKEN, clock=FakeClock(NOW)).recent_statuses(ACCOUNT)
    matches = find_on_account(wanted, found, SKEW)
    assert [(m.occurrence.key, [s.id for s in m.statuses]) for m in matches] == [
        ("first", ["9", "11"])
    ]
    # With a second copy on the account, each post has its own, oldest status to oldest post.
    copy = status("Same words.", NOW - timedelta(hours=3), status_id="7")
    with responses.RequestsMock() as served:
        served.get(STATUSES, json=[*from_instance, copy])
        found = MastodonClient(BASE, TOKEN, clock=FakeClock(NOW)).recent_statuses(ACCOUNT)
    matches = find_on_account(wanted, found, SKEW)
    assert [(m.occurrence.key, [s.id for s in m.statuses]) for m in matches] == [
        ("first", ["7"]),
        ("second", ["9"]),
    ]


def guard(ledger: Ledger, client: MastodonClient, posts: list[CampaignPost], s: Settings) -> None:
    guard_fresh_ledger(
        ledger, client, account_id=ACCOUNT, posts=lambda: posts, settings=s, skew=SKEW
    )


def one_offs(count: int) -> list[CampaignPost]:
    return [
        post(f"p{i}", Schedule(at=NOW - timedelta(days=count - i)), f"Post {i}.", order=i)
        for i in range(count)
    ]


def on_account(posts: list[CampaignPost]) -> list[dict[str, Any]]:
    return [
        status(p.parts[0].text, NOW - timedelta(hours=len(posts) - i)) for i, p in enumerate(posts)
    ]


def test_the_guard_refuses_an_empty_ledger_when_the_account_has_the_posts(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    """It names the first three and counts the rest, and says what to run; nothing is written."""
    posts = one_offs(5)
    serve(mock, on_account(posts))
    with pytest.raises(LedgerLost) as refused:
        guard(ledger, client, posts, settings)
    assert str(refused.value) == (
        f"{ledger.path}: the ledger is empty, but the account already has 5 posts of this "
        "campaign (p0, p1, p2 and 2 more): the ledger was probably lost, and publishing now "
        "would post them again. Run `campaign-bot ledger rebuild` to recover it from the "
        "account's posts (or `ledger restore` from a backup); if they should really go out "
        "again, start with `campaign-bot run --fresh-ledger`"
    )
    assert ledger.get_meta(ORIGIN) is None


@pytest.mark.parametrize(
    ("count", "named"),
    [(3, "3 posts of this campaign (p0, p1, p2): "), (4, "(p0, p1, p2 and 1 more)")],
)
def test_the_guard_names_three_and_counts_the_rest(
    mock: responses.RequestsMock,
    client: MastodonClient,
    ledger: Ledger,
    settings: Settings,
    count: int,
    named: str,
) -> None:
    posts = one_offs(count)
    serve(mock, on_account(posts))
    with pytest.raises(LedgerLost) as refused:
        guard(ledger, client, posts, settings)
    assert named in str(refused.value)


def test_the_guard_marks_a_new_ledger_once_and_then_asks_no_more(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    """Nothing of the campaign on the account: the ledger is marked new, and the next start
    does not look at the account again."""
    serve(mock, [status("Unrelated.", NOW - timedelta(hours=1))])
    guard(ledger, client, one_offs(2), settings)
    assert ledger.get_meta(ORIGIN) == (
        "new; no post of the campaign on the account at 2026-06-10T12:00:00+00:00"
    )
    asked = len(mock.calls)
    guard(ledger, client, one_offs(2), settings)
    assert len(mock.calls) == asked == 2


def test_the_guard_trusts_a_ledger_with_records(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    ledger.begin_attempt("p0", "p0", NOW, "hash-p0")
    posts = one_offs(2)
    serve(mock, on_account(posts))
    guard(ledger, client, posts, settings)
    assert len(mock.calls) == 0
    assert ledger.get_meta(ORIGIN) is None


def test_the_guard_looks_three_pages_back(
    mock: responses.RequestsMock, client: MastodonClient, ledger: Ledger, settings: Settings
) -> None:
    pages = itertools.count()

    def page(request: Any) -> tuple[int, dict[str, str], str]:
        n = next(pages)
        body = [status(f"Old {n}.", NOW - timedelta(hours=n), status_id=str(1000 - n))]
        return 200, {}, json.dumps(body)

    mock.add_callback(responses.GET, STATUSES, callback=page)
    guard(ledger, client, one_offs(1), settings)
    assert len(mock.calls) == 3
