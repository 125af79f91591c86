"""A month of publishing in about twenty seconds: thousands of occurrences planned and published
the way the daemon does it (a re-plan every few hours, one run per planned moment), on a fake
clock with the real planner and ledger. Memory must stay flat."""

from __future__ import annotations

import gc
import json
import random
import time
import tracemalloc
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.publishing.publisher import Outcome
from bot.publishing.runner import Runner
from bot.schedule.planner import Occurrence
from bot.service.app import App
from bot.service.daemon import HORIZON
from bot.storage.ledger import Ledger

pytestmark = pytest.mark.slow

START = datetime(2026, 11, 2, tzinfo=ZoneInfo("Europe/London"))
DAYS = 30
ONE_OFF = 3000
# Live Python memory wanders by ~10 KiB between samples; a leak of 40 bytes per occurrence
# would add more than this between the first and the last quarter of the month.
MARGIN = 64 * 1024
# The daemon re-plans every 6 hours and after every edit; once a day keeps the test quick.
REPLAN_EVERY = timedelta(hours=24)


@dataclass
class QuickPublisher:
    """Writes each occurrence to the real ledger as the publisher would, without HTTP."""

    ledger: Ledger
    count: int = 0

    def publish(self, occurrence: Occurrence) -> Outcome:
        key = occurrence.key
        self.ledger.begin_attempt(key, occurrence.post.id, occurrence.planned_at, "h")
        for part in occurrence.post.parts:
            self.ledger.record_part_intent(key, part.index, f"idem-{key}-{part.index}")
            status = f"{self.count}-{part.index}"
            self.ledger.record_part_published(key, part.index, status, f"https://x/{status}")
        self.ledger.mark_published(key)
        self.count += 1
        return Outcome(key, "published")


def write_campaign(root: Path) -> None:
    rng = random.Random(2611)  # noqa: S311 - seeded on purpose: a repeatable campaign
    posts_dir = root / "posts"
    posts_dir.mkdir(parents=True)
    seconds = DAYS * 86400
    one_off = sorted(rng.randrange(60, seconds - 60) for _ in range(ONE_OFF))
    for chunk in range(0, ONE_OFF, 100):
        lines = [
            json.dumps(
                {
                    "id": f"p{n:05}",
                    "at": (START + timedelta(seconds=s)).isoformat(),
                    "text": f"One-off post {n} " + "words " * rng.randrange(5, 40),
                }
            )
            for n, s in enumerate(one_off[chunk : chunk + 100], start=chunk)
        ]
        (posts_dir / f"one-off-{chunk:05}.yaml").write_text(
            "posts:\n" + "".join(f"  - {line}\n" for line in lines)
        )
    first = START.date().isoformat()
    recurring = [
        {"id": "often", "cron": "15 */3 * * *", "from": first, "text": "Every three hours"},
        {
            "id": "morning",
            "cron": "0 8 * * *",
            "from": first,
            "text": "Morning",
            "thread": [{"text": "2"}],
        },
        {"id": "evening", "cron": "0 20 * * mon-fri", "from": first, "text": "Good evening"},
        *({"id": f"queued-{n}", "text": f"Queued post {n}"} for n in range(40)),
    ]
    (posts_dir / "recurring.yaml").write_text(
        "posts:\n" + "".join(f"  - {json.dumps(p)}\n" for p in recurring)
    )
    (root / "bot.yaml").write_text(
        'timezone: "Europe/London"\ncatch_up: "1h"\nslots: ["mon-fri 09:30", "daily 18:00"]\n'
    )


def test_a_month_of_posts_keeps_memory_flat(tmp_path: Path) -> None:
    """Publishing a month of ~3,300 occurrences keeps memory where it was in the first week."""
    write_campaign(tmp_path)
    clock = FakeClock(START)
    settings = load_settings(tmp_path / "bot.yaml", env={})
    campaign = App(settings, clock=clock, env={}).campaign(online=False)
    assert not campaign.errors
    end = START + timedelta(days=DAYS)
    began = time.monotonic()
    samples: list[tuple[datetime, int]] = []
    tracemalloc.start()
    with Ledger.open(settings.ledger_path, clock) as ledger:
        publisher = QuickPublisher(ledger)
        runner = Runner(settings, ledger, clock, publisher)
        while clock.now() < end:
            replan_at = clock.now() + REPLAN_EVERY
            # As the daemon does: plan the horizon, run each occurrence due before the next
            # re-plan at its own moment.
            planned = runner.upcoming(campaign.posts, clock.now() + HORIZON)
            for occurrence in planned:
                if occurrence.planned_at >= min(replan_at, end):
                    break
                clock.set(occurrence.planned_at)
                summary = runner.run([occurrence])
                assert [o.result for o in summary.outcomes] == ["published"]
            del planned
            clock.set(replan_at)
            gc.collect()  # count what is kept, not garbage waiting for the next collection
            samples.append((clock.now(), tracemalloc.get_traced_memory()[0]))
        published = publisher.count
        states = set(ledger.states().values())
    tracemalloc.stop()
    took = time.monotonic() - began

    assert published > 3250
    assert {str(s) for s in states} == {"published"}
    # The first day warms up caches (time zones, compiled expressions, SQLite statements).
    first = [s for s in samples if START + timedelta(days=1) <= s[0]][: len(samples) // 4]
    last = samples[-len(samples) // 4 :]
    before, after = max(size for _, size in first), max(size for _, size in last)
    assert after <= before + MARGIN, f"live memory grew from {before:,} to {after:,} bytes"
    print(f"a month of posts took {took:.1f} s")  # measured, not asserted: see bench/
