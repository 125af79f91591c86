"""A damaged, lost or moved ledger, and media ids kept across a crash, as an operator meets
them: `campaign-bot` subprocesses on the real clock against the mock server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta
from typing import Any

import pytest

from .conftest import STATUSES, Site

pytestmark = pytest.mark.e2e

MEDIA = "/api/v2/media"


def campaign(site: Site) -> list[dict[str, Any]]:
    """Three due posts: a thread of three, one with an image, a plain one."""
    return [
        {
            "id": "thread",
            "at": site.at(-timedelta(minutes=20)),
            "text": "A thread about the libraries.",
            "hashtags": ["SaveOurLibraries"],
            "thread": [{"text": "Why they matter."}, {"text": "What you can do."}],
        },
        {
            "id": "picture",
            "at": site.at(-timedelta(minutes=15)),
            "text": "The shelf we want to keep.",
            "cw": "library closures",
            "media": [{"file": "media/library-shelf.png", "alt": "A shelf of books."}],
        },
        {"id": "plain", "at": site.at(-timedelta(minutes=10)), "text": "Sign the petition."},
    ]


def published(site: Site) -> Site:
    site.write_posts("posts.yaml", campaign(site))
    run = site.cli("run", "--once")
    assert run.returncode == 0, run.stderr
    assert len(site.statuses()) == 5
    return site


def remove_ledger(site: Site) -> None:
    for path in site.ledger_path.parent.glob("ledger.sqlite3*"):
        path.unlink()


def server_media(site: Site) -> int:
    """How many media the account has uploaded, read from the mock's own database."""
    with sqlite3.connect(site.server.config.database.path) as db:
        return int(db.execute("SELECT count(*) FROM media_attachments").fetchone()[0])


def test_zero_byte_ledger_stops_publishing_with_what_to_do(site: Site) -> None:
    """Tried: `: > data/ledger.sqlite3` made `status` report posts "not attempted yet" and
    `run --once` post every toot again. Now every command that reads the ledger refuses with
    what is wrong and what to do, and nothing is posted."""
    published(site)
    site.ledger_path.write_bytes(b"")

    run = site.cli("run", "--once")
    assert run.returncode == 1
    assert f"{site.ledger_path}: the ledger is empty (zero bytes)" in run.stderr
    assert "`campaign-bot ledger restore`" in run.stderr
    assert "`campaign-bot ledger rebuild`" in run.stderr
    assert "Traceback" not in run.stderr
    status = site.cli("status")
    assert status.returncode == 1
    assert "not attempted yet" not in status.stdout
    assert "the ledger is empty (zero bytes)" in status.stderr
    assert len(site.statuses()) == 5
    assert site.ledger_path.stat().st_size == 0  # left as it was, for the operator to see


def test_corrupted_ledger_is_refused(site: Site) -> None:
    """A ledger whose pages were overwritten fails the integrity check at start."""
    published(site)
    raw = bytearray(site.ledger_path.read_bytes())
    raw[4096:8192] = b"\x5a" * 4096
    site.ledger_path.write_bytes(bytes(raw))

    run = site.cli("run", "--once")
    assert run.returncode == 1
    assert f"{site.ledger_path}: the ledger is damaged" in run.stderr
    assert "publishing is stopped so that nothing is posted twice" in run.stderr
    assert len(site.statuses()) == 5


