"""A repeating post whose file changed after some of its occurrences went out: the warning
counts the occurrences that still show the old version, and `amend ID` edits each of them once
(read back from the server); the occurrences still to come simply use the new file."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

import pytest

from bot.cli import campaign_commands

from .conftest import Site
from .test_amend_e2e import MediaAttributes, amend, history

pytestmark = pytest.mark.e2e

OLD = "Every hour until the vote: sign at https://petition.example.org/old"
NEW = "Every hour until the vote: sign at https://petition.example.org/new"


def reminder(site: Site, text: str) -> dict[str, Any]:
    return {
        "id": "reminder",
        "cron": "0 * * * *",
        "from": site.at(-timedelta(days=1)),
        "text": text,
        "hashtags": ["SaveOurLibraries"],
    }


@pytest.fixture
def sent(site: Site) -> dict[str, str]:
    """Occurrence key -> status id of the reminder's occurrences published by `run --once`."""
    site.session = MediaAttributes()
    site.configure(catch_up="150m")
    site.write_posts("reminder.yaml", [reminder(site, OLD)])
    assert site.run_once() == 0
    found = {
        key: record.parts[0].status_id
        for key, record in site.records().items()
        if record.post_id == "reminder" and str(record.state) == "published"
    }
    assert len(found) >= 2, found
    return {key: status_id for key, status_id in found.items() if status_id}


def validate(site: Site, capsys: pytest.CaptureFixture[str]) -> str:
    args = argparse.Namespace(
        app=site.app(), paths=[], format="text", json=False, strict=False, check_links=False
    )
    args.offline = True
    capsys.readouterr()
    assert campaign_commands.run_validate(args) == 0
    return capsys.readouterr().out


def test_each_occurrence_already_out_is_warned_about_and_amended_once(
    site: Site, sent: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    site.write_posts("reminder.yaml", [reminder(site, NEW)])
    out = validate(site, capsys)
    warning = (
        f"`reminder` part 1: text changed after publishing (followers still see the old "
        f"version in {len(sent)} published occurrences) — run `campaign-bot amend reminder` "
        "to edit them (the occurrences still to come use the file as it is)"
    )
    assert warning in out
    assert out.count("`reminder` part 1: text changed") == 1

    assert amend(site, "reminder", dry_run=True) == 0
    shown = capsys.readouterr().out
    for key in sent:
        assert f"{key} part 1: " in shown
    assert all(len(history(site, status_id)) == 1 for status_id in sent.values())

    assert amend(site, "reminder") == 0
    out = capsys.readouterr().out
    for key, status_id in sent.items():
        assert f"{key} part 1 edited" in out
        assert site.source_text(status_id) == f"{NEW}\n\n#SaveOurLibraries"
        assert len(history(site, status_id)) == 2

    assert amend(site, "reminder") == 0
    assert "nothing to amend" in capsys.readouterr().out
    assert all(len(history(site, status_id)) == 2 for status_id in sent.values())
    assert "changed after publishing" not in validate(site, capsys)


def test_one_occurrence_is_amended_by_its_key(
    site: Site, sent: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`amend ID@TIME` (the key `status` shows) edits that occurrence only; the warning then
    counts the others."""
    site.write_posts("reminder.yaml", [reminder(site, NEW)])
    first, *others = sorted(sent)
    assert amend(site, first) == 0
    assert f"{first} part 1 edited" in capsys.readouterr().out
    assert site.source_text(sent[first]).startswith(NEW)
    assert all(site.source_text(sent[key]).startswith(OLD) for key in others)
    count = f"{len(others)} published occurrence" + ("s" if len(others) > 1 else "")
    assert f"followers still see the old version in {count})" in validate(site, capsys)
