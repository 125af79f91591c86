"""The door to Mastodon, driven by recorded Mastodon 4.7.3 responses at the HTTP wire."""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from bot import __version__
from bot.core.clock import FakeClock
from bot.mastodon.client import MastodonClient
from bot.mastodon.html import plain_text_from_html
from bot.mastodon.types import (
    Account,
    ApiError,
    AuthError,
    MediaFailed,
    MediaNotReady,
    MediaRequest,
    NotFound,
    PermanentError,
    PollRequest,
    RateLimit,
    RateLimited,
    RemoteStatus,
    ScopeMissing,
    StatusRequest,
    TokenRefused,
    TransientError,
)

BASE = "https://campaign.example"
TOKEN = "tok-ZQX-4f9c2b7e-never-print-me"
FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
START = datetime(2026, 10, 14, 19, 0, tzinfo=UTC)
STATUSES = f"{BASE}/api/v1/statuses"
MEDIA_V2 = f"{BASE}/api/v2/media"
MEDIA_V1 = f"{BASE}/api/v1/media"
# The reset of the synthesized 429 (media throttle, 30 per 30 minutes).
RESET_1930 = datetime(2026, 10, 14, 19, 30, 0, 604367, tzinfo=UTC)


def body(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def headers(name: str) -> dict[str, str]:
    # responses computes these two itself from the body it serves.
    skip = {"content-length", "content-type"}
    return {k: v for k, v in body(name).items() if k.lower() not in skip}


def form(request: Any) -> dict[str, list[str]]:
    return parse_qs(request.body, keep_blank_values=True)


def query(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query)


def multipart(request: Any) -> dict[str, tuple[str | None, str, bytes]]:
    """Field name → (file name, content type, bytes) of a multipart/form-data request."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + request.body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = (
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
    return fields


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"real sleep of {seconds} s")

    monkeypatch.setattr(time, "sleep", refuse)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def client(clock: FakeClock) -> MastodonClient:
    return MastodonClient(BASE, TOKEN, clock=clock)


@pytest.fixture
def video(tmp_path: Path) -> MediaRequest:
    path = tmp_path / "cat walk.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    return MediaRequest(path, "video/mp4", "me when a cat", (-0.5, 0.3))


def serve_instance(
    mock: responses.RequestsMock, version: str = "4.7.3", *, v2: bool = True
) -> None:
    if v2:
        mock.get(f"{BASE}/api/v2/instance", json={**body("instance_v2"), "version": version})
    else:
        mock.get(f"{BASE}/api/v2/instance", status=404, json={"error": "Not Found"})
        mock.get(f"{BASE}/api/v1/instance", json={**body("instance_v1"), "version": version})


def plain(text: str = "Hello from the campaign", **changes: Any) -> StatusRequest:
    fields: dict[str, Any] = {
        "text": text,
        "spoiler_text": None,
        "sensitive": False,
        "visibility": "public",
        "language": "en",
    }
    return StatusRequest(**{**fields, **changes})


# --- construction and server information ------------------------------------------------------


def test_construction_sends_nothing_and_hides_the_token(mock: responses.RequestsMock) -> None:
    """Building the client makes no request, and its repr names the instance, not the token."""
    made = MastodonClient(BASE + "/", TOKEN, clock=FakeClock(START))
    assert len(mock.calls) == 0
    assert repr(made) == f"MastodonClient('{BASE}')"
    assert made.rate_limit() is None


def test_server_info_reads_v2_once_without_the_token(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """server_info reads /api/v2/instance anonymously with our user agent, and caches it."""
    serve_instance(mock)
    info = client.server_info()
    assert client.server_info() is info
    assert len(mock.calls) == 1
    sent = mock.calls[0].request
    assert "Authorization" not in sent.headers
    assert sent.headers["User-Agent"] == f"campaign-bot/{__version__}"
    assert (info.version, info.software, info.honours_idempotency_keys) == (
        "4.7.3",
        "mastodon",
        True,
    )
    assert info.v2 == body("instance_v2")
    assert info.v1 is None


def test_server_info_falls_back_to_v1(mock: responses.RequestsMock, client: MastodonClient) -> None:
    """When /api/v2/instance is missing, the v1 document is read and returned as v1."""
    serve_instance(mock, v2=False)
    info = client.server_info()
    assert info.v2 is None
    assert info.v1 == body("instance_v1")
    assert [urlsplit(c.request.url).path for c in mock.calls] == [
        "/api/v2/instance",
        "/api/v1/instance",
    ]


@pytest.mark.parametrize(
    ("version", "software", "idempotent"),
    [
        ("4.7.3", "mastodon", True),
        ("4.8.0-alpha.1", "mastodon", True),
        ("4.3.2+glitch", "mastodon", True),
        ("0.17.3+git-1b3c9b5", "gotosocial", False),
        ("3.5.3+0.17.3", "gotosocial", False),  # instance-inject-mastodon-version
        ("2.7.2 (compatible; Akkoma 3.13.2)", "akkoma", False),
        ("2.7.2 (compatible; Pleroma 2.6.3)", "pleroma", False),
        ("takahe/0.11.0", "takahe", False),
        ("4.0.0 (compatible; Takahe 0.11.0)", "takahe", False),  # what Takahē's API reports
        ("4.0.0 (compatible; Takahē 0.12.0)", "takahe", False),
        ("4.2.8 (compatible; Sharkey 2024.3.1)", "unknown", False),
        ("", "unknown", False),
    ],
)
def test_software_from_version(
    mock: responses.RequestsMock,
    client: MastodonClient,
    version: str,
    software: str,
    idempotent: bool,
) -> None:
    """The software and whether it honours Idempotency-Key follow from the version string."""
    serve_instance(mock, version)
    info = client.server_info()
    assert (info.version, info.software, info.honours_idempotency_keys) == (
        version,
        software,
        idempotent,
    )


@pytest.mark.parametrize(
    ("version", "has_v2", "media_url"),
    [
        ("4.7.3", True, MEDIA_V2),
        ("0.17.3+git-1b3c9b5", True, MEDIA_V2),
        ("2.7.2 (compatible; Akkoma 3.13.2)", False, MEDIA_V1),
        ("takahe/0.11.0", True, MEDIA_V2),
    ],
)
def test_upload_and_post_on_every_server(
    mock: responses.RequestsMock,
    client: MastodonClient,
    video: MediaRequest,
    version: str,
    has_v2: bool,
    media_url: str,
) -> None:
    """Uploading and posting never depend on Mastodon.py parsing the server's version string."""
    serve_instance(mock, version, v2=has_v2)
    mock.post(media_url, json=body("media_v2_image_200"))
    mock.post(STATUSES, json=body("status_created_with_video_sensitive"))
    media_id = client.upload_media(video)
    posted = client.post_status(plain(media_ids=(media_id,)), "campaign/p1/r1")
    assert media_id == "117440826199178323"
    assert posted.media_count == 1
    instance_reads = 1 if has_v2 else 2
    assert [c.request.url.split("?")[0] for c in mock.calls[instance_reads:]] == [
        media_url,
        STATUSES,
    ]
    assert form(mock.calls[-1].request)["media_ids[]"] == [media_id]


# --- media ------------------------------------------------------------------------------------


def test_image_upload_sends_description_focus_and_file(
    mock: responses.RequestsMock, client: MastodonClient, tmp_path: Path
) -> None:
    """An image upload carries file, type, alt text and "x,y" focus; a 200 needs no polling."""
    path = tmp_path / "poster.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 jpeg bytes")
    serve_instance(mock)
    mock.post(MEDIA_V2, json=body("media_v2_image_200"))
    media_id = client.upload_media(
        MediaRequest(path, "image/jpeg", "A crowd with banners", (0.25, -0.5))
    )
    assert media_id == "117440826199178323"
    sent = mock.calls[1].request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    fields = multipart(sent)
    assert fields["file"] == ("poster.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 jpeg bytes")
    assert fields["description"][2] == b"A crowd with banners"
    assert fields["focus"][2] == b"0.25,-0.5"
    assert len(mock.calls) == 2


