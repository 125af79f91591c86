"""`campaign-bot rehearse`: the whole campaign, published to a local sandbox, read back from it."""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from conftest import START, started_in_background
from mastodon import Mastodon

from bot.campaign.loading import load_campaign
from bot.cli import main as cli
from bot.cli.main import main
from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.core.limits import InstanceLimits
from bot.service.app import App
from bot.service.rehearsal import MAX_REHEARSED_PER_POST, rehearsal_window, rehearse, sandbox
from bot.storage.ledger import Ledger

REPO = Path(__file__).parent.parent
pytestmark = pytest.mark.e2e


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Path:
    """A copy of the example campaign, with its own data folder; commands run in-process see
    the test's clock (before the campaign starts, unless the test moves it)."""
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copytree(REPO / "config", tmp_path / "config")
    for name in ("CAMPAIGN_BOT_CONFIG", "MASTODON_BASE_URL", "MASTODON_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "App", lambda settings: App(settings, clock=clock, env={}))
    return tmp_path / "config" / "bot.yaml"


def _statuses(server_url: str, token: str) -> list[dict[str, object]]:
    api = Mastodon(access_token=token, api_base_url=server_url, version_check_mode="none")
    me = api.account_verify_credentials()
    statuses = api.account_statuses(me["id"], limit=40)
    return list(reversed(api.fetch_remaining(statuses)))


def test_example_campaign_reaches_the_sandbox_in_order(example: Path) -> None:
    """Every example post is on the sandbox, in planned order, with media, polls and threads."""
    settings = load_settings(example, {})
    campaign = load_campaign(settings, InstanceLimits())
    assert campaign.errors == []
    out = io.StringIO()
    with sandbox(others=["readers-union"]) as box:
        start, end = rehearsal_window(campaign.posts, START, None, None)
        result = rehearse(settings, campaign.posts, box, start=start, end=end, out=out)
        on_server = _statuses(box.base_url, box.token)
        partner = _statuses(box.base_url, box.tokens["readers-union"])
    assert result.ok
    top_level = [s for s in on_server if s["in_reply_to_id"] is None]
    own = [(o, parts) for o, parts in result.published if o.post.follows is None]
    published_ids = [parts[0].id for _, parts in own]
    assert [str(s["id"]) for s in top_level] == published_ids
    planned = [o.planned_at for o, _ in result.published]
    assert planned == sorted(planned)
    keys = [o.key for o, _ in result.published]
    assert sum(1 for k in keys if k.startswith("weekly-reminder@")) == 6

    launch = next(parts for o, parts in result.published if o.post.id == "petition-launch")
    assert len(launch) == 4
    assert [p.in_reply_to_id for p in launch[1:]] == [launch[0].id, launch[1].id, launch[2].id]
    image = launch[0].media[0]
    assert image.description.startswith("Illustration of six book spines")
    assert image.focus == (0.0, 0.1)
    server_launch = next(s for s in on_server if str(s["id"]) == launch[0].id)
    assert server_launch["media_attachments"][0]["description"] == image.description

    poll = next(parts for o, parts in result.published if o.post.id == "poll-what-you-use")[0]
    assert poll.poll_options == (
        "Borrowing books", "Computers and wifi", "Kids' activities", "A warm quiet place",
    )  # fmt: skip
    story = next(parts for o, parts in result.published if o.post.id == "story-warm-space")[0]
    assert story.spoiler_text == "mentions poverty and a cold home"
    assert story.sensitive is True
    assert len(on_server) == sum(len(parts) for _, parts in own) == 15

    # The partner boosts the launch and quotes it, after it, as the example says.
    boost, quote = partner
    assert boost["reblog"]["id"] == launch[0].id
    assert quote["quote"]["quoted_status"]["id"] == launch[0].id
    assert "Please sign." in quote["content"]
    follow_ups = [o.key for o, _ in result.published if o.post.follows is not None]
    assert follow_ups == [
        "petition-launch~boost~readers-union",
        "petition-launch~quote~readers-union",
    ]

    shown = out.getvalue()
    assert shown.index("petition-launch") < shown.index("petition-first-thousand")
    assert "alt text “Illustration of six book spines" in shown
    assert "⚠ content warning: mentions poverty and a cold home" in shown
    assert "📊 poll: Borrowing books | Computers and wifi" in shown
    assert "↳ reply 3 of 3" in shown


def test_rehearse_command_says_first_that_nothing_real_is_touched(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first line says where the sandbox is and that the real instance and ledger are safe."""
    assert main(["--config", str(example), "rehearse"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Rehearsal on a local sandbox at http://127.0.0.1:")
    assert "nothing is sent to any Mastodon instance" in lines[0]
    assert "the real ledger" in lines[0]
    assert lines[-1].startswith("Rehearsal: 14 posts published (17 toots, 1 thread, 1 media")


def test_a_post_the_sandbox_rejects_fails_the_rehearsal(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A post our config allows but the sandbox refuses is reported, and the exit code is 1."""
    config = example.read_text(encoding="utf-8") + "limits:\n  max_characters: 2000\n"
    example.write_text(config, encoding="utf-8")
    long_text = "Libraries matter. " * 40  # 720 characters: over the sandbox's 500
    (example.parent.parent / "posts" / "03-long.yaml").write_text(
        "posts:\n  - id: too-long-for-the-server\n    at: 2026-12-10 10:00\n"
        f"    text: {long_text}\n",
        encoding="utf-8",
    )
    assert main(["--config", str(example), "rehearse"]) == 1
    out = capsys.readouterr().out
    assert "too-long-for-the-server: failed" in out
    assert "1 failed" in out
    assert "✗ too-long-for-the-server (posts/03-long.yaml:2)" in out


def test_rehearsals_never_touch_the_real_ledger(example: Path) -> None:
    """Rehearsing twice, and beside a ledger in use, leaves the real ledger exactly as it was."""
    ledger_path = example.parent.parent / "data" / "ledger.sqlite3"
    assert main(["--config", str(example), "rehearse"]) == 0
    assert not ledger_path.exists()
    # A ledger in use by a bot (with an open connection).
    Ledger.open(ledger_path, FakeClock(START)).close()
    with sqlite3.connect(ledger_path) as held:
        before = held.execute("select count(*) from occurrences").fetchone()
        assert main(["--config", str(example), "rehearse"]) == 0
        assert main(["--config", str(example), "rehearse"]) == 0
        after = held.execute("select count(*) from occurrences").fetchone()
        events = held.execute("select count(*) from events").fetchone()
    assert before == after == (0,)
    assert events == (0,)


def test_rehearse_from_until_limits_the_window(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--from/--until rehearse only the posts planned inside the window."""
    args = ["--config", str(example), "rehearse", "--from", "2026-12-01 00:00",
            "--until", "2026-12-06 00:00"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "petition-launch" in out and "poll-what-you-use" in out
    assert "weekly-reminder" not in out and "story-warm-space" not in out


@contextmanager
def serving(example: Path, *args: str) -> Iterator[tuple[str, list[str]]]:
    """`rehearse --serve` running in its own process: its web address, and its output so far."""
    bot = started_in_background(
        [sys.executable, "-m", "bot", "--config", str(example), "rehearse", "--serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert bot.stdout is not None
        lines: list[str] = []
        address = ""
        for line in bot.stdout:
            lines.append(line)
            found = re.search(r"browse the campaign at (http://127\.0\.0\.1:\d+)/ ", line)
            if found:
                address = found[1]
                break
        assert address, "no web address printed:\n" + "".join(lines)
        yield address, lines
        bot.send_signal(signal.SIGINT)
        assert bot.wait(timeout=15) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()


def test_serve_keeps_the_sandbox_browsable_until_interrupted(example: Path) -> None:
    """--serve prints the web address; the address and every printed toot address answer;
    each toot carries its planned time; Ctrl-C ends it cleanly."""
    with serving(example, "--from", "2026-11-25 00:00") as (address, lines):
        front = requests.get(f"{address}/", timeout=10)
        assert front.status_code == 200
        assert "localStorage.setItem" in front.text and "/_ui/accounts/" in front.text
        assert requests.get(f"{address}/_ui/", timeout=10).status_code == 200
        timeline = requests.get(f"{address}/api/v1/timelines/public?limit=40", timeout=10).json()
        assert len(timeline) >= 12
        toot_urls = [m[1] for line in lines if (m := re.search(r"→ (http\S+)", line))]
        assert len(toot_urls) == 16  # and the partner's quote (its boost has no page)
        for url in toot_urls:
            page = requests.get(url, timeout=10)
            assert page.status_code == 200, url
            assert f'"{url.rsplit("/", 1)[1]}"' in page.text  # it opens that toot
        # The sandbox dates each toot at its planned time, as the transcript shows it.
        planned = {
            line.split(" · ")[1].split(" ")[0]: line.split("━━ ")[1].split(" · ")[0]
            for line in lines
            if line.startswith("━━ ")
        }
        index = lines.index("Each toot at its planned time:\n")
        assert lines[index + 1 : index + 5] == [
            f"  2026-11-25 12:30 GMT  queued-councillor-letter  {toot_urls[0]}\n",
            f"  2026-11-26 12:30 GMT  queued-volunteer-call  {toot_urls[1]}\n",
            f"  2026-12-01 09:30 GMT  petition-launch  {toot_urls[2]}\n",
            f"  2026-12-01 09:30 GMT  petition-launch (reply 1)  {toot_urls[3]}\n",
        ]
        launch = next(s for s in timeline if s["content"].startswith("<p>Millbrook council"))
        assert planned["petition-launch"] == "2026-12-01 09:30 GMT"
        assert launch["created_at"] == "2026-12-01T09:30:00+00:00"


def test_a_flooding_cron_is_cut_short(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`* * * * *` would publish 1,440 toots a day; the rehearsal stops after the cap, saying
    which post made it stop and why."""
    (example.parent.parent / "posts" / "03-flood.yaml").write_text(
        'posts:\n  - id: flood\n    cron: "* 12 * * *"\n    text: Sign the petition!\n',
        encoding="utf-8",
    )
    args = ["--config", str(example), "rehearse", "--from", "2026-12-20 00:00",
            "--until", "2026-12-31 00:00"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert (
        "flood: the rehearsal stops at 2026-12-21 12:39 GMT, after 100 toots of this post (its "
        "cron '* 12 * * *' fires 60 times an hour) — fix the cron, or choose the window with "
        "--from/--until"
    ) in out
    assert out.count("· flood (") == MAX_REHEARSED_PER_POST


def test_rehearse_starts_now_like_plan(
    example: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """From now by default: a post missed beyond its window is shown as `run` would record it
    (not published, not a failure), and queued posts take the slots `plan` gives them."""
    clock.set(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))  # launch was 09:30, catch_up is 2h
    assert main(["--config", str(example), "plan", "--json", "--offline"]) == 0
    plan = json.loads(capsys.readouterr().out)["occurrences"]
    assert main(["--config", str(example), "rehearse"]) == 0
    out = capsys.readouterr().out
    assert (
        "⏭ petition-launch: not published, as `run` would record it — planned for 2026-12-01 "
        "09:30 GMT, and it is now 2h30m later, past its not_after window (until 2026-12-01 11:30 "
        "GMT)"
    ) in out
    assert "· petition-launch (" not in out
    rehearsed = re.findall(r"━━ (.+?) · (\S+) \(", out)
    assert rehearsed == [(o["local_time"], o["id"]) for o in plan if o["at"] <= rehearsed_end(out)]
    assert "Rehearsal: 11 posts published" in out
    assert "1 past their not_after window and recorded as missed, as `run` would do" in out


def rehearsed_end(out: str) -> str:
    """The end of the rehearsal's window, as an ISO time to compare with `plan --json`."""
    found = re.search(r"Campaign time .+? to (\d{4}-\d\d-\d\d \d\d:\d\d)", out)
    assert found
    return datetime.fromisoformat(found[1]).replace(tzinfo=UTC).isoformat()


def test_rehearse_catches_up_within_the_window(
    example: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """A post still inside its not_after window goes out late, and the transcript says so."""
    clock.set(datetime(2026, 12, 1, 10, 30, tzinfo=UTC))
    assert main(["--config", str(example), "rehearse"]) == 0
    out = capsys.readouterr().out
    assert "━━ 2026-12-01 09:30 GMT · petition-launch (" in out
    assert (
        "⏱ caught up at 2026-12-01 10:30 GMT, 1h late, within its not_after window "
        "(until 2026-12-01 11:30 GMT)"
    ) in out
    assert "1 caught up late, 0 past their not_after window" in out


def test_from_still_picks_another_start(
    example: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Long after the campaign, --from rehearses it from its beginning."""
    clock.set(datetime(2027, 6, 1, 12, 0, tzinfo=UTC))
    assert main(["--config", str(example), "rehearse", "--from", "2026-11-30 00:00"]) == 0
    out = capsys.readouterr().out
    assert "⏭" not in out
    assert out.splitlines()[-1].startswith("Rehearsal: 14 posts published (17 toots")


def test_a_boost_of_a_post_missed_before_the_start_is_shown_skipped(
    example: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried: rehearsing from the day after the launch showed the launch as recorded missed,
    and its partner's boost and quote not at all; `run` records them missed, with the reason."""
    clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    args = ["--config", str(example), "rehearse", "--until", "2026-12-03 00:00"]
    assert main(args) == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if line.startswith("⏭ petition-launch~")]
    assert skipped == [
        f"⏭ petition-launch~{kind}~readers-union: not published, as `run` would record it — "
        "skipped: the post it shares, petition-launch, was never published (missed)"
        for kind in ("boost", "quote")
    ]
    assert "1 past their not_after window and recorded as missed" in out
    assert "  2 boosts and quotes skipped: the post each shares never went out." in out
