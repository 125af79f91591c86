"""The publisher at the HTTP wire: recorded Mastodon 4.7.3 answers served by `responses`, a real
ledger on disk, and a FakeClock, so every retry, wait and restart is exact and instant."""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses

from bot.core.clock import FakeClock
from bot.core.posts import CampaignPost, MediaFile, Part, PollSpec, Schedule
from bot.core.states import State
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import AuthError, RemoteStatus
from bot.publishing.pacing import Pacer, Window
from bot.publishing.publisher import KEY_MEMORY, Outcome, Publisher, RetryPolicy, idempotency_key
from bot.schedule.planner import Occurrence
from bot.storage.ledger import Ledger

BASE = "https://campaign.example"
TOKEN = "tok-publisher-test-never-print"
FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
STATUSES = f"{BASE}/api/v1/statuses"
MEDIA = f"{BASE}/api/v2/media"
# The account of verify_credentials.json, which made every recorded status.
ACCOUNT = "117440810532227399"
ACCOUNT_STATUSES = f"{BASE}/api/v1/accounts/{ACCOUNT}/statuses"
START = datetime(2026, 10, 14, 19, 0, tzinfo=UTC)
PLANNED = START - timedelta(minutes=1)
# The reset in the synthesized 429 headers (media throttle, 30 per 30 minutes).
RESET_1930 = datetime(2026, 10, 14, 19, 30, 0, 604367, tzinfo=UTC)


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def headers(name: str) -> dict[str, str]:
    # responses computes these itself from the body it serves.
    return {
        k: v for k, v in body(name).items() if k.lower() not in {"content-length", "content-type"}
    }


def form(request: Any) -> dict[str, list[str]]:
    return parse_qs(request.body, keep_blank_values=True)


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"real sleep of {seconds} s")

    monkeypatch.setattr(time, "sleep", refuse)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def ledger(tmp_path: Path, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "data" / "ledger.sqlite3", clock) as opened:
        yield opened


@pytest.fixture
def image(tmp_path: Path) -> MediaFile:
    path = tmp_path / "shelf.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    return MediaFile(path, "shelf.png", "image/png", path.stat().st_size, "Six books", (0.0, 0.1))