def test_video_upload_polls_until_processed(
    mock: responses.RequestsMock, client: MastodonClient, clock: FakeClock, video: MediaRequest
) -> None:
    """202 → 206 → 206 → 200: the media is polled every interval on the fake clock, then done."""
    serve_instance(mock)
    mock.post(
        MEDIA_V2,
        status=202,
        json=body("media_v2_video_202"),
        headers=headers("headers_post_media_202"),
    )
    media_url = f"{MEDIA_V1}/117440819877733537"
    for _ in range(2):
        mock.get(media_url, status=206, json=body("media_v1_put_206_processing"))
    mock.get(
        media_url, json=body("media_v1_get_200_processed"), headers=headers("headers_get_media_200")
    )
    assert client.upload_media(video) == "117440819877733537"
    assert clock.slept == [2.0, 2.0, 2.0]
    assert clock.monotonic() == 6.0
    assert [c.request.method for c in mock.calls[1:]] == ["POST", "GET", "GET", "GET"]
    fields = multipart(mock.calls[1].request)
    assert fields["file"][:2] == ("cat walk.mp4", "video/mp4")
    assert fields["description"][2] == b"me when a cat"
    assert fields["focus"][2] == b"-0.5,0.3"
    assert client.rate_limit() == RateLimit(
        300, 299, datetime(2026, 10, 14, 19, 10, 0, 937729, tzinfo=UTC)
    )


