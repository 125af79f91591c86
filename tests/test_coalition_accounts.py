"""A coalition's accounts kept apart where the instances keep them apart: each account's pacing
counts only that account's statuses and uploads."""

from __future__ import annotations

import json
from datetime import timedelta

from conftest import MakeCampaign
from test_cli_campaign import Run, run
from test_coalition_validate import ACCOUNTS
from test_runner import NOW, World, world

from bot.config.settings import load_settings
from bot.core.clock import FakeClock
from bot.service.app import App
from bot.storage.ledger import Ledger
from bot.storage.media import record_upload

__all__ = ["run", "world"]  # the fixtures, used by name
BURST = 280  # over 90% of Mastodon's 300 statuses per 3 hours


def partner_burst_campaign(make_campaign: MakeCampaign) -> App:
    posts = "posts:\n" + "".join(
        f"  - {{id: burst-{i}, account: partner, at: 2026-11-30 09:00, text: Burst {i}}}\n"
        for i in range(BURST)
    )
    posts += "  - {id: lead-post, at: 2026-12-01 09:30, text: The lead's own post}\n"
    files = make_campaign({"a.yaml": posts}, config=ACCOUNTS)
    return App(load_settings(files.config, env={}), env={}, durable_ledger=False)


def publish(
    ledger: Ledger, clock: FakeClock, key: str, status_id: str, post_id: str | None = None
) -> None:
    ledger.begin_attempt(key, post_id or key, clock.now(), "h")
    ledger.record_part_intent(key, 0, f"key-{key}")
    ledger.record_part_published(key, 0, status_id, f"https://partner.example/@p/{status_id}")
    ledger.mark_published(key)


