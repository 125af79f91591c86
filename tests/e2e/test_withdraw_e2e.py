"""Taking posts back: a thread deleted from the server reply first, a planned post cancelled,
and a post removed from the files left alone on the server."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

import pytest

from bot.cli import living_commands, publishing_commands

from .conftest import Site

pytestmark = pytest.mark.e2e


def withdraw(site: Site, post_id: str) -> int:
    args = argparse.Namespace(app=site.app(), post_id=post_id, yes=True)
    return living_commands.run_withdraw(args)


def status(site: Site, post_id: str | None = None) -> int:
    args = argparse.Namespace(app=site.app(), post_id=post_id, json=False)
    return publishing_commands.run_status(args)


def thread(site: Site, post_id: str, at: timedelta) -> dict[str, Any]:
    return {
        "id": post_id,
        "at": site.at(at),
        "text": f"{post_id}: the news changed.",
        "media": [{"file": "media/library-shelf.png", "alt": "A shelf of books."}],
        "thread": [{"text": "Reply one."}, {"text": "Reply two."}],
    }


def test_withdraw_deletes_every_part_of_a_thread(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """All three statuses leave the server, replies first; the ledger says withdrawn with a
    deletion event per part, and `status ID` shows them; a later run publishes nothing."""
    site.write_posts("t.yaml", [thread(site, "outdated", -timedelta(minutes=2))])
    assert site.run_once() == 0
    ids = [p.status_id for p in site.records()["outdated"].parts]
    assert len(site.statuses()) == 3
    capsys.readouterr()

    assert withdraw(site, "outdated") == 0
    assert site.statuses() == []
    record = site.records()["outdated"]
    assert str(record.state) == "withdrawn"
    with site.ledger() as ledger:
        deleted = [e for e in ledger.events("outdated") if e.kind == "part-deleted"]
    assert [e.part_index for e in deleted] == [2, 1, 0]
    assert [e.detail.split(":")[0] for e in deleted] == [f"status {i}" for i in reversed(ids)]

    assert site.run_once() == 0
    assert site.statuses() == []
    capsys.readouterr()
    assert status(site, "outdated") == 0
    shown = capsys.readouterr().out
    assert "outdated  withdrawn" in shown
    assert "part 3 part-deleted" in shown and "part 1 part-deleted" in shown
    # Withdrawing again changes nothing and deletes nothing.
    assert withdraw(site, "outdated") == 0
    assert str(site.records()["outdated"].state) == "withdrawn"


def test_a_status_deleted_by_hand_counts_as_withdrawn(site: Site) -> None:
    """A part a moderator already removed is reported as gone, not as an error."""
    site.write_posts("t.yaml", [thread(site, "outdated", -timedelta(minutes=2))])
    assert site.run_once() == 0
    reply = site.records()["outdated"].parts[2].status_id
    site.server.client("alice").status_delete(reply)
    assert withdraw(site, "outdated") == 0
    assert site.statuses() == []
    with site.ledger() as ledger:
        details = [e.detail for e in ledger.events("outdated") if e.kind == "part-deleted"]
    assert details[0].startswith(f"status {reply}: already gone")


def test_withdraw_cancels_a_planned_post(site: Site) -> None:
    """A post not yet out is recorded withdrawn and never published, even once due."""
    site.write_posts("t.yaml", [thread(site, "later", timedelta(minutes=30))])
    assert withdraw(site, "later") == 0
    assert str(site.records()["later"].state) == "withdrawn"
    site.clock.advance(timedelta(hours=1))
    assert site.run_once() == 0
    assert site.statuses() == []


def test_a_post_removed_from_the_files_is_never_deleted(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Removing a published post from the files leaves it on the server; `status` lists it as
    published, no longer in the files."""
    site.write_posts("t.yaml", [thread(site, "gone-from-files", -timedelta(minutes=2))])
    assert site.run_once() == 0
    site.write_posts("t.yaml", [{"id": "other", "at": site.at(timedelta(days=1)), "text": "x"}])
    assert site.run_once() == 0
    assert len(site.statuses()) == 3
    capsys.readouterr()
    assert status(site) == 0
    assert "published, no longer in the files" in capsys.readouterr().out
