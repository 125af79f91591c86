"""`campaign-bot rehearse`: the whole campaign published to a local sandbox, in seconds.

A mastodon_mock server on 127.0.0.1 stands in for the instance, a temporary ledger for the real
one, and a virtual clock jumps from one planned moment to the next. Planning, publishing, media
upload, threads and idempotency are the very code `run` uses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.config.settings import TOKEN_ENV, Settings, token_env_name
from bot.core.clock import FakeClock
from bot.core.errors import CampaignBotError
from bot.core.posts import CampaignPost
from bot.core.states import Result, State
from bot.core.timespec import format_duration, to_zone
from bot.core.words import counted
from bot.mastodon.types import RemoteStatus
from bot.schedule.followups import only_copy
from bot.schedule.planner import Occurrence, capped, plan
from bot.service.app import App
from bot.service.sandbox_server import TootDates, sandbox_server

logger = logging.getLogger(__name__)

SANDBOX_ACCOUNT = "campaign"
DEFAULT_SPAN = timedelta(days=60)
# Each rehearsed toot is really published to the sandbox: a recurring post gets this many at most.
MAX_REHEARSED_PER_POST = 100


@dataclass
class Sandbox:
    server: Any  # a mastodon_mock MockServer
    token: str
    workdir: Path
    # The token of each further account of a coalition campaign, by account name.
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return str(self.server.base_url)


@contextmanager
def sandbox(
    display_name: str = "Campaign rehearsal", others: Sequence[str] = ()
) -> Iterator[Sandbox]:
    """A fresh mastodon_mock instance, in a temporary folder, with the campaign's account and
    one more local account (with its token) for each of `others`."""
    try:
        from mastodon_mock.config import (
            DatabaseConfig,
            MastodonMockConfig,
            SeedAccount,
            SeedConfig,
        )
        from mastodon_mock.testing import MockServer  # noqa: F401  (the sandbox server's base)
    except ImportError as exc:
        raise CampaignBotError(
            "the sandbox needs the `sandbox` extra: pip install 'campaign-bot[sandbox]'"
        ) from exc
    token = secrets.token_urlsafe(24)
    tokens = {name: secrets.token_urlsafe(24) for name in others}
    with tempfile.TemporaryDirectory(prefix="campaign-bot-rehearsal-") as tmp:
        workdir = Path(tmp)
        config = MastodonMockConfig(
            title="campaign-bot rehearsal sandbox",
            database=DatabaseConfig(path=str(workdir / "sandbox.sqlite3")),
            media_storage_path=str(workdir / "media"),
            seed=SeedConfig(
                accounts=[
                    SeedAccount(
                        username=SANDBOX_ACCOUNT, display_name=display_name, access_token=token
                    ),
                    *(
                        SeedAccount(
                            username=sandbox_username(name), display_name=name, access_token=key
                        )
                        for name, key in tokens.items()
                    ),
                ]
            ),
        )
        server = sandbox_server(config, SANDBOX_ACCOUNT, token)
        try:
            # Status URLs should point at this sandbox, not at the mock's default domain.
            server.config.domain = server.base_url.split("//", 1)[1]
            server.config.url_scheme = "http"
            yield Sandbox(server, token, workdir, tokens)
        finally:
            server.stop()


def sandbox_username(account: str) -> str:
    """A further account's username on the sandbox (usernames take no `-`)."""
    return account.replace("-", "_")[:30]


@dataclass
class Rehearsal:
    published: list[tuple[Occurrence, list[RemoteStatus]]] = field(default_factory=list)
    failed: list[tuple[Occurrence, str]] = field(default_factory=list)
    missed: list[tuple[str, str]] = field(default_factory=list)
    # Planned before the rehearsal's start and past their not_after window: `run` starting then
    # would record them as missed too, so they are part of the story, not a failure.
    past: list[tuple[str, str]] = field(default_factory=list)
    # Boosts and quotes of a post that never went out.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    caught_up: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missed


