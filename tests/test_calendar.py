"""`campaign-bot calendar`: the plan as a static page, run in-process through `bot.cli.main`.

The page is parsed with the standard library's HTML parser: what a browser would build from it
(elements, attributes, text) is what these tests assert on. The browser itself is in
test_calendar_browser.py.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from conftest import DEFAULT_CONFIG, REPO, MakeCampaign, started_in_background

from bot.calendar.model import Engagement, Sources, object_position
from bot.calendar.richtext import render_text
from bot.calendar.serve import CalendarServer
from bot.calendar.site import SiteOptions, write_site
from bot.cli import main as cli
from bot.cli.calendar_command import build_calendar
from bot.config.settings import Settings, load_settings
from bot.core.clock import FakeClock
from bot.schedule.planner import Occurrence
from bot.service.app import App
from bot.service.logs import RedactingFilter
from bot.storage.amendments import Amendments
from bot.storage.engagement import Counts, EngagementStore
from bot.storage.ledger import Ledger


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def run(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Run]:
    """Run the command line with the test's clock; give back its exit code and output."""
    monkeypatch.setattr(cli, "App", lambda settings: App(settings, clock=clock, env={}))
    root = logging.getLogger()
    level = root.level

    def invoke(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as stop:
            code = int(stop.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    yield invoke
    for handler in list(root.handlers):
        if any(isinstance(f, RedactingFilter) for f in handler.filters):
            root.removeHandler(handler)
    root.setLevel(level)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    chunks: list[str] = field(default_factory=list)
    parent: Element | None = None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@dataclass
class Page(HTMLParser):
    """Every element with its attributes and the text directly or indirectly inside it."""

    elements: list[Element] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    _open: list[Element] = field(default_factory=list)

    def __post_init__(self) -> None:
        HTMLParser.__init__(self, convert_charrefs=True)

    VOID = frozenset({"meta", "img", "br", "input", "link", "source", "hr"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(
            tag, {k: v or "" for k, v in attrs}, [], self._open[-1] if self._open else None
        )
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        for element in self._open:
            element.chunks.append(data)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        def matches(e: Element) -> bool:
            return e.tag == tag and all(
                e.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items()
            )

        return [e for e in self.elements if matches(e)]

    def with_class(self, name: str) -> list[Element]:
        return [e for e in self.elements if name in e.attrs.get("class", "").split()]

    def within(self, ancestor_id: str, name: str) -> str:
        """The text of the elements of class `name` inside the element with that id."""

        def inside(e: Element | None) -> bool:
            while e is not None:
                if e.attrs.get("id") == ancestor_id:
                    return True
                e = e.parent
            return False

        return " ".join(" ".join(e.text.split()) for e in self.with_class(name) if inside(e))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path


def test_example_calendar_shows_what_plan_shows(example: Path, run: Run) -> None:
    """Every occurrence `plan` lists is a card at its local time, with its state; the weekly
    reminder is expanded and the queued posts sit in the slots `plan` gives them."""
    window = ("--from", "2026-11-20", "--until", "2027-01-20")
    plan = json.loads(run("plan", "--json", *window).out)["occurrences"]
    result = run("calendar", *window)
    assert result.code == 0, result.err
    assert result.out.startswith("Wrote calendar/index.html: 14 posts from 2026-11-20 00:00 GMT")
    page = parse(example / "calendar" / "index.html")
    cards = page.find("article")
    assert [c.attrs["data-key"] for c in cards] == [o["key"] for o in plan]
    assert len([o for o in plan if o["id"] == "weekly-reminder"]) == 6
    for card, occurrence in zip(cards, plan, strict=True):
        when = datetime.fromisoformat(occurrence["at"]).astimezone(UTC)
        times = [e for e in page.find("time") if e.attrs.get("datetime", "")[:2] == "20"]
        assert any(
            datetime.fromisoformat(t.attrs["datetime"]) == when and t.text in card.text
            for t in times
        )
        assert occurrence["local_time"][11:16] in card.text
        assert card.attrs["data-state"] == "planned"
    # The queued posts take the first free weekday 12:30 slots, as `plan` says.
    slots = {o["id"]: o["local_time"] for o in plan if o["id"].startswith("queued")}
    assert slots == {
        "queued-councillor-letter": "2026-11-20 12:30 GMT",
        "queued-volunteer-call": "2026-11-21 10:00 GMT",
    }
    # Each day with posts is a heading of the list, and the grid links every card.
    assert [e.attrs["href"] for e in page.with_class("entry")] == [
        f"#{c.attrs['id']}" for c in cards
    ]
    media = list((example / "calendar" / "media").iterdir())
    assert [m.stat().st_size for m in media] == [6989]
    # A post may go out until its window ends; a boost's window starts when its post went out.
    latest = {c.attrs["data-key"]: "may go out until" in c.text for c in cards}
    assert latest["petition-launch"]
    assert not latest["petition-launch~boost~readers-union"]


def test_example_card_renders_the_toot(example: Path, run: Run) -> None:
    """Links are links, hashtags are hashtags, the image has its alt text and focal point, the
    CW hides the story inside a <details>, the poll lists its options, the thread its replies."""
    run("calendar", "--from", "2026-11-20", "--until", "2026-12-31")
    page = parse(example / "calendar" / "index.html")
    launch = page.find("article", id="post-petition-launch")[0]
    assert "Millbrook council wants to close four" in launch.text
    links = [e.attrs["href"] for e in page.find("a", class_="link")]
    assert "https://petition.example.org/save-millbrook-libraries" in links
    assert "https://council.example.org/find-your-councillor" in links
    tags = [e.text for e in page.with_class("hashtag")]
    assert {"#SaveOurLibraries", "#Millbrook", "#LibrariesMatter"} <= set(tags)
    img = page.find("img")[0]
    assert img.attrs["alt"].startswith("Illustration of six book spines")
    assert img.attrs["src"].startswith("media/") and img.attrs["src"].endswith("library-shelf.png")
    assert "object-position: 50% 45%" in img.attrs["style"]
    alt_badges = [e for e in page.find("details") if "alt" in e.attrs.get("class", "")]
    assert "Illustration of six book spines" in alt_badges[0].text
    assert len(page.find("li", class_="status reply", lang="en")) == 3
    story = page.find("article", id="post-story-warm-space")[0]
    cw = page.find("details", class_="cw")[0]
    assert "open" not in cw.attrs
    assert "mentions poverty and a cold home" in cw.text and "Show more" in cw.text
    assert "Every afternoon this winter" in cw.text
    assert "CW: mentions poverty" in story.text or "mentions poverty" in story.text
    poll = page.find("article", id="post-poll-what-you-use")[0]
    for option in ("Borrowing books", "Computers and wifi", "Kids' activities"):
        assert option in poll.text
    assert "closes 2d after posting" in poll.text
    assert "/500" in launch.text


PAYLOADS = [
    "<script>window.pwned=1</script>",
    '"><img src=x onerror="window.pwned=2">',
    "'><svg onload=window.pwned=3>",
    "</details></article><script>pwned=4</script>",
    "{{ 7*7 }}{% raw %}",
    "javascript:window.pwned=5",
]
INJECTION = """\
posts:
  - id: inject-text
    at: 2026-12-01 10:00
    text: {text}
    cw: {cw}
    hashtags: [Fine]
    media:
      - file: media/shelf.png
        alt: {alt}
    poll:
      options: [{opt}, ok]
  - id: inject-tag
    at: 2026-12-01 11:00
    text: hi
    hashtags: [{tag}]
"""


def test_campaign_text_cannot_inject_markup(make_campaign: MakeCampaign, run: Run) -> None:
    """Text, CW, alt text, poll options, hashtags and file names holding markup or template
    syntax come out as text: no element, attribute or script of theirs reaches the page."""
    for n, payload in enumerate(PAYLOADS):
        quoted = json.dumps(payload)
        body = INJECTION.format(text=quoted, cw=quoted, alt=quoted, opt=quoted, tag=quoted)
        make_campaign(
            {f"{payload.replace('/', '')}-{n}.yaml": body},
            config=DEFAULT_CONFIG + "limits: {poll_with_media: true}\n",
            media={"media/shelf.png": (REPO / "posts/media/library-shelf.png").read_bytes()},
        )
        result = run("calendar", "--from", "2026-11-20", "--until", "2026-12-31")
        assert result.code == 0, result.err
        html = Path("calendar/index.html").read_text(encoding="utf-8")
        page = parse(Path("calendar/index.html"))
        # One script (the page's own), images only from the campaign's media, no handlers.
        assert "inject-text" in [e.attrs.get("data-key") for e in page.find("article")], result
        assert len(page.find("script")) == 1
        assert "pwned" not in page.find("script")[0].text
        assert [e.tag for e in page.elements if e.tag in {"svg", "iframe", "object"}] == []
        assert [e.attrs["src"] for e in page.find("img")] == [page.find("img")[0].attrs["src"]]
        assert page.find("img")[0].attrs["src"].startswith("media/")
        handlers = [(e.tag, k) for e in page.elements for k in e.attrs if k.startswith("on")]
        assert handlers == []
        assert [e for e in page.find("a") if e.attrs["href"].startswith("javascript")] == []
        text = "".join(page.texts)
        assert text.count(payload) >= 3  # text, CW, poll option, as text
        assert page.find("img")[0].attrs["alt"] == payload
        assert "49" not in text
        # The hashtag is refused by validation; its problem is shown, escaped, with its place.
        problems = page.with_class("problems")[0]
        assert f"{payload!r} is not a hashtag" in problems.text
        assert ".yaml:15:" in problems.text
        assert "<script>" not in html.replace("<script>\n// campaign-bot calendar", "")
        for name in Path("posts").glob("*.yaml"):
            name.unlink()


def test_states_and_live_links_from_the_ledger(
    make_campaign: MakeCampaign, run: Run, clock: FakeClock
) -> None:
    """Published links to its status (each reply too), failed shows its error, missed is shown;
    withdrawn are a post taken back (no link to its deleted status) and a post removed from the
    files that was never sent."""
    make_campaign(
        {
            "a.yaml": """\
            posts:
              - id: out
                at: 2026-11-21 09:00
                text: Already out
                thread: [{text: A reply}]
              - id: broke
                at: 2026-11-21 10:00
                text: It broke
              - id: late
                at: 2026-11-21 11:00
                text: Too late
              - id: next
                at: 2026-11-22 09:00
                text: Still to come
              - id: taken-back
                at: 2026-11-21 13:00
                text: Deleted by the operator
            """
        }
    )
    settings = load_settings(Path("config/bot.yaml"))
    zone_time = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    with Ledger.open(settings.ledger_path, clock) as ledger:
        ledger.begin_attempt("out", "out", zone_time, "h")
        for i in (0, 1):
            ledger.record_part_intent("out", i, f"k{i}")
            ledger.record_part_published("out", i, f"{i}1", f"https://m.example/@c/{i}1")
        ledger.mark_published("out")
        ledger.begin_attempt("broke", "broke", zone_time + timedelta(hours=1), "h")
        ledger.mark_failed("broke", "the instance rejected the post (422): too long")
        ledger.mark_missed("late", "late", zone_time + timedelta(hours=2), "past its window")
        ledger.begin_attempt("removed", "removed", zone_time + timedelta(hours=4), "h")
        ledger.mark_pending_after_error("removed", "503")
        back = zone_time + timedelta(hours=4)
        ledger.begin_attempt("taken-back", "taken-back", back, "h")
        ledger.record_part_intent("taken-back", 0, "kb")
        ledger.record_part_published("taken-back", 0, "99", "https://m.example/@c/99")
        ledger.mark_published("taken-back")
        Amendments(ledger, clock).mark_withdrawn("taken-back", "taken-back", back, "by hand")
        ledger.set_meta("account", "campaign 42 on https://m.example")
    clock.set(datetime(2026, 11, 21, 18, 0, tzinfo=UTC))
    assert run("calendar", "--from=-2d").code == 0
    page = parse(Path("calendar/index.html"))
    states = {e.attrs["data-key"]: e.attrs["data-state"] for e in page.find("article")}
    assert states == {
        "out": "published",
        "broke": "failed",
        "late": "missed",
        "removed": "withdrawn",
        "taken-back": "withdrawn",
        "next": "planned",
    }
    out = page.find("article", id="post-out")[0]
    hrefs = [e.attrs["href"] for e in page.find("a", class_="when")]
    assert hrefs == ["https://m.example/@c/01", "https://m.example/@c/11"]
    assert "https://m.example/@c/01" in out.text and "@campaign" in out.text
    assert "too long" in page.find("article", id="post-broke")[0].text
    assert "No longer in the post files" in page.find("article", id="post-removed")[0].text
    # A withdrawn status was deleted from the instance: its card no longer links to it.
    assert "https://m.example/@c/99" not in Path("calendar/index.html").read_text()
    counts = page.find("ul", class_="counts")[0].text.split()
    assert counts[:4] == ["planned", "1", "published", "1"]


def test_warnings_inline_errors_apart(make_campaign: MakeCampaign, run: Run) -> None:
    """A post's warning is on its card with file:line:col; a post with an error is left out of
    the plan and listed with its place at the top."""
    make_campaign(
        {
            "a.yaml": """\
            posts:
              - id: old
                at: 2026-11-19 09:00
                text: In the past
              - id: bad
                at: 2026-11-23 09:00
                text: hi
                visiblity: public
              - id: fine
                at: 2026-11-24 09:00
                text: Fine
            """
        }
    )
    assert run("calendar", "--from=-3d").code == 0
    page = parse(Path("calendar/index.html"))
    assert [e.attrs["data-key"] for e in page.find("article")] == ["old", "fine"]
    old = page.find("article", id="post-old")[0]
    text = " ".join(old.text.split())
    assert "warning posts/a.yaml:2:1 2026-11-19 09:00 GMT is in the past" in text
    assert "Overdue: past its window, so the next run records it as missed" in text
    problems = page.with_class("problems")[0]
    assert "posts/a.yaml:8:5" in problems.text and "unknown key 'visiblity'" in problems.text
    assert page.find("article", id="post-fine")[0].text.count("problem") == 0


def test_text_as_mastodon_shows_it() -> None:
    """Paragraphs and line breaks kept; only links with a scheme become links (as on
    Mastodon); long links are shortened; hashtags link to the instance's tag page."""
    html = render_text(
        "One\ntwo https://www.example.org/a/very/long/path/that/goes/on/and/on\n\n"
        "Three you.38degrees.org.uk/petitions #Tag",
        instance="https://m.example",
    )
    assert str(html) == (
        '<p>One<br>two <a href="https://www.example.org/a/very/long/path/that/goes/on/and/on" '
        'rel="nofollow noopener" class="link">example.org/a/very/long/path/t…</a></p>'
        "<p>Three you.38degrees.org.uk/petitions "
        '<a href="https://m.example/tags/Tag" class="hashtag" rel="nofollow noopener">#Tag</a></p>'
    )


def test_mentions_link_to_their_accounts() -> None:
    """`@user@server` links to the account on its server, `@user` to the instance's; an e-mail
    address is not a mention, and markup in a name stays text."""
    html = str(
        render_text(
            "Thanks @bob@social.example and @alice! Mail team@example.org #Tag @x@y.z<b>",
            instance="https://m.example",
        )
    )
    assert '<a href="https://social.example/@bob" class="mention"' in html
    assert '>@bob@social.example</a> and <a href="https://m.example/@alice"' in html
    assert "Mail team@example.org" in html
    assert "&lt;b&gt;" in html and "<b>" not in html
    assert 'class="hashtag"' in html
    assert '<span class="mention">@alice</span>' in str(render_text("hi @alice"))


def test_focus_point_to_object_position() -> None:
    """Mastodon's focus (x right, y up) becomes CSS's offsets from the top left."""
    assert object_position(None) == "50% 50%"
    assert object_position((0.0, 0.0)) == "50% 50%"
    assert object_position((-1.0, 1.0)) == "0% 0%"
    assert object_position((1.0, -1.0)) == "100% 100%"
    assert object_position((0.5, 0.1)) == "75% 45%"


def test_engagement_of_published_posts(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """With snapshots, a published card shows the latest replies, boosts and favourites."""
    make_campaign({"a.yaml": "posts:\n  - id: a\n    at: 2026-11-20 09:00\n    text: hi\n"})
    settings: Settings = load_settings(Path("config/bot.yaml"))
    app = App(settings, clock=clock, env={})
    post = app.campaign(online=False).posts[0]
    with Ledger.open(settings.ledger_path, clock) as ledger:
        ledger.begin_attempt("a", "a", post.schedule.at or clock.now(), "h")
        ledger.record_part_intent("a", 0, "k")
        ledger.record_part_published("a", 0, "1", "https://m.example/@c/1")
        ledger.mark_published("a")
        records = {r.key: r for r in ledger.all()}
    start = clock.now() - timedelta(days=1)
    occ = Occurrence("a", post, post.schedule.at or start, start, "published")
    seen = Engagement(replies=3, boosts=12, favourites=40, at=clock.now(), quotes=2)
    options = SiteOptions(
        zone=settings.zone,
        start=start,
        end=clock.now(),
        generated=clock.now(),
        max_characters=500,
        limits_source="test",
    )
    write_site(Sources([occ], records, [post], [], {"a": seen}), options, Path("site"))
    card = parse(Path("site/index.html")).find("article")[0]
    assert "3 replies · 12 boosts · 40 favourites · 2 quotes (as of Fri 20 Nov 2026" in " ".join(
        card.text.split()
    )
    write_site(Sources([occ], records, [post], [], {}), options, Path("site"))
    assert "favourites" not in parse(Path("site/index.html")).find("article")[0].text


def test_engagement_from_the_ledgers_snapshots(
    make_campaign: MakeCampaign, run: Run, clock: FakeClock
) -> None:
    """The counts `report` collects are on the published card: the newest snapshot of its first
    status; a status deleted on the instance keeps its last counts, marked as deleted."""
    make_campaign(
        {
            "a.yaml": """\
            posts:
              - id: a
                at: 2026-11-20 09:00
                text: Counted
                thread: [{text: A reply}]
              - id: b
                at: 2026-11-20 10:00
                text: Deleted by a moderator
              - id: c
                at: 2026-11-20 11:00
                text: Not counted yet
            """
        }
    )
    settings = load_settings(Path("config/bot.yaml"))
    with Ledger.open(settings.ledger_path, clock) as ledger:
        for n, key in enumerate("abc"):
            at = datetime(2026, 11, 20, 9 + n, 0, tzinfo=UTC)
            ledger.begin_attempt(key, key, at, "h")
            ledger.record_part_intent(key, 0, f"k{key}")
            ledger.record_part_published(key, 0, f"{n}0", f"https://m.example/@c/{n}0")
            if key == "a":
                ledger.record_part_intent(key, 1, "ka1")
                ledger.record_part_published(key, 1, "01", "https://m.example/@c/01")
            ledger.mark_published(key)
        store = EngagementStore(ledger, clock)
        store.record("00", "a", 0, Counts(favourites=1, boosts=0, replies=0))
        store.record("01", "a", 1, Counts(favourites=99, boosts=99, replies=99))
        store.record("10", "b", 0, Counts(favourites=4, boosts=2, replies=1, quotes=1))
        clock.advance(timedelta(hours=2))
        store.record("00", "a", 0, Counts(favourites=40, boosts=12, replies=3))
        store.record("10", "b", 0, None)
    assert run("calendar", "--from=-1d").code == 0
    page = parse(Path("calendar/index.html"))

    def engagement(key: str) -> str:
        return page.within(f"post-{key}", "engagement")

    assert engagement("a") == (
        "3 replies · 12 boosts · 40 favourites (as of Fri 20 Nov 2026, 14:00 GMT)"
    )
    assert engagement("b") == (
        "1 reply · 2 boosts · 4 favourites · 1 quote "
        "(deleted on the instance; last counted Fri 20 Nov 2026, 14:00 GMT)"
    )
    assert engagement("c") == ""


def test_serve_rebuilds_when_posts_change(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """The server answers on 127.0.0.1 and a change to the posts folder rebuilds the page."""
    files = make_campaign({"a.yaml": "posts:\n  - id: a\n    at: 2026-11-21 09:00\n    text: v1\n"})
    settings = load_settings(files.config)
    app = App(settings, clock=clock, env={})
    out = Path("site")
    start, end = clock.now(), clock.now() + timedelta(days=5)

    def build() -> object:
        return build_calendar(app, start, end, out, online=False)

    build()
    server = CalendarServer(
        out, 0, rebuild=build, watched=lambda: [settings.posts_dir], clock=clock, interval=0.01
    )
    server.start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url, timeout=5) as answer:  # noqa: S310 - loopback
            assert "v1" in answer.read().decode()
        assert server.poll() is False
        files.files["a.yaml"].write_text(
            "posts:\n  - id: a\n    at: 2026-11-21 09:00\n    text: version two\n"
        )
        assert server.poll() is True
        with urllib.request.urlopen(server.url, timeout=5) as answer:  # noqa: S310 - loopback
            assert "version two" in answer.read().decode()
    finally:
        server.stop()


def test_serve_command_serves_rebuilds_and_stops_on_ctrl_c(example: Path) -> None:
    """`calendar --serve --port 0` in its own process: it prints its address on 127.0.0.1, the
    page answers there, an edit of a post file shows up on it, and Ctrl-C ends it with 0."""
    bot = started_in_background(
        [sys.executable, "-m", "bot", "--config", "config/bot.yaml", "calendar", "--serve",
         "--port", "0", "--offline", "--from", "2026-11-20", "--until", "2027-01-20"],
        cwd=example, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert bot.stdout is not None
        lines: list[str] = []
        address = ""
        for line in bot.stdout:
            lines.append(line)
            found = re.search(r"Serving the calendar at (http://127\.0\.0\.1:\d+/) ", line)
            if found:
                address = found[1]
                break
        assert address, "no address printed:\n" + "".join(lines)
        assert lines[0].startswith("Wrote calendar/index.html: 14 posts")
        assert "Millbrook council wants" in requests.get(address, timeout=10).text
        media = requests.get(address + "media/", timeout=10)
        assert media.status_code == 200 and "library-shelf.png" in media.text
        posts = example / "posts" / "02-december.yaml"
        posts.write_text(posts.read_text().replace("What do you use", "What did you borrow"))
        deadline = time.monotonic() + 20
        while "What did you borrow" not in requests.get(address, timeout=10).text:
            assert time.monotonic() < deadline, "not rebuilt within 20 s"
            time.sleep(0.2)
        bot.send_signal(signal.SIGINT)
        assert bot.wait(timeout=15) == 0
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()


def test_what_plan_adds_is_on_the_page(
    make_campaign: MakeCampaign, run: Run, clock: FakeClock
) -> None:
    """As `plan` says them: a published post whose file changed since is flagged on its card,
    and a repeat cut short at the cap says so at the top."""
    make_campaign(
        {
            "a.yaml": """\
            posts:
              - id: out
                at: 2026-11-20 09:00
                text: Edited after it went out
              - id: flood
                cron: "0 * * * *"
                text: Every hour
            """
        }
    )
    settings = load_settings(Path("config/bot.yaml"))
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with Ledger.open(settings.ledger_path, clock) as ledger:
        ledger.begin_attempt("out", "out", at, "the hash of what went out")
        ledger.record_part_intent("out", 0, "k")
        ledger.record_part_published("out", 0, "1", "https://m.example/@c/1")
        ledger.mark_published("out")
    plan = run("plan", "--from=-1d", "--until", "120d")
    assert run("calendar", "--from=-1d", "--until", "120d").code == 0
    page = parse(Path("calendar/index.html"))
    card = " ".join(page.find("article", id="post-out")[0].text.split())
    assert "warning posts/a.yaml:2:1 `out` part 1: changed after publishing" in card
    assert "`out` part 1: changed after publishing" in plan.out
    note = " ".join(page.with_class("notes")[0].text.split())
    assert note.startswith("Not all shown flood: only its first")
    assert note.split("Not all shown ")[1] in plan.err


def test_serve_on_a_busy_port_says_so(example: Path, run: Run) -> None:
    """A port already taken is one clear line and exit 1, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("calendar", "--serve", "--port", str(port), "--offline")
    assert result.code == 1
    assert result.err == (
        f"campaign-bot: cannot serve on 127.0.0.1:{port}: Address already in use; "
        "pick another port with --port N (0 takes any free one)\n"
    )
