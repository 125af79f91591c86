"""Changing a published post from its file: warned about, amended once, read back from the
server with its edit history."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.cli import campaign_commands, living_commands, publishing_commands
from bot.service.living import LivingRound

from .conftest import Site

pytestmark = pytest.mark.e2e


class MediaAttributes(requests.Session):
    """mastodon_mock 0.6.1 keeps the text, content warning and sensitive flag of an edit but not
    its `media_attributes`. Mastodon applies them to the status's attachments in the same
    request (UpdateStatusService#update_media_attachments!); this session does that through the
    mock's media endpoint right after the edit, so what is read back is what the bot sent."""

    def __init__(self) -> None:
        super().__init__()
        self.edits = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        path = urlsplit(request.url).path
        if request.method == "PUT" and path.startswith("/api/v1/statuses/") and response.ok:
            self.edits += 1
            # media_attributes come as JSON; an edit without media is a form.
            is_json = "json" in str(request.headers.get("Content-Type"))
            body = json.loads(request.body or b"{}") if is_json else {}
            for media in body.get("media_attributes") or ():
                form = {"description": media.get("description", "")}
                if media.get("focus"):
                    form["focus"] = media["focus"]
                base = request.url.split("/api/v1/", 1)[0]
                super().put(f"{base}/api/v1/media/{media['id']}", data=form, timeout=10)
        return response


def amend(site: Site, post_id: str | None, **flags: Any) -> int:
    options = {"all": False, "part": None, "yes": True, "dry_run": False, "reset_poll": False}
    args = argparse.Namespace(app=site.app(), post_id=post_id, **{**options, **flags})
    return living_commands.run_amend(args)


def post(site: Site, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "petition-launch",
        "at": site.at(-timedelta(minutes=5)),
        "text": "Sign the petition: https://petition.example.org/old",
        "hashtags": ["SaveOurLibraries"],
        "cw": "Library closures",
        "media": [
            {"file": "media/library-shelf.png", "alt": "A shelf of books.", "focus": [0.1, 0.2]}
        ],
        "thread": [{"text": "Why it matters: six libraries, four closing."}],
    }
    return {**body, **changes}


@pytest.fixture
def published(site: Site) -> Site:
    site.session = MediaAttributes()
    site.write_posts("launch.yaml", [post(site)])
    assert site.run_once() == 0
    return site


def history(site: Site, status_id: str) -> list[Any]:
    return list(site.server.client("alice").status_history(status_id))


def test_each_changed_field_is_warned_amended_and_read_back(
    published: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """A changed text, content warning, alt text and hashtag list are reported per part and
    field by validate, plan and status, then amended once; the server shows the new version,
    keeps the image, and has one edit in the history of the changed part only."""
    site = published
    first, reply = (p.status_id for p in site.records()["petition-launch"].parts)
    assert first is not None and reply is not None
    media_before = site.server.client("alice").status(first)["media_attachments"][0]["id"]
    changed = post(
        site,
        text="Sign the petition: https://petition.example.org/new",
        hashtags=["SaveOurLibraries", "Millbrook"],
        cw="Library closures (update)",
        media=[{"file": "media/library-shelf.png", "alt": "Six books on a green shelf."}],
    )
    site.write_posts("launch.yaml", [changed])
    capsys.readouterr()

    args = argparse.Namespace(
        app=site.app(), paths=[], format="text", json=False, strict=False, check_links=False
    )
    args.offline = True
    assert campaign_commands.run_validate(args) == 0
    out = capsys.readouterr().out
    for field in ("text", "hashtags", "content warning", "alt text", "focus"):
        assert (
            f"warning: `petition-launch` part 1: {field} changed after publishing (followers "
            "still see the old version) — run `campaign-bot amend petition-launch`"
        ) in out
    # The reply keeps the post's content warning, so it changed too; nothing else of it did.
    assert "`petition-launch` part 2: content warning changed after publishing" in out
    assert "part 2: text" not in out
    plan_args = argparse.Namespace(app=site.app(), start="-1d", end="1d", json=False, offline=True)
    assert campaign_commands.run_plan(plan_args) == 0
    assert "`petition-launch` part 1: alt text changed after publishing" in capsys.readouterr().out
    status_args = argparse.Namespace(app=site.app(), post_id=None, json=False)
    assert publishing_commands.run_status(status_args) == 0
    assert "part 1: text changed after publishing" in capsys.readouterr().out

    assert amend(site, "petition-launch", dry_run=True) == 0
    shown = capsys.readouterr().out
    assert "- Sign the petition: https://petition.example.org/old" in shown
    assert "+ Sign the petition: https://petition.example.org/new" in shown
    assert "dry run: nothing was edited" in shown
    assert len(history(site, first)) == 1

    assert amend(site, "petition-launch") == 0
    assert "petition-launch part 1 edited" in capsys.readouterr().out
    client = site.server.client("alice")
    status = client.status(first)
    assert site.source_text(first) == (
        "Sign the petition: https://petition.example.org/new\n\n#SaveOurLibraries #Millbrook"
    )
    assert status["spoiler_text"] == "Library closures (update)"
    assert status["sensitive"] is True
    (media,) = status["media_attachments"]
    assert media["id"] == media_before
    assert media["description"] == "Six books on a green shelf."
    assert len(history(site, first)) == 2
    assert len(history(site, reply)) == 2
    assert client.status(reply)["spoiler_text"] == "Library closures (update)"
    assert site.source_text(reply) == "Why it matters: six libraries, four closing."

    # Nothing is left to amend, and a second run edits nothing.
    assert amend(site, "petition-launch") == 0
    assert "nothing to amend" in capsys.readouterr().out
    assert len(history(site, first)) == 2
    assert campaign_commands.run_validate(args) == 0
    assert "changed after publishing" not in capsys.readouterr().out

    assert (
        publishing_commands.run_status(
            argparse.Namespace(app=site.app(), post_id="petition-launch", json=False)
        )
        == 0
    )
    shown = capsys.readouterr().out
    assert "part 1 edit-intended" in shown
    assert "part 1 edited: status" in shown


def test_a_lost_answer_is_read_back_not_edited_twice(published: Site) -> None:
    """The edit went through but its answer was lost: the retry reads the status back, finds
    the new text and records the edit as found, so the history has one edit."""
    site = published
    first = site.records()["petition-launch"].parts[0].status_id
    assert first is not None
    session = site.session
    assert isinstance(session, MediaAttributes)
    original = session.send

    def lose_first_edit_answer(request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        response = original(request, **kw)
        if request.method == "PUT" and session.edits == 1 and "/statuses/" in str(request.url):
            session.edits += 1
            raise requests.ConnectionError("connection reset by peer (the answer was lost)")
        return response

    session.send = lose_first_edit_answer  # type: ignore[method-assign]
    site.write_posts(
        "launch.yaml", [post(site, text="Sign it today: https://petition.example.org/x")]
    )
    assert amend(site, "petition-launch") == 0
    assert len(history(site, first)) == 2
    assert site.source_text(first).startswith("Sign it today")
    with site.ledger() as ledger:
        kinds = [e.kind for e in ledger.events("petition-launch") if e.part_index == 0]
    assert kinds[-2:] == ["edit-intended", "edit-found"]


def test_a_changed_language_is_warned_and_amended_once(
    published: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file now says Welsh: `validate` offers `amend` (no longer "cannot change"), the edit
    carries `language` with the text and image, and a second `amend` finds nothing to do.
    (mastodon_mock 0.6.1 keeps a status's language on edit, so the request is what is checked.)"""
    site = published
    first = site.records()["petition-launch"].parts[0].status_id
    assert first is not None
    session = site.session
    assert isinstance(session, MediaAttributes)
    original = session.send
    edits: list[dict[str, Any]] = []

    def keep_edits(request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        if request.method == "PUT" and "/api/v1/statuses/" in str(request.url):
            body = request.body or b""
            if "json" in str(request.headers.get("Content-Type")):
                edits.append(json.loads(body))
            else:
                text = body.decode() if isinstance(body, bytes) else str(body)
                edits.append({k: v[0] for k, v in parse_qs(text).items()})
        return original(request, **kw)

    session.send = keep_edits  # type: ignore[method-assign]
    site.write_posts("launch.yaml", [post(site, language="cy")])
    args = argparse.Namespace(
        app=site.app(), paths=[], format="text", json=False, strict=False, check_links=False
    )
    args.offline = True
    capsys.readouterr()
    assert campaign_commands.run_validate(args) == 0
    out = capsys.readouterr().out
    assert (
        "`petition-launch` part 1: language changed after publishing (followers still see the "
        "old version) — run `campaign-bot amend petition-launch`"
    ) in out
    assert "cannot change the language" not in out

    assert amend(site, "petition-launch") == 0
    assert "petition-launch part 1 edited" in capsys.readouterr().out
    assert [e["language"] for e in edits] == ["cy", "cy"]  # the post and its reply
    media_id = site.server.client("alice").status(first)["media_attachments"][0]["id"]
    assert edits[0]["media_attributes"][0]["id"] == media_id
    assert edits[0]["status"].startswith("Sign the petition")
    assert len(history(site, first)) == 2

    assert amend(site, "petition-launch") == 0
    assert "nothing to amend" in capsys.readouterr().out
    assert len(edits) == 2
    assert campaign_commands.run_validate(args) == 0
    assert "changed after publishing" not in capsys.readouterr().out


def test_poll_is_kept_unless_reset(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """A text change re-sends the poll as it is on the server; a changed poll is left alone
    without --reset-poll, and said so."""
    poll = {"options": ["Yes", "No"], "expires_in": "1d"}
    site.write_posts(
        "p.yaml",
        [
            {
                "id": "vote",
                "at": site.at(-timedelta(minutes=1)),
                "text": "Keep the library?",
                "poll": poll,
            }
        ],
    )
    assert site.run_once() == 0
    status_id = site.records()["vote"].parts[0].status_id
    assert status_id is not None
    site.write_posts(
        "p.yaml",
        [
            {
                "id": "vote",
                "at": site.at(-timedelta(minutes=1)),
                "text": "Keep our library open?",
                "poll": {**poll, "options": ["Yes", "No", "Unsure"]},
            }
        ],
    )
    capsys.readouterr()
    assert amend(site, "vote") == 0
    out = capsys.readouterr().out
    assert "poll: stays as it is (add --reset-poll" in out
    status = site.server.client("alice").status(status_id)
    assert site.source_text(status_id) == "Keep our library open?"
    assert [o["title"] for o in status["poll"]["options"]] == ["Yes", "No"]


def test_the_running_bot_applies_alt_text_changes_by_itself(published: Site) -> None:
    """With `amend: alt-text`, the bot's round between posts edits a changed alt text (once,
    alerted once) and leaves a changed text to the campaigner; then it counts nothing yet."""
    site = published
    site.configure(amend="alt-text")
    first = site.records()["petition-launch"].parts[0].status_id
    assert first is not None
    site.write_posts(
        "launch.yaml",
        [
            post(
                site,
                text="A new text the campaigner has not amended yet.",
                media=[
                    {"file": "media/library-shelf.png", "alt": "Six books.", "focus": [0.1, 0.2]}
                ],
            )
        ],
    )
    app = site.app()
    alerts: list[tuple[str, str, str]] = []
    posts = app.campaign(online=False).posts
    with site.ledger() as ledger:
        round_ = LivingRound(app, ledger, app.client(), lambda *a: alerts.append(a))
        round_.run(posts, None)
        round_.run(posts, None)
    status = site.server.client("alice").status(first)
    assert status["media_attachments"][0]["description"] == "Six books."
    assert site.source_text(first).startswith("Sign the petition")
    assert len(history(site, first)) == 2
    assert [(kind, message.split(" https")[0]) for _, kind, message in alerts] == [
        ("amended", "petition-launch part 1: amended (alt text)")
    ]
