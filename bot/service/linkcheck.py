"""`validate --check-links`: ask each link in the posts whether it answers, before followers do.

Opt-in, because it goes out to the internet: plain `validate` never fetches anything. Each
distinct link is asked once (HEAD, or GET where HEAD is refused), following redirects, with a
timeout; a link that answers with an error status or not at all is a warning on its post.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from bot import __version__
from bot.campaign.charcount import find_urls
from bot.core.posts import CampaignPost
from bot.core.problems import Problem, Severity

TIMEOUT = (5.0, 10.0)  # seconds to connect, seconds between bytes of the answer
WORKERS = 8
USER_AGENT = f"campaign-bot/{__version__} (link check before publishing)"
# Answers to HEAD that say nothing about the page: ask again with GET.
_RETRY_WITH_GET = {403, 405, 501}


@dataclass(frozen=True, slots=True)
class LinkAnswer:
    url: str
    status: int | None  # None: no answer at all
    reason: str  # the status's reason, or why there was no answer

    @property
    def broken(self) -> bool:
        return self.status is None or self.status >= 400


def links_of(posts: Iterable[CampaignPost]) -> dict[str, list[tuple[CampaignPost, int]]]:
    """Each distinct link, with the posts and parts (0 = the post, then its replies) using it."""
    found: dict[str, list[tuple[CampaignPost, int]]] = {}
    for post in posts:
        for part in post.parts:
            for start, end in find_urls(part.text):
                found.setdefault(part.text[start:end], []).append((post, part.index))
    return found


def ask(session: requests.Session, url: str) -> LinkAnswer:
    """What the link answers, following redirects; never raises."""
    try:
        answer = session.head(url, allow_redirects=True, timeout=TIMEOUT)
        if answer.status_code in _RETRY_WITH_GET:
            answer = session.get(url, allow_redirects=True, timeout=TIMEOUT, stream=True)
            answer.close()
    except requests.Timeout:
        return LinkAnswer(url, None, f"no answer within {TIMEOUT[1]:g} s")
    except requests.TooManyRedirects:
        return LinkAnswer(url, None, "too many redirects")
    except requests.RequestException as exc:
        return LinkAnswer(url, None, f"cannot be reached ({type(exc).__name__})")
    return LinkAnswer(url, answer.status_code, answer.reason or "")


def check_links(
    posts: Iterable[CampaignPost], session: requests.Session | None = None
) -> list[Problem]:
    """A warning for each use of a link that does not answer, or answers with an error."""
    uses = links_of(posts)
    own = session is None
    session = session or requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            answers = list(pool.map(lambda url: ask(session, url), uses))
    finally:
        if own:
            session.close()
    problems = []
    for answer in answers:
        if not answer.broken:
            continue
        said = (
            f"answered {answer.status} {answer.reason}".rstrip()
            if answer.status is not None
            else answer.reason
        )
        for post, index in uses[answer.url]:
            problems.append(
                Problem(
                    post.file,
                    post.line,
                    1,
                    "text" if index == 0 else f"thread[{index - 1}].text",
                    f"{post.id}: {answer.url} {said}",
                    "check the link for a typo, or that the page is published",
                    Severity.WARNING,
                )
            )
    return problems
