"""`run --once`, `publish`, `status` and `retry` as an operator runs them: subprocesses on the real
clock against the mock server."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from .conftest import STATUSES, Site

pytestmark = pytest.mark.e2e

REJECTION = "Validation failed: Text character limit of 500 exceeded"


@pytest.fixture
def two_posts(site: Site) -> Site:
    """A site with two due posts, the first a thread."""
    site.write_posts(
        "due.yaml",
        [
            {
                "id": "first",
                "at": site.at(-timedelta(minutes=10)),
                "text": "The first post.",
                "thread": [{"text": "Its reply."}],
            },
            {"id": "second", "at": site.at(-timedelta(minutes=5)), "text": "The second post."},
        ],
    )
    return site


def test_failed_post_through_status_retry_and_publish(two_posts: Site) -> None:
    """`status` shows a failed post and its error; `retry` and `run --once` then publish it."""
    site = two_posts
    site.server.fault(
        path=STATUSES, methods=["POST"], status=422, body={"error": REJECTION}, count=1
    )
    run = site.cli("run", "--once")
    assert run.returncode == 1, run.stderr
    assert "1 published, 1 failed" in run.stderr

    shown = site.cli("status")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("first "))
    assert re.fullmatch(r"first\s+failed\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC", lines[first])
    assert lines[first + 1].strip().startswith("last error: ")
    assert REJECTION in lines[first + 1]
    second = next(line for line in lines if line.startswith("second "))
    assert re.fullmatch(r"second\s+published\s+.+ UTC", second)
    url = site.records()["second"].urls()[0]
    assert f"    {url}" in lines

    retried = site.cli("retry", "first")
    assert retried.returncode == 0, retried.stderr
    assert "first is pending again" in retried.stdout
    assert str(site.records()["first"].state) == "pending"
    again = site.cli("retry", "first")
    assert again.returncode != 0
    assert "first" in again.stderr

    run = site.cli("run", "--once")
    assert run.returncode == 0, run.stderr
    urls = site.records()["first"].urls()
    assert len(urls) == 2
    shown = site.cli("status")
    for url in urls:
        assert f"    {url}" in shown.stdout.splitlines()
    assert "last error" not in shown.stdout  # a published post's old error is not shown
    assert len(site.statuses()) == 3


def test_publish_refuses_a_published_post_and_prints_its_urls(two_posts: Site) -> None:
    """`publish ID` prints the URLs; asked again it refuses with the URLs and exits non-zero."""
    site = two_posts
    done = site.cli("publish", "first")
    assert done.returncode == 0, done.stderr
    urls = done.stdout.split()
    assert urls == site.records()["first"].urls()
    assert len(urls) == 2

    refused = site.cli("publish", "first")
    assert refused.returncode != 0
    assert "already published" in refused.stderr
    for url in urls:
        assert url in refused.stderr
    assert len(site.statuses()) == 2

    unknown = site.cli("publish", "no-such-post")
    assert unknown.returncode == 2
    assert "no-such-post" in unknown.stderr


def test_status_json_lists_every_occurrence(two_posts: Site) -> None:
    """`status --json` gives state, time, ids, URLs and error per post, and those not tried."""
    site = two_posts
    before = json.loads(site.cli("status", "--json").stdout)
    assert before == {
        "instance": "available",
        "occurrences": [],
        "not_yet_attempted": ["first", "second"],
        "held_back": [],
        "changed_after_publishing": [],
    }
    assert site.cli("publish", "second").returncode == 0
    after = json.loads(site.cli("status", "--json").stdout)
    assert after["not_yet_attempted"] == ["first"]
    (entry,) = after["occurrences"]
    record = site.records()["second"]
    assert entry["key"] == entry["id"] == "second"
    assert entry["state"] == "published"
    assert entry["urls"] == record.urls()
    assert entry["status_ids"] == [site.statuses()[0]["id"]]
    assert entry["last_error"] is None
    assert entry["attempts"] == 1


def test_revoked_token_is_reported_loudly(two_posts: Site) -> None:
    """A 401 stops `run --once` with a message that names the token problem and its fix."""
    site = two_posts
    site.server.fault(
        path=STATUSES,
        methods=["POST"],
        status=401,
        body={"error": "The access token is invalid"},
    )
    run = site.cli("run", "--once")
    assert run.returncode == 1
    assert "access token" in run.stderr
    assert "401" in run.stderr
    assert "alice_token" not in run.stderr + run.stdout
    assert str(site.records()["first"].state) == "pending"
    assert site.statuses() == []


def test_status_shows_the_planned_and_the_published_time(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """A post sent early with `publish` keeps its planned time in the ledger; `status` shows
    that time and, beside it, when it was published."""
    planned = site.clock.now() + timedelta(days=7)
    site.write_posts("a.yaml", [{"id": "early", "at": site.at(timedelta(days=7)), "text": "Hi"}])
    assert site.publish("early") == 0
    record = site.records()["early"]
    assert record.planned_at == planned.replace(second=0, microsecond=0)
    assert record.published_at is not None
    shown = site.cli("status")
    [line] = [line for line in shown.stdout.splitlines() if line.startswith("early ")]
    planned_text = record.planned_at.strftime("%Y-%m-%d %H:%M UTC")
    published_text = record.published_at.strftime("%Y-%m-%d %H:%M UTC")
    assert re.fullmatch(rf"early\s+published\s+{planned_text}, published {published_text}", line), (
        line
    )
