"""The posts folder is listed in one walk that serves both loading (the post files) and the running
bot's live reload (a signature of every file, media too): a change the watch sees is loaded from
the watch's own listing, not from a second walk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import START, MakeCampaign

from bot.calendar.serve import snapshot
from bot.campaign.folder import list_folder
from bot.campaign.loading import discover
from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.service.app import App
from bot.service.daemon import Daemon


def post(post_id: str, days: int = 1, media: str | None = None) -> str:
    at = (START + timedelta(days=days)).isoformat()
    line = f'  - {{id: {post_id}, at: "{at}", text: "Post {post_id}"'
    if media:
        line += f", media: [{{file: {media}, alt: A shelf of books}}]"
    return line + "}\n"


def test_one_listing_gives_the_post_files_in_order_and_every_file_in_the_signature(
    make_campaign: MakeCampaign, png: bytes
) -> None:
    """Post files come a folder's own files first (by name), then its folders (by name); hidden
    folders are left out; hidden files and media count in the signature only."""
    files = make_campaign(
        {
            "b.yaml": "posts: []\n",
            "A.YML": "posts: []\n",
            "z/c.yaml": "posts: []\n",
            "m/d.yaml": "posts: []\n",
            ".hidden/e.yaml": "posts: []\n",
            ".f.yaml": "posts: []\n",
            "notes.txt": "not a post file\n",
        },
        media={"media/shelf.png": png},
    )
    top = files.posts_dir
    listing = list_folder(top)

    assert [p.relative_to(top).as_posix() for p in listing.post_files] == [
        "A.YML",
        "b.yaml",
        "m/d.yaml",
        "z/c.yaml",
    ]
    assert discover(top) == list(listing.post_files)
    signed = {Path(path).relative_to(top).as_posix() for path, _, _ in listing.signature}
    assert signed == {"A.YML", "b.yaml", "m/d.yaml", "z/c.yaml", ".f.yaml", "notes.txt"} | {
        "media/shelf.png"
    }
    shelf = top / "media" / "shelf.png"
    assert (str(shelf), shelf.stat().st_mtime_ns, len(png)) in listing.signature
    # `calendar --serve` compares the same signature, plus the single files it names.
    ledger = files.root / "ledger.sqlite3"
    ledger.write_bytes(b"x")
    assert snapshot([top, ledger]) == (*listing.signature, (str(ledger), *_stat(ledger)))


def _stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size


def test_a_missing_folder_lists_nothing(tmp_path: Path) -> None:
    listing = list_folder(tmp_path / "nowhere")
    assert (listing.post_files, listing.signature) == ((), ())


@pytest.fixture
def bot(make_campaign: MakeCampaign, png: bytes) -> Iterator[Daemon]:
    """A started dry-run daemon on a fake clock over one post file with an image."""
    files = make_campaign(
        {"a.yaml": "posts:\n" + post("first", media="media/shelf.png"), "more/b.yaml": "posts:\n"},
        media={"media/shelf.png": png},
    )
    app = App(load_settings(files.config, env={}), clock=FakeClock(START), env={})
    made = Daemon(app, dry_run=True)
    made.start()
    yield made
    made.stop("test over")
    made.scheduler.shutdown(wait=True)
    made.ledger.close()


@pytest.fixture
def walked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Every folder under the posts folder that is listed from now on."""
    seen: list[Path] = []
    real = os.scandir
    posts_dir = tmp_path / "posts"

    def counting(path: str | int) -> object:
        if isinstance(path, str) and Path(path).is_relative_to(posts_dir):
            seen.append(Path(path).relative_to(posts_dir))
        return real(path)

    monkeypatch.setattr(os, "scandir", counting)
    return seen


FOLDERS = [Path("."), Path("media"), Path("more")]


@pytest.mark.parametrize("change", ["post file", "media file", "new file", "removed file"])
def test_a_change_the_watch_sees_is_loaded_from_the_same_listing(
    bot: Daemon, walked: list[Path], monkeypatch: pytest.MonkeyPatch, png: bytes, change: str
) -> None:
    """A changed, added or removed post file, or a changed image, makes the watch ask for a
    reload; the reload reads the watch's listing: the folder was walked once in all."""
    reloads: list[str] = []
    monkeypatch.setattr(bot, "request_reload", reloads.append)
    posts_dir = bot.settings.posts_dir
    bot._watch()
    assert (reloads, walked) == ([], FOLDERS)  # nothing changed: one walk, no reload
    walked.clear()

    if change == "post file":
        (posts_dir / "a.yaml").write_text("posts:\n" + post("first", days=2), encoding="utf-8")
    elif change == "media file":
        (posts_dir / "media" / "shelf.png").write_bytes(png + b"\0")
    elif change == "new file":
        (posts_dir / "more" / "b.yaml").write_text("posts:\n" + post("second"), encoding="utf-8")
    else:
        (posts_dir / "more" / "b.yaml").unlink()
    bot._watch()
    assert reloads == ["post files changed"]
    bot._reload(reloads[0])

    assert walked == FOLDERS
    assert [p.id for p in bot.posts] == (["first", "second"] if change == "new file" else ["first"])
    if change == "post file":
        assert bot.posts[0].schedule.at == START + timedelta(days=2)


def test_a_reload_the_watch_did_not_ask_for_lists_the_folder_afresh(
    bot: Daemon, walked: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGHUP and the periodic re-plan list the folder once and read what is there now; the
    watch keeps that listing, so the same edit does not bring a second reload."""
    reloads: list[str] = []
    monkeypatch.setattr(bot, "request_reload", reloads.append)
    (bot.settings.posts_dir / "more" / "b.yaml").write_text(
        "posts:\n" + post("second"), encoding="utf-8"
    )
    bot._reload("SIGHUP")
    assert walked == FOLDERS
    assert [p.id for p in bot.posts] == ["first", "second"]
    bot._watch()
    assert reloads == []