def test_one_accounts_burst_does_not_slow_another(
    make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    """The partner published 280 statuses and uploaded 30 images in the last half hour: its own
    next status and upload wait for the instance's windows; the lead's go at once."""
    app = partner_burst_campaign(make_campaign)
    app.clock = clock
    with app.ledger() as ledger:
        for i in range(BURST):
            publish(ledger, clock, f"burst-{i}", str(1000 + i))
            if i < 30:
                record_upload(ledger, f"burst-{i}", 0, 0, str(5000 + i))
            clock.advance(timedelta(seconds=5))
        partner = app.pacer(ledger, "partner")
        lead = app.pacer(ledger, "lead")
        default = app.pacer(ledger)
        assert partner.delay("status") > 0
        assert partner.delay("media") > 0
        assert lead.delay("status") == 0 and lead.delay("media") == 0
        assert default.delay("status") == 0 and default.delay("media") == 0

        # The lead's own posts count for the lead, and only for it.
        for i in range(BURST):
            publish(ledger, clock, f"lead-post@{i}", str(9000 + i), "lead-post")
        assert app.pacer(ledger, "lead").delay("status") > 0
        assert app.pacer(ledger, "ally").delay("status") == 0


JOINT = """\
posts:
  - id: joint
    at: 2026-12-02 10:00
    accounts: [lead, partner]
    stagger: 10m
    text: Our joint statement to the council
    boost: {by: [ally], after: 5m}
    quote:
      - {by: ally, after: 15m, text: We stand with them.}
"""


def test_boosts_and_quotes_follow_the_first_accounts_copy_only(
    make_campaign: MakeCampaign, run: Run
) -> None:
    """A post from several accounts is boosted and quoted once, in the copy of the first listed
    account (boosting every copy would repeat the message); `plan` says so."""
    files = make_campaign({"a.yaml": JOINT}, config=ACCOUNTS)
    result = run("--config", str(files.config), "plan", "--offline", "--from", "2026-12-02")
    assert result.code == 0, result.err
    follow_lines = [line.split("  ↳ ", 1)[1] for line in result.out.splitlines() if "↳" in line]
    note = "(of @lead's copy only, not @partner's; skipped if that copy never goes out)"
    assert follow_lines == [
        f"boost of joint~lead, 5m after it goes out {note}",
        f"quote of joint~lead, 15m after it goes out {note}",
    ]
    assert "joint~partner~" not in result.out

    as_json = run(
        "--config", str(files.config), "plan", "--offline", "--json", "--from", "2026-12-02"
    )
    rows = json.loads(as_json.out)["occurrences"]
    follows = {r["key"]: r["follows"] for r in rows if r["follows"]}
    assert follows == {
        "joint~lead~boost~ally": {
            "kind": "boost",
            "of": "joint~lead",
            "of_account": "lead",
            "copies": ["lead", "partner"],
            "after": "5m",
        },
        "joint~lead~quote~ally": {
            "kind": "quote",
            "of": "joint~lead",
            "of_account": "lead",
            "copies": ["lead", "partner"],
            "after": "15m",
        },
    }


STAGGERED = """\
posts:
  - id: weekly
    cron: "0 12 * * sun"
    from: 2026-12-01
    accounts: [lead, partner, ally]
    stagger: 10m
    text: Every Sunday, the campaign's weekly reminder
  - id: queued
    accounts: [lead, partner]
    stagger: 15m
    text: Waiting for a slot, from two accounts
  - id: queued-too
    text: Waiting for the next slot
"""


def test_stagger_works_with_cron_and_slots(make_campaign: MakeCampaign, run: Run) -> None:
    """`stagger` with `cron:`: each account's copy goes out `stagger` after the one before it, at
    every cron time. With a slot: the first copy takes the slot, the others follow it `stagger`
    apart, without taking slots of their own."""
    files = make_campaign({"a.yaml": STAGGERED}, config=ACCOUNTS)
    result = run(
        "--config", str(files.config), "plan", "--offline", "--json",
        "--from", "2026-11-20", "--until", "2026-12-08",
    )  # fmt: skip
    assert result.code == 0, result.out + result.err
    rows = json.loads(result.out)["occurrences"]
    assert [(r["key"], r["local_time"], r["account"]) for r in rows] == [
        ("queued~lead", "2026-11-20 12:30 GMT", "lead"),  # a Friday
        ("queued~partner", "2026-11-20 12:45 GMT", "partner"),
        ("queued-too", "2026-11-23 12:30 GMT", "lead"),  # the next slot: Monday
        ("weekly~lead@2026-12-06T12:00:00Z", "2026-12-06 12:00 GMT", "lead"),
        ("weekly~partner@2026-12-06T12:10:00Z", "2026-12-06 12:10 GMT", "partner"),
        ("weekly~ally@2026-12-06T12:20:00Z", "2026-12-06 12:20 GMT", "ally"),
    ]
    assert run("--config", str(files.config), "validate", "--offline").code == 0


def test_staggered_cron_and_slot_copies_go_out_at_their_times(world: World) -> None:
    """What `plan` shows is what `run` does: each copy at its own staggered moment."""
    world.config.update(
        accounts={name: {"instance": f"https://{name}.example"} for name in ("lead", "partner")},
        default_account="lead",
        slots=["daily 14:30"],  # 13:30 UTC in June
    )
    world.write(
        [
            {"id": "tick", "cron": "0 14 * * *", "accounts": ["lead", "partner"], "stagger": "10m"},
            {"id": "queued", "accounts": ["lead", "partner"], "stagger": "15m"},
        ]
    )
    runner, publisher = world.runner()
    posts = world.posts()
    for minutes in range(0, 120, 5):
        world.clock.set(NOW + timedelta(minutes=minutes))
        runner.run_due(posts)
    assert [(key, f"{at:%H:%M}") for key, at in publisher.sent] == [
        ("tick~lead@2026-06-10T13:00:00Z", "13:00"),
        ("tick~partner@2026-06-10T13:10:00Z", "13:10"),
        ("queued~lead", "13:30"),
        ("queued~partner", "13:45"),
    ]


def test_plan_says_a_boost_of_a_missed_post_is_skipped(
    make_campaign: MakeCampaign, run: Run
) -> None:
    """`plan` shows what `run` would do: the post is past its window, so `run` records it
    missed and skips its boost; the boost's own time does not make it "caught up"."""
    past = (
        "posts:\n  - id: launch\n    at: 2026-11-18 09:30\n    text: The launch\n"
        "    boost: {by: [partner], after: 10m}\n"
    )
    files = make_campaign({"a.yaml": past}, config=ACCOUNTS)
    as_json = run("--config", str(files.config), "plan", "--offline", "--json", "--from", "-3d")
    found = json.loads(as_json.out)["occurrences"]
    rows = {r["key"]: r["run_would"] for r in found}
    assert rows == {"launch": "miss", "launch~boost~partner": "skip"}
    # A boost's window starts when its post went out, so plan gives it no deadline of its own.
    assert [r["deadline"] for r in found] == ["2026-11-18T10:30:00+00:00", None]
    text = run("--config", str(files.config), "plan", "--offline", "--from", "-3d").out
    boost = next(line for line in text.splitlines() if "↳ boost of launch" in line)
    assert boost.endswith("[due: is skipped: the post it shares never goes out]")