def test_video_upload_gives_up_at_the_deadline(
    mock: responses.RequestsMock, clock: FakeClock, video: MediaRequest
) -> None:
    """Media still processing at the deadline raises MediaNotReady after waiting just that long."""
    client = MastodonClient(BASE, TOKEN, clock=clock, media_deadline=7, media_poll_interval=2)
    serve_instance(mock)
    mock.post(MEDIA_V2, status=202, json=body("media_v2_video_202"))
    mock.get(f"{MEDIA_V1}/117440819877733537", status=206, json=body("media_v1_put_206_processing"))
    with pytest.raises(MediaNotReady) as caught:
        client.upload_media(video)
    assert clock.slept == [2, 2, 2, 1]
    assert len(mock.calls) == 2 + 4
    assert str(caught.value) == (
        "the instance was still processing media 117440819877733537 after 7 s; "
        "try the post again later"
    )


def test_processing_failure_is_media_failed(
    mock: responses.RequestsMock, client: MastodonClient, video: MediaRequest
) -> None:
    """A 422 while polling means processing failed: MediaFailed with the server's message."""
    serve_instance(mock)
    mock.post(MEDIA_V2, status=202, json=body("media_v2_video_202"))
    mock.get(
        f"{MEDIA_V1}/117440819877733537",
        status=422,
        json={"error": "Error processing thumbnail for uploaded media"},
    )
    with pytest.raises(MediaFailed) as caught:
        client.upload_media(video)
    assert (caught.value.http_status, caught.value.server_message) == (
        422,
        "Error processing thumbnail for uploaded media",
    )
    assert str(caught.value) == (
        "the instance rejected media 117440819877733537 after processing (422): "
        "Error processing thumbnail for uploaded media"
    )


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (422, "File type of uploaded media could not be verified", MediaFailed),
        (422, "Validation failed: File file size must be less than 16 MB", MediaFailed),
        (413, None, MediaFailed),
        (403, "This action is outside the authorized scopes", ScopeMissing),
        (503, "Remote data could not be fetched", TransientError),
    ],
)
def test_upload_rejections(
    mock: responses.RequestsMock,
    client: MastodonClient,
    video: MediaRequest,
    status: int,
    message: str | None,
    expected: type[ApiError],
) -> None:
    """A refused upload is MediaFailed, but a missing scope is ScopeMissing (an AuthError, naming
    write:media) and a 503 transient."""
    serve_instance(mock)
    if message is None:
        mock.post(MEDIA_V2, status=status, body="<html>Request Entity Too Large</html>")
    else:
        mock.post(MEDIA_V2, status=status, json={"error": message})
    with pytest.raises(expected) as caught:
        client.upload_media(video)
    assert type(caught.value) is expected
    assert (caught.value.http_status, caught.value.server_message) == (status, message)
    assert "the media upload of cat walk.mp4" in str(caught.value)
    if expected is ScopeMissing:
        assert "the scope write:media" in str(caught.value)


def test_missing_media_file_is_media_failed(
    mock: responses.RequestsMock, client: MastodonClient, tmp_path: Path
) -> None:
    """A media file that cannot be read fails permanently before anything is uploaded."""
    serve_instance(mock)
    with pytest.raises(MediaFailed, match=r"^cannot read .*gone\.png"):
        client.upload_media(MediaRequest(tmp_path / "gone.png", "image/png", "alt", None))
    assert len(mock.calls) == 1


