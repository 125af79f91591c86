"""Which server software an instance runs, and which Mastodon version it claims."""

from __future__ import annotations

import re

SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+(\S+))?")


def software_of(version: str) -> str:
    lowered = version.lower()
    for name in ("akkoma", "pleroma", "gotosocial"):
        if name in lowered:
            return name
    # Takahē names itself in its version ("takahe/0.11.0", or "4.0.0 (compatible; Takahe 0.11.0)").
    if "takahe" in lowered or "takahē" in lowered:
        return "takahe"
    match = SEMVER.fullmatch(version.strip())
    if match is None:
        return "unknown"
    # GoToSocial is pre-1.0 ("0.17.3+git-…"); with instance-inject-mastodon-version it reports
    # "3.5.3+<its own version>", which is how Mastodon.py's normaliser tells it apart too.
    build = SEMVER.match(match[4] or "")
    if int(match[1]) == 0 or (build is not None and int(build[1]) == 0):
        return "gotosocial"
    return "mastodon"


def mastodon_at_least(version: str, wanted: tuple[int, int]) -> bool:
    """Whether a Mastodon instance's version string is at least major.minor."""
    head = version.split(" ")[0].split("+")[0].split("-")[0]
    try:
        numbers = tuple(int(p) for p in head.split(".")[:2])
    except ValueError:
        return False
    return len(numbers) == 2 and numbers >= wanted and "compatible" not in version
