"""`validate --check-links`: links asked over HTTP (mocked with `responses`, never the internet),
their failures reported as warnings on the posts; plain `validate` never fetches anything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import responses
import test_cli_campaign
from conftest import MakeCampaign
from test_cli_campaign import LIMITS_SOURCE, Run

from bot.service.linkcheck import USER_AGENT, ask

run = test_cli_campaign.run

POSTS = {
    "a.yaml": """\
        posts:
          - id: launch
            at: 2026-12-01 09:30
            text: Sign https://petition.example.org/sign and read https://news.example.org/x
            thread:
              - text: Again https://petition.example.org/sign and https://gone.example.org/y
          - id: later
            at: 2026-12-02 09:30
            text: Watch https://video.example.org/w and https://slow.example.org/z
        """
}


@pytest.fixture
def web() -> Iterator[responses.RequestsMock]:
    """Every request must be one of those registered: anything else fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_plain_validate_fetches_nothing(
    make_campaign: MakeCampaign, run: Run, web: responses.RequestsMock
) -> None:
    make_campaign(POSTS)
    result = run("validate", "--offline")
    assert (result.code, result.out) == (0, "")
    assert len(web.calls) == 0


def test_check_links_reports_each_broken_link_where_it_is_used(
    make_campaign: MakeCampaign, run: Run, web: responses.RequestsMock
) -> None:
    make_campaign(POSTS)
    web.head("https://petition.example.org/sign", status=200)
    web.head(
        "https://news.example.org/x",
        status=301,
        headers={"Location": "https://news.example.org/gone"},
    )
    web.head("https://news.example.org/gone", status=404)
    web.head("https://gone.example.org/y", body=requests.ConnectionError("refused"))
    # A server that refuses HEAD is asked again with GET.
    web.head("https://video.example.org/w", status=405)
    web.get("https://video.example.org/w", status=200)
    web.head("https://slow.example.org/z", body=requests.ReadTimeout("slow"))
    result = run("validate", "--offline", "--check-links")
    assert result.code == 0  # warnings
    assert result.out.splitlines() == [
        "posts/a.yaml:2:1: warning: text: launch: https://news.example.org/x answered 404 Not "
        "Found — check the link for a typo, or that the page is published",
        "posts/a.yaml:2:1: warning: thread[0].text: launch: https://gone.example.org/y cannot be "
        "reached (ConnectionError) — check the link for a typo, or that the page is published",
        "posts/a.yaml:7:1: warning: text: later: https://slow.example.org/z no answer within 10 "
        "s — check the link for a typo, or that the page is published",
    ]
    assert result.err == f"2 valid posts in 1 file; 0 errors, 3 warnings {LIMITS_SOURCE}\n"
    # Each distinct link is asked once, however many posts use it.
    asked = [(call.request.method, call.request.url) for call in web.calls]
    assert asked.count(("HEAD", "https://petition.example.org/sign")) == 1
    assert ("GET", "https://video.example.org/w") in asked
    assert all(call.request.headers["User-Agent"] == USER_AGENT for call in web.calls)
    assert run("validate", "--offline", "--check-links", "--strict").code == 1


def test_ask_never_raises(web: responses.RequestsMock) -> None:
    web.head("https://loop.example.org/", body=requests.TooManyRedirects("loop"))
    web.head("https://ok.example.org/", status=204)
    with requests.Session() as session:
        loop = ask(session, "https://loop.example.org/")
        ok = ask(session, "https://ok.example.org/")
    assert (loop.status, loop.reason, loop.broken) == (None, "too many redirects", True)
    assert (ok.status, ok.broken) == (204, False)
