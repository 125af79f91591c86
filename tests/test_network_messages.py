"""A request that gets no answer is told in one short sentence, never as urllib3's nested
description of connection pools and objects."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from conftest import START

from bot.core.clock import FakeClock
from bot.mastodon.client import MastodonClient
from bot.mastodon.types import StatusRequest, TransientError


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def no_such_name(*args: Any, **kwargs: Any) -> Any:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def post(client: MastodonClient) -> object:
    request = StatusRequest("Hello", None, False, "public", "en")
    return client.post_status(request, "k")


@pytest.mark.parametrize(
    ("call", "what"),
    [(MastodonClient.server_info, "the instance information request"), (post, "the post")],
    ids=["server-info", "post"],
)
def test_a_refused_connection_is_one_short_sentence(
    call: Callable[[MastodonClient], object], what: str
) -> None:
    port = closed_port()
    client = MastodonClient(f"http://127.0.0.1:{port}", "tok", clock=FakeClock(START), timeout=5)
    with pytest.raises(TransientError) as caught:
        call(client)
    assert str(caught.value) == (
        f"could not reach the instance for {what}: 127.0.0.1:{port} refused the connection"
    )


def test_a_name_that_does_not_resolve_is_one_short_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    client = MastodonClient("https://mastodon.invalid", "tok", clock=FakeClock(START), timeout=5)
    with pytest.raises(TransientError) as caught:
        post(client)
    assert str(caught.value) == (
        "could not reach the instance for the post: the name mastodon.invalid was not found "
        "(DNS); check the instance's address"
    )