def rehearsal_window(
    posts: Sequence[CampaignPost], now: datetime, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """By default from now, as `plan` and `run` see the campaign, to its last dated post (or
    60 days on). What was planned before the start is handled as `run` would handle it then."""
    dated = [p.schedule.at for p in posts if p.schedule.at is not None]
    first = start or now
    last = end or max([first + DEFAULT_SPAN, *dated])
    return first, last


def capped_end(
    settings: Settings,
    posts: Sequence[CampaignPost],
    start: datetime,
    end: datetime,
    limit: int = MAX_REHEARSED_PER_POST,
) -> tuple[datetime, list[CampaignPost]]:
    """Where the rehearsal stops so that no recurring post is published more than `limit`
    times (a cron typo such as `* * * * *` would be 1,440 toots a day), and the posts that
    made it stop early."""
    found = plan(
        posts,
        ledger={},
        now=start,
        start=start,
        end=end,
        zone=settings.zone,
        slots=settings.slots,
        catch_up=settings.catch_up,
        limit_per_post=limit,
    )
    over = capped(found, limit)
    if not over:
        return end, []
    cut = min(max(o.planned_at for o in found if o.post.id == post_id) for post_id in over)
    return cut, [p for p in posts if p.id in over]


def rehearse(
    settings: Settings,
    posts: Sequence[CampaignPost],
    box: Sandbox,
    *,
    start: datetime,
    end: datetime,
    out: TextIO,
) -> Rehearsal:
    clock = FakeClock(start)
    local = dataclasses.replace(
        settings,
        instance=box.base_url,
        data_dir=box.workdir / "data",
        access_token_file=None,
        idempotency_keys="honoured",
        # Every account of a coalition campaign is on the sandbox, with its own token.
        accounts={
            name: dataclasses.replace(account, instance=box.base_url, access_token_file=None)
            for name, account in settings.accounts.items()
        },
    )
    env = {TOKEN_ENV: box.token, **{token_env_name(n): t for n, t in box.tokens.items()}}
    app = App(local, clock=clock, env=env, media_poll_interval=0.5, durable_ledger=False)
    result = Rehearsal()
    answered: dict[str, RemoteStatus] = {}
    dates = TootDates(box.workdir / "sandbox.sqlite3")
    with app.ledger() as ledger, contextlib.closing(dates):
        connection = app.connect(ledger, on_status=lambda s: answered.__setitem__(s.id, s))
        runner = app.runner(ledger, connection.publisher)
        # Planned once: the clock only moves forward to each planned moment, and what goes out
        # there is exactly what `run` would find due then. At the start that includes what was
        # planned before it: caught up or missed, as `run` starting at that moment would do.
        due = runner.upcoming(posts, end)
        for moment, group in itertools.groupby(due, key=lambda o: o.planned_at):
            clock.set(max(clock.now(), moment))
            now = clock.now()
            occurrences = list(group)
            summary = runner.run(occurrences)
            by_key = {o.key: o for o in occurrences}
            # A boost or quote waits for its moment after the post really went out.
            for _ in range(10):
                waiting = [
                    o
                    for o in summary.outcomes
                    if o.result in {Result.DEFERRED, Result.NOT_SENT}
                    and o.retry_at
                    and by_key[o.key].post.follows
                ]
                if not waiting:
                    break
                clock.set(max(clock.now(), *(w.retry_at for w in waiting if w.retry_at)))
                again = runner.run([by_key[w.key] for w in waiting])
                summary.outcomes = [o for o in summary.outcomes if o not in waiting]
                summary.outcomes += again.outcomes
            # A boost or quote of a post that never went out is recorded missed, as `run` does.
            for outcome in summary.outcomes:
                record = ledger.get(outcome.key) if outcome.result is Result.NOT_SENT else None
                if record is not None and record.state is State.MISSED:
                    result.skipped.append((outcome.key, outcome.error or ""))
                    print(
                        f"\n⏭ {outcome.key}: not published, as `run` would record it — "
                        f"{outcome.error}",
                        file=out,
                    )
            for key, reason in summary.missed:
                if now == start:
                    result.past.append((key, reason))
                    print(
                        f"\n⏭ {key}: not published, as `run` would record it — {reason}", file=out
                    )
                else:
                    result.missed.append((key, reason))
                    print(f"\n✗ {key}: missed — {reason}", file=out)
            for outcome in summary.outcomes:
                occurrence = by_key[outcome.key]
                if outcome.result is Result.PUBLISHED:
                    record = ledger.get(outcome.key)
                    assert record is not None
                    # As the server rendered each toot: its answer to the post, or a fresh read.
                    ids = [p.status_id for p in record.parts if p.status_id]
                    parts = [
                        answered.pop(i) if i in answered else connection.client.status(i)
                        for i in ids
                    ]
                    dates.set(ids, occurrence.planned_at)
                    result.published.append((occurrence, parts))
                    show(occurrence, parts, settings, out)
                    late = now - occurrence.planned_at
                    # A boost or quote keeps to its time after the post, not to the plan.
                    if late > timedelta(minutes=1) and occurrence.post.follows is None:
                        result.caught_up += 1
                        print(
                            f"   ⏱ caught up at {to_zone(now, settings.zone)}, "
                            f"{format_duration(late)} late, within its not_after window "
                            f"(until {to_zone(occurrence.deadline, settings.zone)})",
                            file=out,
                        )
                elif outcome.result in {Result.FAILED, Result.DEFERRED}:
                    reason = outcome.error or outcome.result
                    result.failed.append((occurrence, reason))
                    print(
                        f"\n✗ {to_zone(occurrence.planned_at, settings.zone)} "
                        f"{occurrence.post.id}: {outcome.result} — {reason}",
                        file=out,
                    )
    return result


def show(
    occurrence: Occurrence, parts: list[RemoteStatus], settings: Settings, out: TextIO
) -> None:
    post = occurrence.post
    when = to_zone(occurrence.planned_at, settings.zone)
    who = f" by @{post.account or settings.default_account}" if settings.several_accounts else ""
    print(f"\n━━ {when} · {post.id} ({post.file}:{post.line}){who}", file=out)
    follows = post.follows
    if follows is not None:
        shared = follows.shared_key(occurrence.key)
        if follows.kind == "boost":
            print(f"   🔁 boosts {shared}{only_copy(follows)}", file=out)
            return
        print(f"   💬 quotes {shared}{only_copy(follows)}:", file=out)
    for index, status in enumerate(parts):
        indent = "   " if index == 0 else "   ↳ "
        pad = "   " if index == 0 else "     "
        if index:
            print(f"{indent}reply {index} of {len(parts) - 1}", file=out)
        if status.spoiler_text:
            print(
                f"{pad}⚠ content warning: {status.spoiler_text} (text hidden until opened)",
                file=out,
            )
        for line in status.plain_text.splitlines() or [""]:
            print(f"{pad}{line}", file=out)
        for media in status.media:
            focus = f", focus {media.focus[0]:g},{media.focus[1]:g}" if media.focus else ""
            alt = media.description or "(NO ALT TEXT)"
            print(f"{pad}🖼 {media.type}: alt text “{alt}”{focus}", file=out)
        if status.poll_options:
            print(f"{pad}📊 poll: " + " | ".join(status.poll_options), file=out)
        flags = [status.visibility, status.language or "no language"]
        if status.sensitive:
            flags.append("sensitive")
        print(f"{pad}→ {status.url} ({', '.join(flags)})", file=out)


def summarise(result: Rehearsal, invalid: int, out: TextIO) -> None:
    parts = sum(len(p) for _, p in result.published)
    images = sum(len(s.media) for _, p in result.published for s in p)
    threads = sum(1 for _, p in result.published if len(p) > 1)
    polls = sum(1 for _, p in result.published for s in p if s.poll_options)
    print("\n" + "─" * 60, file=out)
    print(
        f"Rehearsal: {counted(len(result.published), 'post')} published "
        f"({counted(parts, 'toot')}, {counted(threads, 'thread')}, {images} media, "
        f"{counted(polls, 'poll')}); {len(result.failed)} failed; "
        f"{len(result.missed)} missed; {invalid} left out as invalid.",
        file=out,
    )
    if result.caught_up or result.past:
        print(
            f"  Planned before the start: {result.caught_up} caught up late, {len(result.past)} "
            "past their not_after window and recorded as missed, as `run` would do "
            "(--from picks another start).",
            file=out,
        )
    if result.skipped:
        print(
            f"  {counted(len(result.skipped), 'boost or quote', 'boosts and quotes')} skipped: "
            "the post each shares never went out.",
            file=out,
        )
    for occurrence, reason in result.failed:
        print(
            f"  ✗ {occurrence.post.id} ({occurrence.post.file}:{occurrence.post.line}): {reason}",
            file=out,
        )
    if invalid:
        print("  run `campaign-bot validate` to see the invalid posts", file=out)


def describe_window(start: datetime, end: datetime, settings: Settings) -> str:
    zone = settings.zone
    return (
        f"{to_zone(start, zone)} to {to_zone(end, zone)} "
        f"({format_duration(end - start)} of campaign time)"
    )
