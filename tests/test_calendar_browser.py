"""The calendar page in a real browser: headless Chromium (Debian's `chromium`), driven through
Playwright, with axe-core (from npm, in tests/browser/) checking accessibility.

The page is opened from `file://`, as a campaigner opening it from disk would. These tests fail,
not skip, when Chromium or axe-core is missing in CI (`CI=true`); `.ci/run` installs both.
They save the README's screenshots to docs/.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, MakeCampaign
from playwright.sync_api import Browser, Page, sync_playwright

from bot.calendar.model import anchor_for
from bot.cli.calendar_command import build_calendar
from bot.cli.campaign_commands import planned
from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.schedule.planner import Occurrence
from bot.service.app import App
from bot.storage.ledger import Ledger

pytestmark = pytest.mark.slow

AXE = REPO / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
DOCS = REPO / "docs"
IN_CI = os.environ.get("CI", "").lower() == "true"
# Chromium as root in a container: no sandbox, nothing fetched in the background.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}


def _missing(what: str, how: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is missing in CI: {how}", pytrace=False)
    pytest.skip(f"{what} is not installed here ({how}); CI runs these tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _missing("chromium", "apt-get install chromium, as .ci/run does")
    if not AXE.exists():
        _missing("axe-core", "cd tests/browser && npm ci, as .ci/run does")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, chromium_sandbox=False, headless=True
        )
        yield launched
        launched.close()


def open_page(browser: Browser, index: Path, viewport: dict[str, int]) -> tuple[Page, list[str]]:
    """The page, and a list that collects its script errors, dialogs and requests for anything
    outside its folder (there should be none)."""
    page = browser.new_page(viewport=viewport, reduced_motion="reduce")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    # Self-contained: everything the page loads comes from its own folder.
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(index.parent.as_uri() + "/")
            else errors.append(f"fetched {request.url}")
        ),
    )
    page.goto(index.as_uri())
    page.wait_for_load_state("load")
    return page, errors


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is now."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in {"serious", "critical"}]


def placed(page: Page) -> dict[str, dict[str, str]]:
    """Each card's key, state, the day of the list it is under and its time; and, from the
    grid, the month and day of the cell linking to it."""
    rows: list[dict[str, str]] = page.evaluate(
        """() => [...document.querySelectorAll("article.toot")].map(card => {
            const day = card.closest("section.day").querySelector("h3");
            // A busy day's cell links its first posts, and the rest through "N more".
            const link = document.querySelector(`a.entry[href="#${card.id}"]`)
                || document.querySelector(`a.more[href="#${day.id}"]`);
            const cell = link ? link.closest("td") : null;
            return {
                key: card.dataset.key,
                state: card.dataset.state,
                day: day.querySelector("time").getAttribute("datetime"),
                at: card.querySelector(".card-title time").getAttribute("datetime"),
                shown: card.querySelector(".card-title time").textContent,
                month: cell ? cell.closest("section.month").id : "",
                cell: cell ? cell.querySelector(".daynum").textContent : "",
            };
        })"""
    )
    return {row["key"]: row for row in rows}


def assert_every_occurrence_in_place(page: Page, occurrences: list[Occurrence], zone: Any) -> None:
    cards = placed(page)
    assert list(cards) == [o.key for o in occurrences]
    for o in occurrences:
        local = o.planned_at.astimezone(zone)
        card = cards[o.key]
        assert datetime.fromisoformat(card["at"]) == o.planned_at
        assert card["day"] == local.date().isoformat()
        assert card["shown"] == local.strftime("%H:%M %Z")
        assert (card["month"], card["cell"]) == (f"m-{local:%Y-%m}", str(local.day))


def built(root: Path, clock: FakeClock, start: datetime, end: datetime) -> tuple[App, Path]:
    app = App(load_settings(root / "config" / "bot.yaml"), clock=clock, env={})
    build_calendar(app, start, end, root / "site", online=False)
    return app, root / "site" / "index.html"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path


def test_example_campaign_in_chromium(browser: Browser, example: Path) -> None:
    """The example campaign, the launch already published: every post at its day and time in
    the list and the grid, the CW hidden until its toggle is used from the keyboard, the alt text
    revealed by its ALT badge, live links on the published toot and its replies, visible focus,
    and no serious or critical axe-core violation, wide, narrow, and with everything opened.
    Saves the README's screenshots."""
    clock = FakeClock(datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    settings = load_settings(example / "config" / "bot.yaml")
    launch = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    urls = [f"https://mastodon.example/@campaign/11350000{i}" for i in range(4)]
    with Ledger.open(settings.ledger_path, clock) as ledger:
        ledger.begin_attempt("petition-launch", "petition-launch", launch, "h")
        for i, url in enumerate(urls):
            ledger.record_part_intent("petition-launch", i, f"key-{i}")
            ledger.record_part_published("petition-launch", i, url.rsplit("/", 1)[1], url)
        ledger.mark_published("petition-launch")
        ledger.set_meta("account", "savemillbrook 1 on https://mastodon.example")
    start, end = datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 20, tzinfo=UTC)
    app, index = built(example, clock, start, end)
    occurrences = planned(app, start, end, online=False)
    assert len(occurrences) == 14  # 12 posts, and a partner's boost and quote of the launch

    page, errors = open_page(browser, index, WIDE)
    assert_every_occurrence_in_place(page, occurrences, settings.zone)
    assert placed(page)["petition-launch"]["state"] == "published"
    links = page.eval_on_selector_all(
        f"#{anchor_for('petition-launch')} a.when", "els => els.map(e => e.href)"
    )
    assert links == urls

    # The first Tab shows the skip link, with a visible focus outline.
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return [e.className, s.outlineStyle, e.getBoundingClientRect().top]; }"
    )
    assert focused[0] == "skip" and focused[1] != "none" and focused[2] >= 0

    story = page.locator(f"#{anchor_for('story-warm-space')}")
    hidden_text = story.get_by_text("Every afternoon this winter")
    assert story.get_by_text("mentions poverty and a cold home").is_visible()
    assert not hidden_text.is_visible()
    story.locator("details.cw > summary").focus()
    page.keyboard.press("Enter")
    assert hidden_text.is_visible()
    assert story.get_by_text("Show less").is_visible()

    card = page.locator(f"#{anchor_for('petition-launch')}")
    image = card.locator("img").first
    image.scroll_into_view_if_needed()
    alt = image.get_attribute("alt") or ""
    assert alt.startswith("Illustration of six book spines")
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert image.evaluate("img => getComputedStyle(img).objectPosition") == "50% 45%"
    badge = card.locator("details.alt")
    assert not badge.locator("p").is_visible()
    badge.locator("summary").focus()
    page.keyboard.press("Enter")
    assert badge.locator("p").inner_text() == alt
    assert errors == []

    page.evaluate("() => { document.activeElement.blur(); window.scrollTo(0, 0); }")
    page.evaluate("() => document.querySelectorAll('details[open]').forEach(d => d.open = false)")
    image.evaluate("img => img.decode()")
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "calendar.png"))
    assert axe_violations(page) == []
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    assert axe_violations(page) == []
    page.close()

    narrow, _ = open_page(browser, index, NARROW)
    assert not narrow.locator("section.grid").is_visible()
    assert narrow.locator(f"#{anchor_for('weekly-reminder@2026-12-06T12:00:00Z')}").count() == 1
    # Images load lazily: wait for those the screenshot shows, not for ones further down.
    narrow.wait_for_function(
        "() => [...document.images]"
        ".filter(i => i.getBoundingClientRect().top < innerHeight).every(i => i.complete)"
    )
    narrow.screenshot(path=str(DOCS / "calendar-narrow.png"))
    assert narrow.evaluate("() => document.documentElement.scrollWidth") <= NARROW["width"]
    assert axe_violations(narrow) == []
    narrow.close()