# --- posting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "expected_form"),
    [
        (
            plain(),
            {
                "status": ["Hello from the campaign"],
                "sensitive": ["0"],
                "visibility": ["public"],
                "language": ["en"],
            },
        ),
        (
            plain(
                spoiler_text="Election results",
                sensitive=True,
                visibility="unlisted",
                language="de",
            ),
            {
                "status": ["Hello from the campaign"],
                "sensitive": ["1"],
                "spoiler_text": ["Election results"],
                "visibility": ["unlisted"],
                "language": ["de"],
            },
        ),
        (
            plain("part 2", in_reply_to_id="117440826670289215", visibility=None, language=None),
            {"status": ["part 2"], "sensitive": ["0"], "in_reply_to_id": ["117440826670289215"]},
        ),
        (
            plain(media_ids=("1", "2"), sensitive=True),
            {
                "status": ["Hello from the campaign"],
                "sensitive": ["1"],
                "visibility": ["public"],
                "language": ["en"],
                "media_ids[]": ["1", "2"],
            },
        ),
    ],
    ids=["plain", "content-warning", "thread-reply", "media"],
)
def test_post_form_body(
    mock: responses.RequestsMock,
    client: MastodonClient,
    request_: StatusRequest,
    expected_form: dict[str, list[str]],
) -> None:
    """The form holds exactly what was set plus `sensitive`, with the Idempotency-Key header."""
    mock.post(
        STATUSES,
        json=body("status_created_with_content_warning"),
        headers=headers("headers_post_status_200"),
    )
    client.post_status(request_, "campaign/launch/3")
    sent = mock.calls[0].request
    # lang=en asks for English error messages; the status language is the `language` field.
    assert form(sent) == {**expected_form, "lang": ["en"]}
    assert sent.headers["Idempotency-Key"] == "campaign/launch/3"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"] == f"campaign-bot/{__version__}"


def test_post_with_poll_sends_json(mock: responses.RequestsMock, client: MastodonClient) -> None:
    """A poll switches the body to JSON, with the poll's options, expiry and flags."""
    mock.post(STATUSES, json=body("status_with_image_and_poll"))
    poll = PollRequest(("four twenty", "sixty-nine"), 300, multiple=False, hide_totals=True)
    posted = client.post_status(plain("nice", media_ids=("117440826199178323",), poll=poll), "k-1")
    sent = mock.calls[0].request
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {
        "status": "nice",
        "sensitive": "0",
        "visibility": "public",
        "language": "en",
        "lang": "en",
        "media_ids": ["117440826199178323"],
        "poll": {
            "options": ["four twenty", "sixty-nine"],
            "expires_in": 300,
            "multiple": False,
            "hide_totals": True,
        },
    }
    assert sent.headers["Idempotency-Key"] == "k-1"
    assert (posted.has_poll, posted.media_count, posted.plain_text) == (True, 1, "nice")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "status_created_with_content_warning",
            RemoteStatus(
                id="117440831296193834",
                url="http://localhost:3000/@mastodonpy_test/117440831296193834",
                created_at=datetime(2026, 10, 14, 19, 7, 52, 74000, tzinfo=UTC),
                plain_text="Toot!",
                spoiler_text="Content warning",
                in_reply_to_id=None,
                media_count=0,
                has_poll=False,
                visibility="public",
                language="ja",
                quotes=0,
            ),
        ),
        (
            "status_reply",
            RemoteStatus(
                id="117440826677780974",
                url="http://localhost:3000/@admin/117440826677780974",
                created_at=datetime(2026, 10, 14, 19, 6, 41, 602000, tzinfo=UTC),
                plain_text="@mastodonpy_test_2 same!",
                spoiler_text="",
                in_reply_to_id="117440826670289215",
                media_count=0,
                has_poll=False,
                visibility="public",
                language="en",
                quotes=0,
            ),
        ),
    ],
)
def test_post_returns_remote_status(
    mock: responses.RequestsMock, client: MastodonClient, fixture: str, expected: RemoteStatus
) -> None:
    """The created status comes back as a RemoteStatus with text, CW, reply link and counts."""
    mock.post(STATUSES, json=body(fixture))
    assert client.post_status(plain(), "k") == expected


def test_rate_limit_after_post(mock: responses.RequestsMock, client: MastodonClient) -> None:
    """rate_limit() reports the last answer's X-RateLimit-* headers (here the statuses limit)."""
    mock.post(
        STATUSES,
        json=body("status_created_with_content_warning"),
        headers=headers("headers_post_status_200"),
    )
    client.post_status(plain(), "k")
    assert client.rate_limit() == RateLimit(
        300, 283, datetime(2026, 10, 14, 21, 0, 0, 12885, tzinfo=UTC)
    )