class Instance:
    """A Mastodon instance at the wire, made of recorded answers.

    An accepted status is the recorded `status_created_with_content_warning.json` with a fresh
    id and the text, CW and reply link of the request, as the real server echoes them; a
    second POST with a known Idempotency-Key gets the first status back, as on Mastodon.
    Each status POST takes the next step of `script`; with none left, it is accepted.
    """

    def __init__(self, mock: responses.RequestsMock, clock: FakeClock) -> None:
        self.mock = mock
        self.clock = clock
        self.ids = itertools.count(117440831296193900)
        self.created: list[dict[str, Any]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        self.script: list[Callable[[Any], tuple[int, dict[str, str], str]]] = []
        mock.get(f"{BASE}/api/v2/instance", json=body("instance_v2"))
        mock.add_callback(responses.POST, STATUSES, callback=self._post)

    def _post(self, request: Any) -> tuple[int, dict[str, str], str]:
        step = self.script.pop(0) if self.script else self.accept
        return step(request)

    def accept(self, request: Any) -> tuple[int, dict[str, str], str]:
        key = request.headers.get("Idempotency-Key")
        if key in self.by_key:
            return 200, headers("headers_post_status_200"), json.dumps(self.by_key[key])
        sent = (
            json.loads(request.body)
            if request.headers["Content-Type"] == "application/json"
            else {k: v[0] for k, v in form(request).items()}
        )
        status = body("status_created_with_content_warning")
        new_id = str(next(self.ids))
        status.update(
            id=new_id,
            url=f"http://localhost:3000/@mastodonpy_test/{new_id}",
            created_at=self.clock.now().isoformat().replace("+00:00", "Z"),
            content=f"<p>{sent['status']}</p>",
            spoiler_text=sent.get("spoiler_text", ""),
            sensitive=sent.get("sensitive") == "1",
            in_reply_to_id=sent.get("in_reply_to_id"),
        )
        self.created.append(status)
        if key:
            self.by_key[key] = status
        return 200, headers("headers_post_status_200"), json.dumps(status)

    def then_accept(self) -> None:
        self.script.append(self.accept)

    def then_refuse(self, status: int, fixture: str, header_fixture: str | None = None) -> None:
        """The next status POST gets this recorded error."""
        found = headers(header_fixture) if header_fixture else {}
        self.script.append(lambda request: (status, found, json.dumps(body(fixture))))

    def then_unavailable(self) -> None:
        """The next status POST gets Mastodon's 503 (its text from the source, not recorded:
        app/controllers/concerns/api/error_handling.rb)."""
        error = {"error": "There was a temporary problem serving your request, please try again"}
        self.script.append(lambda request: (503, {}, json.dumps(error)))

    def then_lose_answer(self) -> None:
        """The next status POST is carried out, but its answer is lost on the way back."""

        def lost(request: Any) -> tuple[int, dict[str, str], str]:
            self.accept(request)
            raise requests.ConnectionError("connection reset by peer")

        self.script.append(lost)

    def posts(self) -> list[Any]:
        """Every status POST the bot sent, accepted or not."""
        return [c.request for c in self.mock.calls if c.request.url == STATUSES]

    def serve_account_statuses(self, statuses: list[dict[str, Any]]) -> None:
        """GET of the account's statuses answers these (given oldest first), then no more."""
        self.mock.get(ACCOUNT_STATUSES, json=list(reversed(statuses)))
        self.mock.get(ACCOUNT_STATUSES, json=[])


@pytest.fixture
def instance(clock: FakeClock) -> Iterator[Instance]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Instance(mock, clock)


def make_publisher(
    ledger: Ledger,
    clock: FakeClock,
    *,
    honours: bool = True,
    policy: RetryPolicy | None = None,
    pacer: Pacer | None = None,
    stop: Callable[[], bool] | None = None,
    skew: timedelta = timedelta(0),
    on_status: Callable[[RemoteStatus], None] | None = None,
) -> Publisher:
    client = MastodonClient(BASE, TOKEN, clock=clock)
    return Publisher(
        client,
        ledger,
        clock,
        instance=BASE,
        account_id=ACCOUNT,
        honours_idempotency_keys=honours,
        pacer=pacer,
        policy=policy,
        rng=random.Random(7),  # noqa: S311 - jitter, not secrets
        stop_requested=stop,
        clock_skew=skew,
        on_status=on_status,
    )


def part(index: int, text: str, **changes: Any) -> Part:
    fields: dict[str, Any] = {
        "spoiler_text": None,
        "sensitive": False,
        "visibility": "public",
        "language": "en",
        "media": (),
        "poll": None,
        "characters": len(text),
    }
    return Part(index=index, text=text, **{**fields, **changes})


def occurrence(post_id: str, *parts: Part) -> Occurrence:
    post = CampaignPost(
        post_id, "posts/test.yaml", 1, 0, Schedule(at=PLANNED), None, parts, f"hash-{post_id}"
    )
    return Occurrence(post_id, post, PLANNED, PLANNED + timedelta(days=1), "pending")


def thread(post_id: str = "launch", parts: int = 3) -> Occurrence:
    return occurrence(
        post_id,
        part(0, "We launch today.", spoiler_text="campaign news", sensitive=True),
        *(part(i, f"Reply {i}.") for i in range(1, parts)),
    )


# --- what goes over the wire -------------------------------------------------------------------


def test_thread_requests_carry_key_sensitive_and_reply_to(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Each part: its own stable key, explicit `sensitive`, the previous part as reply target."""
    outcome = make_publisher(ledger, clock).publish(thread())
    assert outcome.result == "published"
    sent = instance.posts()
    assert len(sent) == 3
    ids = [s["id"] for s in instance.created]
    assert form(sent[0]) == {
        "status": ["We launch today."],
        "spoiler_text": ["campaign news"],
        "sensitive": ["1"],
        "visibility": ["public"],
        "language": ["en"],
        "lang": ["en"],
    }
    for i, request in enumerate(sent[1:], start=1):
        assert form(request)["in_reply_to_id"] == [ids[i - 1]]
        assert form(request)["sensitive"] == ["0"]
        assert "spoiler_text" not in form(request)
    keys = [r.headers["Idempotency-Key"] for r in sent]
    assert keys == [idempotency_key(BASE, ACCOUNT, "launch", i) for i in range(3)]
    assert len(set(keys)) == 3
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in sent)
    record = ledger.get("launch")
    assert record is not None
    assert record.state is State.PUBLISHED
    assert [p.status_id for p in record.parts] == ids
    assert outcome.urls == tuple(s["url"] for s in instance.created)
    assert [p.idempotency_key for p in record.parts] == keys


def test_media_upload_carries_alt_text_and_focus(
    instance: Instance, ledger: Ledger, clock: FakeClock, image: MediaFile
) -> None:
    """The image goes to /api/v2/media with its description and focus; the post attaches it."""
    instance.mock.post(MEDIA, json=body("media_v2_image_200"))
    post = occurrence("pic", part(0, "Look.", media=(image,)))
    assert make_publisher(ledger, clock).publish(post).result == "published"
    upload = next(c.request for c in instance.mock.calls if c.request.url == MEDIA)
    raw = upload.body
    assert isinstance(raw, bytes)
    assert b'name="description"\r\n\r\nSix books' in raw
    assert b'name="focus"\r\n\r\n0.0,0.1' in raw
    assert b"Content-Type: image/png" in raw
    (status_post,) = instance.posts()
    assert form(status_post)["media_ids[]"] == [body("media_v2_image_200")["id"]]


def test_poll_is_sent_with_options_and_flags(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A poll part is posted as JSON with its options, expiry, multiple and hide_totals."""
    poll = PollSpec(("Books", "Wifi"), 86400, multiple=True, hide_totals=False)
    assert make_publisher(ledger, clock).publish(
        occurrence("q", part(0, "?", poll=poll))
    ).result == ("published")
    sent = json.loads(instance.posts()[0].body)
    assert sent["poll"] == {
        "options": ["Books", "Wifi"],
        "expires_in": 86400,
        "multiple": True,
        "hide_totals": False,
    }


@pytest.mark.parametrize(
    ("changed", "args"),
    [
        ("instance", ("https://other.example", ACCOUNT, "launch", 0)),
        ("account", (BASE, "1", "launch", 0)),
        ("occurrence", (BASE, ACCOUNT, "launch@2026-12-06T12:00:00Z", 0)),
        ("part", (BASE, ACCOUNT, "launch", 1)),
    ],
)
def test_idempotency_key_depends_on_every_input(
    changed: str, args: tuple[str, str, str, int]
) -> None:
    """The key is the same for the same inputs and differs when any one of them changes."""
    reference = idempotency_key(BASE, ACCOUNT, "launch", 0)
    assert idempotency_key(BASE + "/", ACCOUNT, "launch", 0) == reference
    assert idempotency_key(*args) != reference, changed
    assert idempotency_key(*args) == idempotency_key(*args)


# --- retries and restarts ----------------------------------------------------------------------


def test_key_is_stable_across_retries_and_restarts(
    instance: Instance, ledger: Ledger, clock: FakeClock, tmp_path: Path
) -> None:
    """A 503, a lost answer and a restart in between: every send of the part carries one key."""
    instance.then_unavailable()
    instance.then_lose_answer()
    stopping = iter([False, False, True])  # the bot is asked to stop after the lost answer
    first = make_publisher(ledger, clock, stop=lambda: next(stopping, True))
    outcome = first.publish(occurrence("solo", part(0, "Once only.")))
    assert outcome.result == "deferred"
    ledger.close()

    clock.advance(timedelta(minutes=10))
    with Ledger.open(tmp_path / "data" / "ledger.sqlite3", clock) as reopened:
        again = make_publisher(reopened, clock).publish(occurrence("solo", part(0, "Once only.")))
        assert again.result == "published"
        record = reopened.get("solo")
    keys = {r.headers["Idempotency-Key"] for r in instance.posts()}
    assert len(instance.posts()) == 3
    assert keys == {idempotency_key(BASE, ACCOUNT, "solo", 0)}
    assert len(instance.created) == 1
    assert record is not None
    assert record.state is State.PUBLISHED
    assert record.attempts == 2


def test_retries_back_off_with_jitter_and_reuse_the_upload(
    instance: Instance, ledger: Ledger, clock: FakeClock, image: MediaFile
) -> None:
    """503s are retried after growing jittered pauses, reusing the one media upload."""
    instance.mock.post(MEDIA, json=body("media_v2_image_200"))
    instance.then_unavailable()
    instance.then_unavailable()
    policy = RetryPolicy(attempts=3, base_delay=2.0)
    post = occurrence("pic", part(0, "Look.", media=(image,)))
    assert make_publisher(ledger, clock, policy=policy).publish(post).result == "published"
    uploads = [c for c in instance.mock.calls if c.request.url == MEDIA]
    assert len(uploads) == 1
    assert {tuple(form(r)["media_ids[]"]) for r in instance.posts()} == {
        (body("media_v2_image_200")["id"],)
    }
    first, second = clock.slept
    assert 1.0 <= first <= 2.0
    assert 2.0 <= second <= 4.0


def test_retry_budget_exhausted_leaves_the_post_pending_not_failed(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Tried: after six 503s in a minute the post was `failed` for good. Now a transient
    failure keeps it pending with the reason and a next-try time; nothing is ever failed."""
    for _ in range(3):
        instance.then_unavailable()
    policy = RetryPolicy(attempts=3)
    outcome = make_publisher(ledger, clock, policy=policy).publish(occurrence("x", part(0, "X")))
    assert outcome.result == "deferred"
    assert outcome.error is not None
    assert "(503)" in outcome.error
    assert outcome.retry_at is not None and outcome.retry_at > clock.now()
    record = ledger.get("x")
    assert record is not None
    assert record.state is State.PENDING
    assert record.last_error == outcome.error
    assert len(instance.posts()) == 3
    assert instance.created == []


def test_422_is_failed_at_once_with_the_servers_message(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A 422 is not retried: `failed`, with the message exactly as the instance wrote it."""
    instance.then_refuse(422, "error_422_text_too_long_de", "headers_post_status_422")
    outcome = make_publisher(ledger, clock).publish(occurrence("long", part(0, "Zu lang")))
    assert outcome.result == "failed"
    message = body("error_422_text_too_long_de")["error"]
    record = ledger.get("long")
    assert record is not None
    assert record.state is State.FAILED
    assert record.last_error is not None
    assert message in record.last_error
    assert len(instance.posts()) == 1
    assert clock.slept == []


def test_401_raises_and_puts_the_occurrence_back_to_pending(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A rejected token stops publishing with AuthError; the post waits, pending, with why."""
    instance.then_refuse(401, "error_401_invalid_token")
    with pytest.raises(AuthError, match="The access token is invalid"):
        make_publisher(ledger, clock).publish(thread())
    record = ledger.get("launch")
    assert record is not None
    assert record.state is State.PENDING
    assert "401" in (record.last_error or "")
    assert len(instance.posts()) == 1


def test_429_with_a_far_reset_is_deferred(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A 429 whose reset is 30 minutes away is not waited out: deferred until then, pending."""
    instance.then_refuse(
        429, "error_429_synthesized_from_source", "headers_429_synthesized_from_source"
    )
    outcome = make_publisher(ledger, clock).publish(occurrence("x", part(0, "X")))
    assert outcome == Outcome(
        "x",
        "deferred",
        error=f"rate limited by the instance until {RESET_1930}",
        retry_at=RESET_1930,
    )
    record = ledger.get("x")
    assert record is not None
    assert record.state is State.PENDING
    assert clock.slept == []


def test_429_with_a_near_reset_waits_and_resends_with_the_same_key(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A 429 resetting in five minutes is waited out on the clock, then sent again, same key."""
    clock.set(RESET_1930 - timedelta(minutes=5))
    instance.then_refuse(
        429, "error_429_synthesized_from_source", "headers_429_synthesized_from_source"
    )
    assert (
        make_publisher(ledger, clock).publish(occurrence("x", part(0, "X"))).result == "published"
    )
    assert clock.slept == [pytest.approx(300, abs=1)]
    assert len({r.headers["Idempotency-Key"] for r in instance.posts()}) == 1
    assert len(instance.posts()) == 2


def test_404_on_a_thread_parent_fails_with_a_clear_reason(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """The first part is posted, the reply gets 404: `failed`, saying the parent is gone."""
    instance.then_accept()
    instance.then_refuse(404, "error_404_record_not_found")
    outcome = make_publisher(ledger, clock).publish(thread(parts=3))
    assert outcome.result == "failed"
    assert outcome.error is not None
    assert "Record not found" in outcome.error
    assert "earlier part of the thread is gone" in outcome.error
    record = ledger.get("launch")
    assert record is not None
    assert record.state is State.FAILED
    assert [p.status_id is not None for p in record.parts] == [True, False]
    assert len(instance.posts()) == 2


# --- reconciliation: the part may be out already ------------------------------------------------


def died_after_intent(ledger: Ledger, key: str, index: int = 0) -> None:
    """What a run killed right after committing its intent for part `index` leaves behind."""
    ledger.begin_attempt(key, key, PLANNED, f"hash-{key}")
    for earlier in range(index):
        ledger.record_part_intent(key, earlier, idempotency_key(BASE, ACCOUNT, key, earlier))
        ledger.record_part_published(key, earlier, f"99{earlier}", f"https://x/{earlier}")
    ledger.record_part_intent(key, index, idempotency_key(BASE, ACCOUNT, key, index))


def remote(status_id: str, text: str, created: datetime, **changes: Any) -> dict[str, Any]:
    status: dict[str, Any] = body("status_created_with_content_warning")
    status.update(
        id=status_id,
        content=f"<p>{text}</p>",
        spoiler_text="",
        created_at=created.isoformat().replace("+00:00", "Z"),
        **changes,
    )
    return status


def test_old_key_adopts_the_post_found_among_recent_statuses(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """An intent older than 55 minutes finds its post among recent statuses; nothing is sent."""
    died_after_intent(ledger, "solo")
    sent_at = clock.now()
    clock.advance(KEY_MEMORY + timedelta(minutes=1))
    instance.serve_account_statuses(
        [
            remote("500", "Once only.", sent_at - timedelta(days=3)),  # an older, same text
            remote("501", "Once only.", sent_at + timedelta(seconds=1)),
            remote("502", "Something else.", sent_at + timedelta(seconds=2)),
        ]
    )
    outcome = make_publisher(ledger, clock).publish(occurrence("solo", part(0, "Once only.")))
    assert outcome.result == "published"
    assert instance.posts() == []
    record = ledger.get("solo")
    assert record is not None
    assert record.parts[0].status_id == "501"
    assert [e.kind for e in ledger.events("solo")][-2:] == ["part-adopted", "published"]


@pytest.mark.parametrize(
    ("honours", "later", "looked"),
    [
        (True, timedelta(minutes=10), False),  # the key still protects the re-send
        (True, KEY_MEMORY - timedelta(seconds=1), False),
        (True, KEY_MEMORY, True),  # from the very moment the key may be forgotten
        (True, KEY_MEMORY + timedelta(minutes=1), True),
        (False, timedelta(minutes=1), True),  # the server ignores keys: always look first
    ],
    ids=[
        "young key",
        "key a second short of its memory",
        "key at its memory",
        "old key",
        "keys ignored",
    ],
)
def test_resend_after_a_restart_looks_first_only_when_the_key_may_not_protect(
    instance: Instance,
    ledger: Ledger,
    clock: FakeClock,
    honours: bool,
    later: timedelta,
    looked: bool,
) -> None:
    """A re-send keeps its key and looks first only when the key may not protect it."""
    died_after_intent(ledger, "solo")
    clock.advance(later)
    instance.serve_account_statuses([remote("700", "Not ours.", clock.now())])
    publisher = make_publisher(ledger, clock, honours=honours)
    assert publisher.publish(occurrence("solo", part(0, "Once only."))).result == "published"
    lookups = [c for c in instance.mock.calls if str(c.request.url).startswith(ACCOUNT_STATUSES)]
    assert bool(lookups) is looked
    (sent,) = instance.posts()
    assert sent.headers["Idempotency-Key"] == idempotency_key(BASE, ACCOUNT, "solo", 0)


@pytest.mark.parametrize(
    "candidate",
    [
        {"in_reply_to_id": "123"},  # a reply to something else
        {"spoiler_text": "a warning"},  # ours has none
        {"content": "<p>Once only, edited.</p>"},
        {"media_attachments": [body("media_v2_image_200")]},
    ],
    ids=["other parent", "other CW", "other text", "other media"],
)
def test_a_different_post_is_not_adopted(
    instance: Instance, ledger: Ledger, clock: FakeClock, candidate: dict[str, Any]
) -> None:
    """Only a status matching text, CW, parent and media count is taken for ours."""
    died_after_intent(ledger, "solo")
    clock.advance(KEY_MEMORY + timedelta(minutes=1))
    instance.serve_account_statuses([{**remote("800", "Once only.", START), **candidate}])
    make_publisher(ledger, clock).publish(occurrence("solo", part(0, "Once only.")))
    record = ledger.get("solo")
    assert record is not None
    assert record.parts[0].status_id != "800"
    assert len(instance.posts()) == 1


def test_a_status_already_in_the_ledger_is_not_adopted_twice(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A status the ledger gives to another occurrence with the same text is not adopted."""
    ledger.begin_attempt("first", "first", PLANNED, "h")
    ledger.record_part_intent("first", 0, "k0")
    ledger.record_part_published("first", 0, "900", "https://x/900")
    ledger.mark_published("first")
    died_after_intent(ledger, "second")
    clock.advance(KEY_MEMORY + timedelta(minutes=1))
    instance.serve_account_statuses([remote("900", "Same words.", START)])
    make_publisher(ledger, clock).publish(occurrence("second", part(0, "Same words.")))
    assert len(instance.posts()) == 1


def test_lost_answer_on_a_server_ignoring_keys_is_found_not_resent(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A lost answer on a server ignoring keys: the reply is found and adopted, not resent."""
    instance.then_accept()
    instance.then_lose_answer()  # the reply is made, its answer lost

    def account_statuses(request: Any) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps(list(reversed(instance.created)))

    instance.mock.add_callback(responses.GET, ACCOUNT_STATUSES, callback=account_statuses)
    outcome = make_publisher(ledger, clock, honours=False).publish(thread(parts=2))
    assert outcome.result == "published"
    assert len(instance.created) == 2
    assert len(instance.posts()) == 2
    record = ledger.get("launch")
    assert record is not None
    assert [p.status_id for p in record.parts] == [s["id"] for s in instance.created]
    assert [e.kind for e in ledger.events("launch") if e.part_index == 1] == [
        "part-sending",
        "part-adopted",
    ]


def test_resumed_thread_continues_under_the_last_published_part(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A thread whose first two parts are recorded sends only the third, under the second."""
    died_after_intent(ledger, "launch", index=2)
    clock.advance(timedelta(minutes=5))
    make_publisher(ledger, clock).publish(thread(parts=3))
    (sent,) = instance.posts()
    assert form(sent)["in_reply_to_id"] == ["991"]
    assert form(sent)["status"] == ["Reply 2."]


# --- pacing ---------------------------------------------------------------------------------------


def test_pacing_spreads_a_burst_under_the_window(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Ten posts due at once go out at most 4 (90 % of 5) a minute, spread over the clock."""
    windows = {
        "status": Window(5, timedelta(minutes=1)),
        "request": Window(100, timedelta(minutes=1)),
    }
    publisher = make_publisher(ledger, clock, pacer=Pacer(clock, windows))
    moments = []
    for i in range(10):
        assert publisher.publish(occurrence(f"p{i}", part(0, f"Post {i}"))).result == "published"
        moments.append(datetime.fromisoformat(instance.created[-1]["created_at"]))
    for i, moment in enumerate(moments):
        in_window = [m for m in moments[i:] if m < moment + timedelta(minutes=1)]
        assert len(in_window) <= 4
    assert moments[-1] - moments[0] >= timedelta(minutes=2)
    assert len(instance.posts()) == 10


def test_pacing_follows_the_servers_remaining_count(clock: FakeClock) -> None:
    """Few left in the server's window: spread to the reset; none left: wait; many: go."""
    pacer = Pacer(clock)
    reset = clock.now() + timedelta(seconds=60)
    pacer.observe(3, reset)
    assert pacer.delay("status") == pytest.approx(15)
    pacer.observe(0, reset)
    assert pacer.delay("status") == pytest.approx(60)
    pacer.observe(200, reset)
    assert pacer.delay("status") == 0
    pacer.observe(0, clock.now() - timedelta(seconds=1))
    assert pacer.delay("status") == 0


def test_pacer_remembers_what_was_sent_before_a_restart(clock: FakeClock) -> None:
    """Statuses seeded from the ledger count against the window, and age out of it."""
    pacer = Pacer(clock, {"status": Window(10, timedelta(hours=3))})
    pacer.seed("status", [clock.now() - timedelta(minutes=m) for m in range(9)])
    assert pacer.delay("status") == pytest.approx(timedelta(hours=3, minutes=-8).total_seconds())
    pacer.wait_for("media")  # a kind without a window of its own is simply not counted
    clock.advance(timedelta(hours=3))
    assert pacer.delay("status") == 0


@pytest.mark.parametrize(
    ("skew", "adopted"), [(timedelta(0), False), (timedelta(minutes=10), True)]
)
def test_the_instances_clock_is_allowed_for_when_looking(
    instance: Instance, ledger: Ledger, clock: FakeClock, skew: timedelta, adopted: bool
) -> None:
    """With the instance's clock 10 minutes behind ours, its stamp on our earlier post looks
    older than our attempt; knowing the skew, the post is still recognised and not re-sent."""
    died_after_intent(ledger, "solo")
    attempt = clock.now()
    clock.advance(KEY_MEMORY + timedelta(minutes=1))
    instance.serve_account_statuses([remote("901", "Once only.", attempt - timedelta(minutes=9))])
    make_publisher(ledger, clock, skew=skew).publish(occurrence("solo", part(0, "Once only.")))
    record = ledger.get("solo")
    assert record is not None
    assert (record.parts[0].status_id == "901") is adopted
    assert len(instance.posts()) == (0 if adopted else 1)


# --- behaviours that a one-line change must not get past --------------------------------------


@pytest.mark.parametrize(
    ("stamped_before", "adopted"),
    [(timedelta(minutes=5), True), (timedelta(minutes=5, seconds=1), False)],
    ids=["5 min before", "5 min 1 s before"],
)
def test_an_earlier_post_is_looked_for_from_five_minutes_before_the_first_try(
    instance: Instance,
    ledger: Ledger,
    clock: FakeClock,
    stamped_before: timedelta,
    adopted: bool,
) -> None:
    """A status stamped up to 5 minutes before our first try is ours; one stamped earlier is not."""
    died_after_intent(ledger, "solo")
    attempt = clock.now()
    clock.advance(KEY_MEMORY + timedelta(minutes=1))
    instance.serve_account_statuses([remote("902", "Once only.", attempt - stamped_before)])
    make_publisher(ledger, clock).publish(occurrence("solo", part(0, "Once only.")))
    record = ledger.get("solo")
    assert record is not None
    assert record.state is State.PUBLISHED
    assert (record.parts[0].status_id == "902") is adopted
    assert len(instance.posts()) == (0 if adopted else 1)


def test_a_remote_mention_is_recognised_on_the_server(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """The text says `@alice@other.example`; the instance shows the mention as `@alice` (as it
    does for the reply in status_reply.json). The earlier attempt is still recognised and
    adopted, not sent a second time."""
    died_after_intent(ledger, "thanks")
    clock.advance(KEY_MEMORY + timedelta(minutes=1))
    shown = (
        '<p>Thank you <span class="h-card" translate="no"><a href="https://other.example/@alice" '
        'class="u-url mention">@<span>alice</span></a></span> for the petition!</p>'
    )
    instance.serve_account_statuses(
        [{**remote("910", "", START + timedelta(seconds=1)), "content": shown}]
    )
    text = "Thank you @alice@other.example for the petition!"
    outcome = make_publisher(ledger, clock).publish(occurrence("thanks", part(0, text)))
    assert outcome.result == "published"
    assert instance.posts() == []
    record = ledger.get("thanks")
    assert record is not None
    assert record.parts[0].status_id == "910"


def test_a_server_that_keeps_answering_429_is_not_retried_forever(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Every answer a 429 with a near reset: after the policy's number of tries the occurrence
    stops being sent (a later answer would have accepted it), with the reason. A 429 is
    transient: it stays pending, to be tried later, never failed."""
    clock.set(RESET_1930 - timedelta(minutes=5))
    for _ in range(20):
        instance.then_refuse(
            429, "error_429_synthesized_from_source", "headers_429_synthesized_from_source"
        )
    policy = RetryPolicy(attempts=4)
    outcome = make_publisher(ledger, clock, policy=policy).publish(occurrence("x", part(0, "X")))
    assert len(instance.posts()) == 4
    assert instance.created == []
    assert outcome.result == "deferred"
    assert outcome.error is not None
    assert "429" in outcome.error
    record = ledger.get("x")
    assert record is not None and record.state is State.PENDING


# --- an outage of the instance, and answers that end a post at once ----------------------------


def test_an_outage_stops_sending_after_two_posts_fail_and_the_probe_ends_it(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Two different posts failing means the instance is down: the third is not sent into the
    failure at all. After a probe answers, one post goes first; when it is accepted, the
    outage is over and the rest follow."""
    for _ in range(6):
        instance.then_unavailable()
    publisher = make_publisher(ledger, clock, policy=RetryPolicy(attempts=3))
    first = publisher.publish(occurrence("first", part(0, "One")))
    assert first.result == "deferred"
    second = publisher.publish(occurrence("second", part(0, "Two")))
    assert second.result == "instance-unavailable"
    third = publisher.publish(occurrence("third", part(0, "Three")))
    assert third.result == "instance-unavailable"
    assert third.retry_at == publisher.watch.next_try()
    assert len(instance.posts()) == 6  # three tries each of the first two, none of the third
    assert ledger.get("third") is None
    assert {r.key: r.state for r in ledger.all()} == {
        "first": State.PENDING,
        "second": State.PENDING,
    }
    outage = publisher.watch.outage
    assert outage is not None
    assert outage.last_answer == "503"

    publisher.watch.probe_passed()
    assert publisher.publish(occurrence("first", part(0, "One"))).result == "published"
    recovery = publisher.watch.take_recovery()
    assert recovery is not None and recovery.outage.since == outage.since
    assert publisher.publish(occurrence("second", part(0, "Two"))).result == "published"
    assert publisher.publish(occurrence("third", part(0, "Three"))).result == "published"
    assert [s["content"] for s in instance.created] == ["<p>One</p>", "<p>Two</p>", "<p>Three</p>"]


def test_a_post_failing_on_its_own_does_not_hold_up_the_next(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """One post's transient failure makes it wait for its own next try; the next post still
    goes out at once, and the instance is not considered down."""
    for _ in range(3):
        instance.then_unavailable()
    publisher = make_publisher(ledger, clock, policy=RetryPolicy(attempts=3))
    waiting = publisher.publish(occurrence("odd", part(0, "Odd")))
    assert waiting.result == "deferred"
    assert publisher.publish(occurrence("next", part(0, "Next"))).result == "published"
    assert not publisher.watch.down
    # Its own wait is respected, then it goes out.
    assert publisher.publish(occurrence("odd", part(0, "Odd"))).result == "deferred"
    assert waiting.retry_at is not None
    clock.set(waiting.retry_at)
    assert publisher.publish(occurrence("odd", part(0, "Odd"))).result == "published"


def test_a_502_html_page_keeps_the_post_pending(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """nginx's 502 page while Mastodon restarts is transient, never a failure."""
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    for _ in range(3):
        instance.script.append(lambda request: (502, {"Content-Type": "text/html"}, page))
    outcome = make_publisher(ledger, clock, policy=RetryPolicy(attempts=3)).publish(
        occurrence("x", part(0, "X"))
    )
    assert outcome.result == "deferred"
    record = ledger.get("x")
    assert record is not None and record.state is State.PENDING
    assert "(502)" in (record.last_error or "")


def test_403_fails_at_once_naming_the_post_part_and_fix(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A 403 on a reply ends the occurrence at once: the reason names the post, the part as
    people count it, and what to do."""
    instance.then_accept()
    instance.script.append(
        lambda request: (403, {}, json.dumps({"error": "Your login is currently disabled"}))
    )
    outcome = make_publisher(ledger, clock).publish(thread(parts=3))
    assert outcome.result == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("launch, part 2 of 3 (reply 1): ")
    assert "Your login is currently disabled" in outcome.error
    assert "campaign-bot retry launch" in outcome.error
    assert clock.slept == []


def test_422_names_the_part_and_the_fix(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    instance.then_refuse(422, "error_422_text_too_long_de", "headers_post_status_422")
    outcome = make_publisher(ledger, clock).publish(thread(parts=2))
    assert outcome.error is not None
    assert outcome.error.startswith("launch, part 1 of 2 (the post): the instance rejected")
    assert "change the post in its file" in outcome.error


def test_a_refused_media_file_fails_at_once_naming_the_file(
    instance: Instance, ledger: Ledger, clock: FakeClock, image: MediaFile
) -> None:
    instance.mock.post(
        MEDIA, status=422, json={"error": "File type of uploaded media could not be verified"}
    )
    outcome = make_publisher(ledger, clock).publish(
        occurrence("pic", part(0, "Look.", media=(image,)))
    )
    assert outcome.result == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("pic: ")
    assert "could not be verified" in outcome.error
    assert "check the file (shelf.png)" in outcome.error
    assert instance.posts() == []


def test_a_media_upload_outage_keeps_the_post_pending(
    instance: Instance, ledger: Ledger, clock: FakeClock, image: MediaFile
) -> None:
    """The same rules for media: a 503 on every upload leaves the post pending."""
    instance.mock.post(MEDIA, status=503, json={"error": "Service temporarily unavailable"})
    outcome = make_publisher(ledger, clock, policy=RetryPolicy(attempts=2)).publish(
        occurrence("pic", part(0, "Look.", media=(image,)))
    )
    assert outcome.result == "deferred"
    record = ledger.get("pic")
    assert record is not None and record.state is State.PENDING
    assert instance.posts() == []


# --- what the operator reads ---------------------------------------------------------------------


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.publishing.publisher"]


def test_thread_parts_are_numbered_as_people_count(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The log numbers a thread's toots 1, 2, 3 — the ledger keeps its indexes 0, 1, 2."""
    instance.then_accept()
    instance.then_unavailable()
    with caplog.at_level("INFO"):
        outcome = make_publisher(ledger, clock).publish(thread(parts=3))
    urls = [s["url"] for s in instance.created]
    lines = _lines(caplog)
    assert lines[0] == f"part 1 published: {urls[0]}"
    assert re.fullmatch(
        r"part 2: the instance had a temporary problem with the post \(503\): .*; retrying in "
        r"\d+ s with the same "
        r"Idempotency-Key",
        lines[1],
    )
    assert lines[2:] == [
        f"part 2 published: {urls[1]}",
        f"part 3 published: {urls[2]}",
        f"published {' '.join(outcome.urls)}",
    ]
    record = ledger.get("launch")
    assert record is not None
    assert [p.index for p in record.parts] == [0, 1, 2]


def test_an_adopted_reply_is_named_by_its_place_in_the_thread(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The second toot, found on the instance after a lost answer, is "part 2"."""
    instance.then_accept()
    instance.then_lose_answer()

    def account_statuses(request: Any) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps(list(reversed(instance.created)))

    instance.mock.add_callback(responses.GET, ACCOUNT_STATUSES, callback=account_statuses)
    with caplog.at_level("INFO"):
        make_publisher(ledger, clock, honours=False).publish(thread(parts=2))
    reply = instance.created[1]["url"]
    assert f"part 2 was already on the instance: {reply}" in _lines(caplog)


@pytest.mark.parametrize("settled", ["failed", "missed"])
def test_a_failed_or_missed_occurrence_is_not_sent_again(
    instance: Instance, ledger: Ledger, clock: FakeClock, settled: str
) -> None:
    """An occurrence the ledger holds as failed or missed is not sent; only `retry` reopens it."""
    if settled == "failed":
        ledger.begin_attempt("x", "x", PLANNED, "hash-x")
        ledger.mark_failed("x", "refused by the instance (422)")
    else:
        ledger.mark_missed("x", "x", PLANNED, "past its window")
    before = ledger.get("x")
    outcome = make_publisher(ledger, clock).publish(occurrence("x", part(0, "X")))
    assert outcome.result == "not-sent"
    assert instance.posts() == []
    assert ledger.get("x") == before


def test_a_published_occurrence_is_answered_from_the_ledger(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """Publishing an occurrence again sends nothing and returns its recorded URLs."""
    publisher = make_publisher(ledger, clock)
    first = publisher.publish(thread(parts=2))
    again = publisher.publish(thread(parts=2))
    assert again == Outcome("launch", "already-published", first.urls)
    assert len(first.urls) == 2
    assert len(instance.posts()) == 2


def test_outcomes_carry_the_occurrence_key_and_the_recorded_reason(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """A failed occurrence's outcome names it and gives the reason the ledger kept; asked
    again, it is not sent and gives the same reason."""
    instance.then_refuse(422, "error_422_text_too_long_de", "headers_post_status_422")
    publisher = make_publisher(ledger, clock)
    failed = publisher.publish(occurrence("long", part(0, "Zu lang")))
    record = ledger.get("long")
    assert record is not None
    assert failed == Outcome("long", "failed", error=record.last_error)
    assert publisher.publish(occurrence("long", part(0, "Zu lang"))) == Outcome(
        "long", "not-sent", error=record.last_error
    )


def test_a_resumed_occurrence_says_which_attempt_it_is(
    instance: Instance, ledger: Ledger, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The second attempt at an occurrence is logged as such, with its post id; a first is not."""
    with caplog.at_level("INFO", logger="bot.publishing.publisher"):
        make_publisher(ledger, clock).publish(occurrence("a", part(0, "A")))
        died_after_intent(ledger, "b")
        clock.advance(timedelta(minutes=5))
        make_publisher(ledger, clock).publish(occurrence("b", part(0, "B")))
    resumed = [
        (r.getMessage(), getattr(r, "post_id", None))
        for r in caplog.records
        if r.getMessage().startswith("resuming")
    ]
    assert resumed == [("resuming (attempt 2)", "b")]


def test_every_status_the_instance_answers_is_handed_on(
    instance: Instance, ledger: Ledger, clock: FakeClock
) -> None:
    """`on_status` (what the rehearsal shows) gets each toot of a thread, in order."""
    seen: list[str] = []
    publisher = make_publisher(ledger, clock, on_status=lambda status: seen.append(status.id))
    publisher.publish(thread(parts=3))
    assert seen == [s["id"] for s in instance.created]
    assert len(seen) == 3


def test_an_idempotency_key_is_the_prefix_and_forty_hex_digits() -> None:
    """Keys look like `campaign-bot-` and 40 lower-case hex digits (Mastodon allows 256)."""
    key = idempotency_key(BASE, ACCOUNT, "launch", 0)
    assert re.fullmatch(r"campaign-bot-[0-9a-f]{40}", key)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (7, 8.0), (12, 8.0)]
)
def test_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half(
    attempt: int, ceiling: float
) -> None:
    """The pause before in-line retry n lies in [c/2, c] with c = 1 s x 2^(n-1), at most 8 s:
    these retries ride out a blip; a longer failure is the instance watch's to wait out."""
    rng = random.Random(attempt)  # noqa: S311 - reproducible jitter in a test
    delays = [RetryPolicy().backoff(attempt, rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling * 0.95
    assert min(delays) < ceiling * 0.55