def test_deleted_ledger_is_rebuilt_from_the_account_and_nothing_is_posted_twice(
    site: Site,
) -> None:
    """After `rm` of the ledger, the bot refuses to publish from an empty one while the
    account has the campaign's posts; `ledger rebuild` finds them all, and the next run posts
    nothing again."""
    published(site)
    before = site.records()
    remove_ledger(site)

    refused = site.cli("run", "--once")
    assert refused.returncode == 1
    assert "the ledger is empty, but the account already has 3 posts of this campaign" in (
        refused.stderr
    )
    assert "`campaign-bot ledger rebuild`" in refused.stderr
    assert "`campaign-bot run --fresh-ledger`" in refused.stderr
    assert len(site.statuses()) == 5

    rebuilt = site.cli("ledger", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "3 matched (0 threads partly out: the next run posts the rest), 0 due but not found" in (
        rebuilt.stdout
    )
    for key in ("thread", "picture", "plain"):
        assert f"  matched {key}: published" in rebuilt.stdout
    after = site.records()
    assert {k: str(r.state) for k, r in after.items()} == {k: "published" for k in before}
    for key, record in before.items():
        assert [p.status_id for p in after[key].parts] == [p.status_id for p in record.parts]
        assert after[key].urls() == record.urls()

    again = site.cli("run", "--once")
    assert again.returncode == 0, again.stderr
    assert len(site.statuses()) == 5


def test_rebuild_of_a_half_published_thread_lets_the_next_run_finish_it(site: Site) -> None:
    """A thread whose last reply is not on the account is rebuilt as partly out; the next run
    posts only that reply."""
    site.write_posts("posts.yaml", campaign(site))
    run = site.cli("run", "--once")
    assert run.returncode == 0, run.stderr
    thread = site.records()["thread"]
    last = thread.parts[2].status_id
    assert last is not None
    site.server.client("alice").status_delete(last)
    site.forget_idempotency_keys()  # as Mastodon does an hour later
    remove_ledger(site)

    rebuilt = site.cli("ledger", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "  matched thread: partly published (2 of 3 parts)" in rebuilt.stdout
    assert len(site.statuses()) == 4
    finish = site.cli("run", "--once")
    assert finish.returncode == 0, finish.stderr
    statuses = site.statuses()
    assert len(statuses) == 5
    record = site.records()["thread"]
    assert str(record.state) == "published"
    assert statuses[-1]["in_reply_to_id"] == record.parts[1].status_id


def test_fresh_ledger_flag_starts_over_on_purpose(site: Site) -> None:
    """`run --fresh-ledger` is the operator saying: post them again (an hour later, once the
    instance has forgotten the Idempotency-Keys)."""
    published(site)
    remove_ledger(site)
    site.forget_idempotency_keys()
    run = site.cli("run", "--once", "--fresh-ledger")
    assert run.returncode == 0, run.stderr
    assert "--fresh-ledger: starting from an empty ledger" in run.stderr
    assert len(site.statuses()) == 10


def test_backups_are_restored_and_rebuild_adds_what_came_after(site: Site) -> None:
    """`ledger backup` then `ledger restore` put a whole copy back; a missing ledger beside
    backups is refused as lost, not started afresh."""
    site.write_posts("posts.yaml", campaign(site)[:1])
    assert site.cli("run", "--once").returncode == 0
    backup = site.cli("ledger", "backup")
    assert backup.returncode == 0, backup.stderr
    site.write_posts("posts.yaml", campaign(site))
    assert site.cli("run", "--once").returncode == 0
    remove_ledger(site)

    refused = site.cli("run", "--once")
    assert refused.returncode == 1
    assert "the ledger is missing, but" in refused.stderr
    assert "holds 1 copies of one" in refused.stderr

    restored = site.cli("ledger", "restore")
    assert restored.returncode == 0, restored.stderr
    assert "restored the ledger from" in restored.stdout
    assert set(site.records()) == {"thread"}
    rebuilt = site.cli("ledger", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "  already in the ledger: thread" in rebuilt.stdout
    assert set(site.records()) == {"thread", "picture", "plain"}
    assert site.cli("run", "--once").returncode == 0
    assert len(site.statuses()) == 5


def test_token_of_another_account_is_refused_until_rebind(site: Site) -> None:
    """Tried: the daemon published as another account and overwrote the ledger's account.
    Now a token for bob is refused with both names; `ledger rebind` moves it on purpose."""
    published(site)
    site.write_posts(
        "more.yaml", [{"id": "later", "at": site.at(-timedelta(minutes=1)), "text": "Later."}]
    )
    env = {**site.cli_env(), "MASTODON_ACCESS_TOKEN": "bob_token"}

    def as_bob(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            site.command(*args),
            env=env,
            cwd=site.root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    refused = as_bob("run", "--once")
    assert refused.returncode == 1
    assert "this ledger belongs to @alice" in refused.stderr
    assert "the access token is for @bob" in refused.stderr
    bob = site.server.client("bob")
    assert bob.account_statuses(bob.me()["id"]) == []

    moved = as_bob("ledger", "rebind")
    assert moved.returncode == 0, moved.stderr
    assert "the ledger now belongs to @bob" in moved.stdout
    assert as_bob("run", "--once").returncode == 0
    assert len(bob.account_statuses(bob.me()["id"])) == 1


def test_media_uploaded_before_a_crash_is_not_uploaded_again(site: Site) -> None:
    """SIGKILL between the media upload and the status: the next run attaches the upload the
    ledger recorded instead of uploading the file again."""
    site.write_posts("posts.yaml", campaign(site)[1:2])
    failing = site.server.fault(path=STATUSES, methods=["POST"], status=503)
    process = subprocess.Popen(
        site.command("run", "--once"),
        env=site.cli_env(),
        cwd=site.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _media_recorded(site):
            assert process.poll() is None, "the run ended before uploading"
            assert time.monotonic() < deadline, "no upload recorded in time"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    failing.delete()
    assert server_media(site) == 1
    assert site.statuses() == []

    run = site.cli("run", "--once")
    assert run.returncode == 0, run.stderr
    (status,) = site.statuses()
    assert server_media(site) == 1
    assert [m["description"] for m in status["media_attachments"]] == ["A shelf of books."]


def _media_recorded(site: Site) -> bool:
    if not site.ledger_path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{site.ledger_path}?mode=ro", uri=True, timeout=1) as db:
            return bool(db.execute("SELECT count(*) FROM media").fetchone()[0])
    except sqlite3.Error:
        return False
