"""CPU time of reading YAML post files (`bot.campaign.yamlsource.read_yaml`): a 10,000-post file
of 210,000 lines, and a "billion laughs" alias bomb that must be refused without expanding it.
The tests check what is read and refused; this prints how long it takes.

    python bench/yaml_read.py [--posts 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bot.campaign.yamlsource import read_yaml

BILLION_LAUGHS = "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


def campaign(posts: int) -> str:
    lines = ["posts:"]
    for i in range(posts):
        lines += [
            f"  - id: post-{i:05d}",
            f"    at: 2026-12-{i % 28 + 1:02d} 09:30",
            "    language: en",
            "    visibility: public",
            "    text: |",
            f"      Police tech doesn't predict crime. It predicts policing. ({i}) 🚨",
            "",
            f"      Sign the petition ➡️ https://example.org/petitions/{i}",
            "      #SafetyNotSurveillance #PreCrime",
            "    hashtags: [privacy, policing]",
            "    media:",
            f"      - file: media/van-{i}.jpg",
            "        alt: \"A van with displays reading 'Ban Crime Predicting Tech'.\"",
            f"      - file: media/bridge-{i}.jpg",
            "        alt: A crowd on Westminster Bridge.",
            "    sensitive: false",
            "    spoiler: null",
            f"    thread: [post-{i:05d}-a, post-{i:05d}-b]",
            "    poll:",
            "      options: [yes, no]",
            "      expires: 3600",
        ]
    return "\n".join(lines) + "\n"


def cpu_seconds(path: Path, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        began = time.process_time()
        read_yaml(path, max_bytes=50_000_000)
        times.append(time.process_time() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in (
            (f"{args.posts:,}-post file", campaign(args.posts)),
            ("billion laughs", BILLION_LAUGHS),
        ):
            path = Path(tmp) / "posts.yaml"
            path.write_text(text, encoding="utf-8")
            times = cpu_seconds(path, args.rounds)
            lines = text.count("\n")
            print(
                f"{name} ({lines:,} lines): median {statistics.median(times) * 1000:.1f} ms CPU "
                f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, {args.rounds} rounds)"
            )


if __name__ == "__main__":
    main()
