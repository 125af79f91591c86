"""The cost of publishing through the bot, against a bare Mastodon.py `status_post` loop.

Both publish N posts of the same content to a fresh mastodon_mock server on 127.0.0.1: once
with `status_post` in a plain loop, once through the bot's Publisher, each post its own
occurrence in a ledger in a temporary folder (intent committed before each request, the result
after it, every commit synced). Rounds alternate which side goes first. Prints the time per
post of each side and their ratio; the target is the bot within 1.3x of the bare loop.

    python bench/publish_overhead.py [--posts 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from mastodon_mock.testing import MockServer

from bot.core.clock import SystemClock
from bot.core.posts import CampaignPost, Part, Schedule
from bot.mastodon.client import MastodonClient
from bot.publishing.publisher import Publisher
from bot.schedule.planner import Occurrence
from bot.storage.ledger import Ledger

TOKEN = "alice_token"  # noqa: S105 - the mock's seeded account, not a secret
TEXT = "Millbrook council wants to close four of our six libraries. Sign the petition!"
WARM_UP = 5


def bare_loop(server: MockServer, posts: int) -> float:
    """Seconds for `posts` plain status_post calls."""
    api = server.client("alice")
    for _ in range(WARM_UP):
        api.status_post(TEXT, visibility="public", language="en")
    started = time.perf_counter()
    for _ in range(posts):
        api.status_post(TEXT, visibility="public", language="en")
    return time.perf_counter() - started


def through_the_bot(server: MockServer, posts: int) -> float:
    """Seconds for `posts` occurrences published by the Publisher, ledger writes included."""
    clock = SystemClock()
    client = MastodonClient(server.base_url, TOKEN, clock=clock)
    account = client.verify_credentials()
    part = Part(0, TEXT, None, False, "public", "en", (), None, len(TEXT))
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger.open(Path(folder) / "ledger.sqlite3", clock)
        publisher = Publisher(
            client,
            ledger,
            clock,
            instance=server.base_url,
            account_id=account.id,
            honours_idempotency_keys=True,
        )

        def publish(key: str) -> None:
            now = clock.now()
            post = CampaignPost(key, "bench.yaml", 1, 0, Schedule(at=now), None, (part,), key)
            outcome = publisher.publish(Occurrence(key, post, now, now + timedelta(hours=1), ""))
            if outcome.state != "published":
                raise RuntimeError(f"{key}: {outcome.state}: {outcome.error}")

        for n in range(WARM_UP):
            publish(f"warm-up-{n}")
        started = time.perf_counter()
        for n in range(posts):
            publish(f"post-{n:04}")
        elapsed = time.perf_counter() - started
        ledger.close()
    return elapsed


def measure(side: Callable[[MockServer, int], float], posts: int) -> float:
    with MockServer() as server:
        return side(server, posts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    bare: list[float] = []
    bot: list[float] = []
    for round_ in range(args.rounds):
        order = [(bare, bare_loop), (bot, through_the_bot)]
        if round_ % 2:
            order.reverse()
        for times, side in order:
            times.append(measure(side, args.posts) / args.posts)
        print(
            f"round {round_ + 1}: bare {bare[-1] * 1000:.2f} ms/post, "
            f"bot {bot[-1] * 1000:.2f} ms/post, ratio {bot[-1] / bare[-1]:.2f}"
        )
    bare_ms = statistics.median(bare) * 1000
    bot_ms = statistics.median(bot) * 1000
    print(f"posts per run: {args.posts}, rounds: {args.rounds} (medians below)")
    print(f"bare Mastodon.py status_post loop: {bare_ms:.2f} ms/post")
    print(f"through the bot (Publisher + ledger): {bot_ms:.2f} ms/post")
    print(f"ratio bot/bare: {bot_ms / bare_ms:.2f} (target: at most 1.30)")


if __name__ == "__main__":
    main()
