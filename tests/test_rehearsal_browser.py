"""`rehearse --serve` as a campaigner sees it: in headless Chromium, the printed address opens
straight onto the campaign account's timeline, and each printed toot address onto that toot."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_rehearsal
from playwright.sync_api import Browser, expect, sync_playwright
from test_calendar_browser import CHROMIUM_ARGS, _missing
from test_rehearsal import serving

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

example = test_rehearsal.example


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _missing("chromium", "apt-get install chromium, as .ci/run does")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, chromium_sandbox=False, headless=True
        )
        yield launched
        launched.close()


def test_serve_opens_on_the_campaign_timeline(example: Path, chromium: Browser) -> None:
    with serving(example, "--from", "2026-11-25 00:00") as (address, lines):
        page = chromium.new_page()
        page.goto(f"{address}/")
        page.wait_for_url(re.compile(r".*/_ui/accounts/\d+$"), timeout=15_000)
        expect(page.get_by_role("heading", name="Campaign rehearsal")).to_be_visible()
        expect(page.get_by_text("Weekly reminder: the council decides").first).to_be_visible()
        assert page.get_by_text("access token", exact=False).count() == 0  # no sign-in form

        launch = next(i for i, line in enumerate(lines) if "· petition-launch (" in line)
        toot = next(m for line in lines[launch:] if (m := re.search(r"→ (http\S+/(\d+)) ", line)))
        page.goto(toot[1])
        page.wait_for_url(re.compile(rf".*/_ui/statuses/{toot[2]}$"), timeout=15_000)
        expect(page.get_by_text("Millbrook council wants to close four").first).to_be_visible()
        page.close()