def test_rate_limit_with_unix_reset(mock: responses.RequestsMock, client: MastodonClient) -> None:
    """A Unix-time X-RateLimit-Reset (GoToSocial) is read as a UTC time."""
    reset = "1792006200"
    limits = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": reset}
    mock.get(
        f"{BASE}/api/v1/accounts/verify_credentials",
        json=body("verify_credentials"),
        headers=limits,
    )
    client.verify_credentials()
    assert client.rate_limit() == RateLimit(300, 12, datetime.fromtimestamp(int(reset), UTC))


# --- errors -----------------------------------------------------------------------------------

TOO_LONG_EN = {"error": "Validation failed: Text character limit of 500 exceeded"}
NOT_PROCESSED = {
    "error": "Cannot attach files that have not finished processing. Try again in a moment!"
}
HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)
UNIX_RESET = {
    **body("headers_429_synthesized_from_source"),
    "X-RateLimit-Reset": str(int(RESET_1930.timestamp())),
}


AUTH_401 = (
    "the token is wrong, revoked or expired; create a new one under Preferences → Development "
    "and put it in the configuration"
)
AUTH_SCOPE = (
    "give the application the scopes write:statuses, write:media, read:accounts and "
    "read:statuses under Preferences → Development, then use its regenerated token"
)
AUTH_403 = "the account may not do this; check it in the web interface or ask the admins"
REJECTED = "the instance rejected the post"
TEMPORARY = "the instance had a temporary problem with the post"
LIMITED = "the instance's rate limit was reached for the post (429): Too many requests"
GONE_TARGET = "The post you are trying to reply to does not appear to exist."
TOO_LONG_DE = body("error_422_text_too_long_de")
BLANK = body("error_422_text_blank_en")
RACE = "There was a temporary problem serving your request, please try again"
TOO_MANY = body("error_429_synthesized_from_source")
ISO_RESET = body("headers_429_synthesized_from_source")


def case(
    status: int,
    answer: dict[str, str] | str,
    expected: type[ApiError],
    text: str,
    extra_headers: dict[str, str] | None = None,
    *,
    name: str,
) -> Any:
    return pytest.param(status, answer, extra_headers or {}, expected, text, id=name)


@pytest.mark.parametrize(
    ("status", "answer", "extra_headers", "expected", "text"),
    [
        case(401, body("error_401_invalid_token"), TokenRefused,
             "the instance rejected the access token (401): "
             f"The access token is invalid — {AUTH_401}",
             name="401"),
        case(403, {"error": "This action is outside the authorized scopes"}, ScopeMissing,
             "the access token lacks the scope write:statuses needed for the post (403): "
             f"This action is outside the authorized scopes — {AUTH_SCOPE}",
             name="403-scope"),
        case(403, {"error": "Your login is currently disabled"}, AuthError,
             "the instance refused the post for this account (403): "
             f"Your login is currently disabled — {AUTH_403}",
             name="403-disabled"),
        case(404, {"error": GONE_TARGET}, NotFound, f"{REJECTED} (404): {GONE_TARGET}",
             name="404-reply-target"),
        case(404, body("error_404_record_not_found"), NotFound,
             f"{REJECTED} (404): Record not found",
             name="404-record"),
        case(422, TOO_LONG_EN, PermanentError,
             "the instance rejected the post (422): "
             "Validation failed: Text character limit of 500 exceeded",
             name="422-too-long"),
        case(422, TOO_LONG_DE, PermanentError, f"{REJECTED} (422): {TOO_LONG_DE['error']}",
             headers("headers_post_status_422"), name="422-german"),
        case(422, BLANK, PermanentError, f"{REJECTED} (422): {BLANK['error']}", name="422-blank"),
        case(422, NOT_PROCESSED, MediaNotReady,
             "the instance has not finished processing the media for the post (422): "
             f"{NOT_PROCESSED['error']}",
             name="422-not-processed"),
        case(400, {"error": "param is missing or the value is empty: status"}, PermanentError,
             f"{REJECTED} (400): param is missing or the value is empty: status", name="400"),
        case(410, "", PermanentError, f"{REJECTED} (410): Gone", name="410-empty"),
        case(429, TOO_MANY, RateLimited,
             f"{LIMITED}; it resets at 2026-10-14T19:30:00.604367+00:00",
             ISO_RESET, name="429-iso"),
        case(429, TOO_MANY, RateLimited, f"{LIMITED}; it resets at 2026-10-14T19:30:00+00:00",
             UNIX_RESET, name="429-unix"),
        case(429, TOO_MANY, RateLimited, f"{LIMITED}; try again later", name="429-no-reset"),
        case(500, {"error": "Internal server error"}, TransientError,
             f"{TEMPORARY} (500): Internal server error", name="500"),
        case(502, HTML_502, TransientError, f"{TEMPORARY} (502): Bad Gateway", name="502-html"),
        case(503, {"error": RACE}, TransientError, f"{TEMPORARY} (503): {RACE}", name="503"),
        case(504, "", TransientError, f"{TEMPORARY} (504): Gateway Timeout", name="504-empty"),
        case(524, "", TransientError, f"{TEMPORARY} (524): no message", name="524-proxy-timeout"),
        case(501, "", PermanentError, f"{REJECTED} (501): Not Implemented", name="501"),
    ],
)  # fmt: skip
def test_error_classification(
    mock: responses.RequestsMock,
    client: MastodonClient,
    status: int,
    answer: Any,
    extra_headers: dict[str, str],
    expected: type[ApiError],
    text: str,
) -> None:
    """Each status code and body becomes its own error class with a one-line, token-free message."""
    server_message = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(answer, dict):
        mock.post(STATUSES, status=status, json=answer, headers=extra_headers)
    else:
        mock.post(
            STATUSES,
            status=status,
            body=answer or "",
            content_type="text/html",
            headers=extra_headers,
        )
    with pytest.raises(ApiError) as caught:
        client.post_status(plain(), "k")
    error = caught.value
    assert type(error) is expected
    assert (error.http_status, error.server_message) == (status, server_message)
    assert str(error) == text
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)