PAYLOADS = [
    "<script>window.pwned=1</script>",
    '"><img src=x onerror="window.pwned=2">',
    "'><svg onload=window.pwned=3>",
    "</details></article><script>pwned=4</script>",
]


def test_injected_markup_stays_inert_in_chromium(
    browser: Browser, make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    """Markup in text, CW, alt text and poll options runs nothing and adds no element, with
    every toggle opened; each payload is shown as the text it is."""
    body = "posts:\n"
    for n, payload in enumerate(PAYLOADS):
        quoted = json.dumps(payload)
        body += (
            f"  - id: p{n}\n    at: 2026-11-21 1{n}:00\n    text: {quoted}\n    cw: {quoted}\n"
            f"    media: [{{file: m.png, alt: {quoted}}}]\n"
            f"    thread: [{{text: {quoted}, poll: {{options: [{quoted}, fine]}}}}]\n"
        )
    files = make_campaign(
        {"a.yaml": body}, media={"m.png": (REPO / "posts/media/library-shelf.png").read_bytes()}
    )
    _, index = built(files.root, clock, clock.now(), clock.now() + timedelta(days=3))
    page, errors = open_page(browser, index, WIDE)
    assert page.locator("article.toot").count() == len(PAYLOADS)
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.pwned") is None
    assert errors == []
    assert page.locator("script").count() == 1
    assert page.locator("svg").count() == 0
    assert page.locator("img").count() == len(PAYLOADS)
    text = page.locator("main").text_content() or ""
    for payload in PAYLOADS:
        assert text.count(payload) >= 3  # the CW, the text, the reply and its poll option
    page.close()


def thousand_posts() -> dict[str, str]:
    """1,000 posts in 10 files: one-offs across two months, every 7th with a CW, every 10th
    with an image, every 13th with a poll (unless it has the image), every 9th with a reply;
    3 repeating, 20 queued."""
    files = {}
    for f in range(10):
        lines = ["posts:"]
        for i in range(f * 100, f * 100 + 100):
            lines.append(f"  - id: post-{i:04d}")
            if i < 20:
                pass  # queued for a slot
            elif i < 23:
                lines += [f'    cron: "{i % 60} 9 * * {("mon", "wed", "fri")[i % 3]}"']
            else:
                day = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(days=i % 60, hours=7 + i % 13)
                lines.append(f"    at: {day:%Y-%m-%d} {day.hour:02d}:{(i * 7) % 60:02d}")
            lines.append(f"    text: Post {i} of the campaign, with a link https://example.org/{i}")
            if i % 7 == 0:
                lines.append(f"    cw: warning {i}")
            if i % 10 == 0:
                lines += ["    media:", "      - file: m.png", f"        alt: Picture {i}"]
            if i % 13 == 0 and i % 10:
                lines.append("    poll: {options: [Yes, No]}")
            if i % 9 == 0:
                lines.append(f"    thread: [{{text: Reply to {i}}}]")
        files[f"f{f}.yaml"] = "\n".join(lines) + "\n"
    return files


def test_thousand_posts_in_chromium(
    browser: Browser, make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    """A generated 1,000-post campaign: every occurrence `plan` has is on the page at its day
    and time, in the list and in the grid, and axe-core finds nothing serious or critical."""
    files = make_campaign(
        thousand_posts(),
        media={"m.png": (REPO / "posts/media/library-shelf.png").read_bytes()},
    )
    start, end = datetime(2026, 11, 20, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)
    app, index = built(files.root, clock, start, end)
    campaign = app.campaign(online=False)
    assert (len(campaign.posts), campaign.errors) == (1000, [])
    occurrences = planned(app, start, end, online=False)
    assert len(occurrences) > 1000
    page, errors = open_page(browser, index, WIDE)
    assert_every_occurrence_in_place(page, occurrences, app.settings.zone)
    hidden = page.locator("details.cw .content").first
    assert not hidden.is_visible()
    assert axe_violations(page) == []
    assert errors == []
    page.close()


def test_every_state_and_problem_is_accessible(
    browser: Browser, make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    """A page with every state, sensitive media, a warning on a card and an error at the top:
    axe-core finds nothing serious or critical, wide and narrow, toggles closed and open;
    the state buttons hide and show the cards of a state."""
    image = {"m.png": (REPO / "posts/media/library-shelf.png").read_bytes()}
    files = make_campaign(
        {
            "a.yaml": """\
            posts:
              - id: out
                at: 2026-11-21 09:00
                text: Already out
              - id: broke
                at: 2026-11-21 10:00
                text: It broke
              - id: late
                at: 2026-11-21 11:00
                text: Too late
              - id: old
                at: 2026-11-19 09:00
                text: Never sent, in the past
              - id: blurred
                at: 2026-11-22 09:00
                text: Sensitive picture
                sensitive: true
                media: [{file: m.png, alt: A shelf, focus: [-0.5, 0.5]}]
              - id: bad
                at: 2026-11-23 09:00
                text: hi
                visiblity: public
            """
        },
        media=image,
    )
    settings = load_settings(files.config)
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    with Ledger.open(settings.ledger_path, clock) as ledger:
        ledger.begin_attempt("out", "out", at, "h")
        ledger.record_part_intent("out", 0, "k")
        ledger.record_part_published("out", 0, "1", "https://m.example/@c/1")
        ledger.mark_published("out")
        ledger.begin_attempt("broke", "broke", at + timedelta(hours=1), "h")
        ledger.mark_failed("broke", "the instance rejected the post (422): too long")
        ledger.mark_missed("late", "late", at + timedelta(hours=2), "past its window")
        ledger.begin_attempt("gone", "gone", at + timedelta(hours=3), "h")
        ledger.mark_pending_after_error("gone", "503")
    clock.set(datetime(2026, 11, 21, 18, 0, tzinfo=UTC))
    start, end = clock.now() - timedelta(days=3), clock.now() + timedelta(days=10)
    _, index = built(files.root, clock, start, end)
    for viewport in (WIDE, NARROW):
        page, errors = open_page(browser, index, viewport)
        states = page.eval_on_selector_all("article.toot", "els => els.map(e => e.dataset.state)")
        assert {"planned", "published", "failed", "missed", "withdrawn"} <= set(states)
        assert page.locator(".problems").is_visible()
        assert axe_violations(page) == []
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        assert axe_violations(page) == []
        failed = page.locator("article.toot.state-failed")
        page.locator("button.filter[data-state=failed]").click()
        assert not failed.is_visible()
        assert page.locator("button.filter[data-state=failed]").get_attribute("aria-pressed") == (
            "false"
        )
        page.locator("button.filter[data-state=failed]").press("Enter")
        assert failed.is_visible()
        assert errors == []
        page.close()
