"""`campaign-bot calendar --offline` on a generated campaign of 10,000 posts: the wall time of the
command, the size of what it writes, and how soon headless Chromium shows the page.

The campaign spreads over 90 days (about 110 posts a day); every 7th post has a content warning,
every 10th an image and a thread of two replies, every 13th a poll. The command runs as a
subprocess; its CPU time (user + system) and peak RSS come from os.wait4. On a machine shared
with other work the wall time grows with the load; the CPU time shows what the command costs by
itself. The page is then opened from file:// in Debian's chromium through Playwright, several
times: first paint, first contentful paint, DOMContentLoaded and load come from the browser's
own performance timeline.

    python bench/calendar_scale.py [--posts 10000] [--loads 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from bot.calendar.model import Sources
from bot.calendar.site import MediaCopier, SiteOptions, build_page, render_page
from bot.cli.campaign_commands import planned
from bot.config.settings import load_settings
from bot.service.app import App

REPO = Path(__file__).resolve().parent.parent
WORDS = ("library", "petition", "council", "volunteers", "Saturday", "closures", "Millbrook")
START = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
DAYS = 90


def write_campaign(root: Path, size: int, per_file: int = 500) -> None:
    posts = root / "posts"
    (posts / "media").mkdir(parents=True)
    shutil.copy(REPO / "posts" / "media" / "library-shelf.png", posts / "media" / "shelf.png")
    minutes = DAYS * 24 * 60
    for first in range(0, size, per_file):
        lines = []
        for n in range(first, min(size, first + per_file)):
            words = " ".join(WORDS[(n + k) % len(WORDS)] for k in range(30))
            body: dict[str, object] = {
                "id": f"p{n:06}",
                "at": (START + timedelta(minutes=(n * 7919) % minutes)).isoformat(),
                "text": f"Post {n}: {words} https://petition.example.org/p/{n}",
                "hashtags": ["SaveOurLibraries"],
            }
            if n % 7 == 0:
                body["cw"] = "council politics"
            if n % 10 == 0:
                body["media"] = [{"file": "media/shelf.png", "alt": f"Book spines, picture {n}"}]
                body["thread"] = [{"text": "More on this below"}, {"text": "Sign the petition"}]
            elif n % 13 == 0:
                body["poll"] = {"options": ["Yes", "No", "Not sure"]}
            lines.append(json.dumps(body))
        (posts / f"batch-{first // per_file:04}.yaml").write_text(
            "posts:\n" + "".join(f"  - {line}\n" for line in lines)
        )
    (root / "bot.yaml").write_text('timezone: "Europe/London"\nposts_dir: "posts"\n')


def build(root: Path) -> tuple[float, float, int, str]:
    until = (START + timedelta(days=DAYS + 1)).date().isoformat()
    command = [
        sys.executable, "-m", "bot", "--config", str(root / "bot.yaml"), "calendar", "--offline",
        "--out", str(root / "site"), "--from", START.date().isoformat(), "--until", until,
    ]  # fmt: skip
    began = time.monotonic()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    output = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(output)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss, output.strip().splitlines()[-1]


def phases(root: Path) -> dict[str, float]:
    """The same work in this process, step by step: where the command's time goes."""
    took = {}
    began = time.perf_counter()  # wall time: on a busy machine, compare with the CPU time above
    app = App(load_settings(root / "bot.yaml"))
    campaign = app.campaign(online=False)
    took["load and check the posts"] = time.perf_counter() - began
    began = time.perf_counter()
    start, end = START - timedelta(hours=8), START + timedelta(days=DAYS + 1)
    occurrences = planned(app, start, end, online=False, campaign=campaign)
    took["plan"] = time.perf_counter() - began
    began = time.perf_counter()
    options = SiteOptions(
        zone=app.settings.zone,
        start=start,
        end=end,
        generated=start,
        max_characters=500,
        limits_source="defaults",
    )
    sources = Sources(occurrences, {}, campaign.posts, campaign.problems, {})
    page = build_page(sources, options, MediaCopier(root / "phases"))
    took["cards (text to HTML, media, problems, days)"] = time.perf_counter() - began
    began = time.perf_counter()
    render_page(page)
    took["page (Jinja2)"] = time.perf_counter() - began
    return took


def render_times(index: Path, loads: int) -> list[dict[str, float]]:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    args = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
            "--disable-background-networking", "--disable-component-update"]  # fmt: skip
    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=args, chromium_sandbox=False
        )
        for _ in range(loads):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(index.as_uri(), wait_until="load", timeout=120_000)
            found.append(
                page.evaluate(
                    """() => {
                        const nav = performance.getEntriesByType("navigation")[0];
                        const paint = Object.fromEntries(
                            performance.getEntriesByType("paint").map(p => [p.name, p.startTime]));
                        return {
                            first_paint: paint["first-paint"],
                            first_contentful_paint: paint["first-contentful-paint"],
                            dom_content_loaded: nav.domContentLoadedEventEnd,
                            load: nav.loadEventEnd,
                            cards: document.querySelectorAll("article.toot").length,
                        };
                    }"""
                )
            )
            page.close()
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_campaign(root, args.posts)
        wall, cpu, max_rss_kib, last = build(root)
        index = root / "site" / "index.html"
        page_bytes = index.stat().st_size
        media = sum(p.stat().st_size for p in (root / "site" / "media").iterdir())
        print(f"posts: {args.posts:,}")
        print(
            f"calendar command: {wall:.2f} s wall, {cpu:.2f} s CPU (user + system), "
            f"peak RSS {max_rss_kib / 1024:.1f} MB"
        )
        print(f"  {last}")
        print(f"index.html: {page_bytes / 1e6:.2f} MB; media: {media / 1e3:.1f} kB")
        for step, seconds in phases(root).items():
            print(f"  in-process, {step}: {seconds:.2f} s")
        times = render_times(index, args.loads)
        print(f"cards in the DOM: {times[0]['cards']:,}")
        for name in ("first_paint", "first_contentful_paint", "dom_content_loaded", "load"):
            values = [t[name] for t in times]
            print(
                f"{name.replace('_', ' ')}: median {statistics.median(values):.0f} ms "
                f"(runs: {', '.join(f'{v:.0f}' for v in values)})"
            )


if __name__ == "__main__":
    main()