@pytest.mark.parametrize(
    ("reset_headers", "retry_at"),
    [
        (body("headers_429_synthesized_from_source"), RESET_1930),
        (UNIX_RESET, datetime(2026, 10, 14, 19, 30, tzinfo=UTC)),
        ({}, None),
    ],
    ids=["iso", "unix", "none"],
)
def test_rate_limited_retry_at(
    mock: responses.RequestsMock,
    client: MastodonClient,
    reset_headers: dict[str, str],
    retry_at: datetime | None,
) -> None:
    """RateLimited.retry_at is X-RateLimit-Reset, ISO 8601 or Unix time, or None when absent."""
    mock.post(
        STATUSES, status=429, json=body("error_429_synthesized_from_source"), headers=reset_headers
    )
    with pytest.raises(RateLimited) as caught:
        client.post_status(plain(), "k")
    assert caught.value.retry_at == retry_at


@pytest.mark.parametrize(
    ("failure", "text"),
    [
        (requests.ConnectionError("Connection refused"),
         "could not reach the instance for the post: Connection refused"),
        (requests.ReadTimeout("read timed out"),
         "the instance did not answer the post within 30 s; it may have been carried out anyway"),
        (requests.ConnectTimeout("connect timed out"),
         "the instance did not answer the post within 30 s; it may have been carried out anyway"),
    ],
    ids=["connection-error", "read-timeout", "connect-timeout"],
)  # fmt: skip
def test_network_failures_are_transient(
    mock: responses.RequestsMock, client: MastodonClient, failure: Exception, text: str
) -> None:
    """Connection errors and timeouts are TransientError without an HTTP status."""
    mock.post(STATUSES, body=failure)
    with pytest.raises(TransientError) as caught:
        client.post_status(plain(), "k")
    assert type(caught.value) is TransientError
    assert (caught.value.http_status, caught.value.retry_at) == (None, None)
    assert str(caught.value) == text


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", STATUSES), ("get", f"{BASE}/api/v2/instance")],
    ids=["post", "instance"],
)
def test_malformed_json_is_transient(
    mock: responses.RequestsMock, client: MastodonClient, method: str, url: str
) -> None:
    """A 200 whose body is not JSON (a truncated answer, a captive portal) is TransientError."""
    mock.add(method.upper(), url, body='{"id": "1171', content_type="application/json")
    with pytest.raises(TransientError) as caught:
        if method == "post":
            client.post_status(plain(), "k")
        else:
            client.server_info()
    assert caught.value.http_status == 200
    assert "not JSON" in str(caught.value)


def test_server_info_errors_are_classified(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """A failing instance read is classified like every other call (here a 503 on v2)."""
    mock.get(f"{BASE}/api/v2/instance", status=503, body=HTML_502.replace("502", "503"))
    with pytest.raises(TransientError, match=r"instance information request \(503\)"):
        client.server_info()


def test_token_echoed_by_the_server_is_redacted(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """Even when an answer or a network error repeats the token, no error text carries it."""
    mock.post(STATUSES, status=422, json={"error": f"Bad header Authorization: Bearer {TOKEN}"})
    mock.post(STATUSES, body=requests.ConnectionError(f"proxy refused Bearer {TOKEN}"))
    for _ in range(2):
        with pytest.raises(ApiError) as caught:
            client.post_status(plain(), "k")
        error = caught.value
        assert "[token]" in str(error)
        for shown in (str(error), repr(error), error.server_message or "", str(error.args)):
            assert TOKEN not in shown


def test_no_log_line_carries_the_token(
    mock: responses.RequestsMock,
    clock: FakeClock,
    video: MediaRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A whole session (v1 fallback, media polling, post, failure) logs nothing with the token."""
    caplog.set_level(logging.DEBUG)
    client = MastodonClient(BASE, TOKEN, clock=clock)
    serve_instance(mock, "2.7.2 (compatible; Akkoma 3.13.2)", v2=False)
    mock.post(MEDIA_V1, status=202, json=body("media_v2_video_202"))
    mock.get(f"{MEDIA_V1}/117440819877733537", status=206, json=body("media_v1_put_206_processing"))
    mock.get(f"{MEDIA_V1}/117440819877733537", json=body("media_v1_get_200_processed"))
    mock.post(STATUSES, status=401, json=body("error_401_invalid_token"))
    media_id = client.upload_media(video)
    with pytest.raises(AuthError):
        client.post_status(plain(media_ids=(media_id,)), "k")
    assert caplog.records, "expected the fallback and polling to be logged"
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


# --- reading back -----------------------------------------------------------------------------


def test_verify_credentials(mock: responses.RequestsMock, client: MastodonClient) -> None:
    """verify_credentials returns the token's account and sends the token."""
    mock.get(f"{BASE}/api/v1/accounts/verify_credentials", json=body("verify_credentials"))
    assert client.verify_credentials() == Account(
        id="117440810532227399",
        username="mastodonpy_test",
        acct="mastodonpy_test",
        url="http://localhost:3000/@mastodonpy_test",
    )
    assert mock.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def own_status(status_id: str, *, reblog: bool = False) -> dict[str, Any]:
    status = {**body("status_created_with_content_warning"), "id": status_id}
    if reblog:
        status["reblog"] = body("status_reply")
    return status


def test_recent_statuses_pages_back_without_reblogs(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """Pages go back by max_id; reblogs are excluded in the query and dropped if they slip in."""
    url = f"{BASE}/api/v1/accounts/117440810532227399/statuses"
    mock.get(url, json=[own_status("30"), own_status("29", reblog=True)])
    mock.get(url, json=[own_status("28")])
    mock.get(url, json=[])
    found = client.recent_statuses("117440810532227399", limit=2)
    assert [s.id for s in found] == ["30", "28"]
    asked = [query(c.request) for c in mock.calls]
    assert [q.get("max_id") for q in asked] == [None, ["29"], ["28"]]
    assert all(q["exclude_reblogs"] == ["1"] and q["limit"] == ["2"] for q in asked)


def test_recent_statuses_stops_at_max_pages(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """No more than max_pages requests are made, however much history there is."""
    url = f"{BASE}/api/v1/accounts/1/statuses"
    mock.get(url, json=[own_status("30")])
    mock.get(url, json=[own_status("29")])
    assert [s.id for s in client.recent_statuses("1", limit=1, max_pages=2)] == ["30", "29"]
    assert len(mock.calls) == 2


def test_status_lookup(mock: responses.RequestsMock, client: MastodonClient) -> None:
    """status() fetches one post; a vanished one is NotFound naming the lookup."""
    mock.get(f"{STATUSES}/117440826677780974", json=body("status_reply"))
    mock.get(f"{STATUSES}/404", status=404, json=body("error_404_record_not_found"))
    assert client.status("117440826677780974").in_reply_to_id == "117440826670289215"
    with pytest.raises(
        NotFound, match=r"^the instance rejected the lookup of post 404 \(404\): Record not found$"
    ):
        client.status("404")


def test_unreadable_status_is_transient(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """A status answer without the fields the bot reads counts as a garbled, retryable answer."""
    broken = {k: v for k, v in body("status_reply").items() if k != "created_at"}
    mock.get(f"{STATUSES}/117440826677780974", json=broken)
    with pytest.raises(TransientError, match="status that cannot be read"):
        client.status("117440826677780974")


LINK = (
    '<a href="https://example.org/campaign/2026/very-long-path" target="_blank" rel="nofollow '
    'noopener" translate="no"><span class="invisible">https://</span><span class="ellipsis">'
    'example.org/campaign/2026/very</span><span class="invisible">-long-path</span></a>'
)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Toot!</p>", "Toot!"),
        ("", ""),
        ("<p>one<br />two<br>three</p>", "one\ntwo\nthree"),
        ("<p>first</p><p>second</p><p>third</p>", "first\n\nsecond\n\nthird"),
        (f"<p>Read {LINK} now</p>", "Read https://example.org/campaign/2026/very-long-path now"),
        ("<p>Tom &amp; Jerry &lt;3 &#39;q&#39; &quot;x&quot; caf&eacute;</p>",
         "Tom & Jerry <3 'q' \"x\" café"),
        (
            '<p><a href="https://campaign.example/tags/ClimateJustice" class="mention hashtag" '
            'rel="tag">'
            "#<span>ClimateJustice</span></a> ⬇️🤷‍♂️</p>",
            "#ClimateJustice ⬇️🤷‍♂️",
        ),
        (body("status_reply")["content"], "@mastodonpy_test_2 same!"),
    ],
    ids=[
        "paragraph", "empty", "line-breaks", "paragraph-breaks", "shortened-link", "entities",
        "hashtag-emoji", "mention",
    ],
)  # fmt: skip
def test_plain_text_from_html(html: str, text: str) -> None:
    """Status HTML turns back into the posted text: breaks, blank lines, full links, entities."""
    assert plain_text_from_html(html) == text


def test_remote_status_carries_media_descriptions_and_poll(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """Media alt text, focus and poll options come back, so a rehearsal can show them."""
    mock.post(STATUSES, json=body("status_with_image_and_poll"))
    posted = client.post_status(plain(), "k")
    assert posted.poll_options == ("four twenty", "sixty-nine")
    assert [m.type for m in posted.media] == ["image"]
    video = body("status_created_with_video_sensitive")
    mock.post(STATUSES, json=video)
    posted = client.post_status(plain(), "k2")
    assert posted.sensitive is True
    assert posted.media[0].description == "me when a cat"
    assert posted.media[0].focus == (-0.5, 0.3)


def test_rate_limit_is_forgotten_when_an_answer_has_none(
    mock: responses.RequestsMock, client: MastodonClient
) -> None:
    """A 429's far reset does not linger once a later answer carries no rate-limit headers."""
    mock.post(STATUSES, json=body("status_created_with_content_warning"),
              headers=headers("headers_post_status_200"))  # fmt: skip
    client.post_status(plain(), "k1")
    assert client.rate_limit() is not None
    mock.post(STATUSES, json=body("status_created_with_content_warning"))
    client.post_status(plain(), "k2")
    assert client.rate_limit() is None


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Wed, 14 Oct 2026 19:00:05 GMT", datetime(2026, 10, 14, 19, 0, 5, tzinfo=UTC)),
        # Tried: these crashed doctor and run with "can't subtract offset-naive and
        # offset-aware datetimes" (exit 70). RFC 5322's "-0000" means "zone unknown"; a proxy
        # that joins two Date headers gives a value Python also parses as naive.
        ("Wed, 14 Oct 2026 19:00:05 -0000", None),
        ("Wed, 14 Oct 2026 19:00:05 GMT, Wed, 14 Oct 2026 19:00:06 GMT", None),
        ("yesterday, around tea time", None),
    ],
)
def test_server_clock_is_ignored_unless_it_has_a_zone(
    mock: responses.RequestsMock,
    client: MastodonClient,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    date: str,
    expected: datetime | None,
) -> None:
    """The instance's clock is read from a Date header with a zone; any other is ignored with
    a debug line, never compared with ours."""
    mock.get(
        f"{BASE}/api/v1/accounts/verify_credentials",
        json=body("verify_credentials"),
        headers={"Date": date},
    )
    client.verify_credentials()
    with caplog.at_level(logging.DEBUG, logger="bot.mastodon.http"):
        served = client.server_date()
    assert served == expected
    if served is None:
        assert f"unusable Date header {date!r}" in caplog.text
    else:
        assert clock.now() - served == START - expected  # type: ignore[operator]
