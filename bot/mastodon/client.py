"""The one door to the Mastodon instance: plain dataclasses in, sorted failures out.

Only this module imports Mastodon.py. Every failure leaves it as an `ApiError` subclass: a
`TransientError` means "try again later", anything else "this will not work as it is".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonNetworkError,
    MastodonRatelimitError,
)

from bot import __version__
from bot.core.clock import Clock
from bot.core.urls import is_loopback
from bot.core.versions import software_of
from bot.mastodon.errors import (
    classify,
    error_field,
    network_error,
    not_json,
    status_in_text,
)
from bot.mastodon.http import date_of, instance_document, rate_limit_of
from bot.mastodon.oauth import OOB_REDIRECT
from bot.mastodon.parse import remote_status
from bot.mastodon.types import (
    Account,
    ApiError,
    EditRequest,
    MediaFailed,
    MediaNotReady,
    MediaRequest,
    PermanentError,
    PollRequest,
    RateLimit,
    RemoteStatus,
    ServerInfo,
    StatusRequest,
    TransientError,
)

logger = logging.getLogger(__name__)

# 202 from the upload and 206 from GET /api/v1/media/:id mean "still processing"; 200 is done.
_PROCESSING = (202, 206)


class MastodonClient:
    """Talks to one instance with one access token; not safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        access_token: str | None,
        *,
        clock: Clock,
        timeout: float = 30.0,
        media_deadline: float = 600.0,
        media_poll_interval: float = 2.0,
        session: requests.Session | None = None,
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._media_deadline = media_deadline
        self._media_poll_interval = media_poll_interval
        self._token = access_token or ""
        self._session = session or requests.Session()
        self._session.hooks["response"].append(self._remember)
        self._last_response: requests.Response | None = None
        self._rate_limit: RateLimit | None = None
        self._server_info: ServerInfo | None = None
        self._user_agent = f"campaign-bot/{__version__}"
        self._api = Mastodon(
            api_base_url=base_url,
            ratelimit_method="throw",
            request_timeout=timeout,
            version_check_mode="none",
            # Any mastodon_version marks Mastodon.py's version check as done, so it never fetches
            # and parses the instance's version itself (Takahē's "takahe/0.11.0" makes that raise
            # ValueError); upload_media pins the numbers it compares from our own instance read.
            mastodon_version="1.0.0",
            session=self._session,
            user_agent=self._user_agent,
            # Error texts come in the account's locale otherwise; the "not finished processing"
            # and scope checks below read the English ones.
            lang="en",
        )
        # Set afterwards: the constructor would read the token from a file of that name.
        self._api.access_token = access_token
        self.base_url = str(self._api.api_base_url)

    def __repr__(self) -> str:
        return f"MastodonClient({self.base_url!r})"

    def server_info(self) -> ServerInfo:
        """The instance document (v2, else v1), read once without the token and cached."""
        if self._server_info is None:
            v1: dict[str, Any] | None = None
            try:
                v2: dict[str, Any] | None = self._instance_document("/api/v2/instance")
            except PermanentError as exc:
                logger.debug("no /api/v2/instance (%s); reading /api/v1/instance", exc)
                v2 = None
                v1 = self._instance_document("/api/v1/instance")
            version = str((v2 or v1 or {}).get("version") or "")
            software = software_of(version)
            self._server_info = ServerInfo(version, software, software == "mastodon", v2, v1)
        return self._server_info

    def verify_credentials(self) -> Account:
        """The account the token belongs to."""
        with self._translated("the account check"):
            account = self._api.account_verify_credentials()
        return Account(
            id=str(account["id"]),
            username=str(account["username"]),
            acct=str(account["acct"]),
            url=str(account.get("url") or ""),
        )

    def upload_media(self, media: MediaRequest) -> str:
        """Upload one file and wait until the instance has processed it; returns the media id."""
        use_v2 = self.server_info().v2 is not None
        # media_post uses /api/v2/media when the pinned version is at least 3.1.4. Every server
        # with /api/v2/instance (Mastodon 4.0+, GoToSocial, Takahē) also has v2 media.
        self._api.mastodon_major, self._api.mastodon_minor, self._api.mastodon_patch = (
            (3, 1, 4) if use_v2 else (1, 0, 0)
        )
        what = f"the media upload of {media.path.name}"
        try:
            handle = media.path.open("rb")
        except OSError as exc:
            raise MediaFailed(f"cannot read {media.path} for {what}: {exc.strerror}") from exc
        with handle, self._translated(what, permanent=MediaFailed):
            attachment = self._api.media_post(
                handle,
                mime_type=media.mime_type,
                description=media.description or None,
                focus=media.focus,
                file_name=media.path.name,
            )
        media_id = str(attachment["id"])
        if self._last_status() in _PROCESSING:
            self._wait_for_processing(media_id)
        return media_id

    def _wait_for_processing(self, media_id: str) -> None:
        started = self._clock.monotonic()
        while True:
            waited = self._clock.monotonic() - started
            if waited >= self._media_deadline:
                raise MediaNotReady(
                    f"the instance was still processing media {media_id} after "
                    f"{self._media_deadline:g} s; try the post again later"
                )
            self._clock.sleep(min(self._media_poll_interval, self._media_deadline - waited))
            with self._translated(f"media {media_id} after processing", permanent=MediaFailed):
                self._api.media(media_id)
            if self._last_status() not in _PROCESSING:
                return
            logger.debug("media %s is still being processed", media_id)

    def post_status(self, request: StatusRequest, idempotency_key: str) -> RemoteStatus:
        """Publish one status; the same key within an hour returns the first post again."""
        poll = self._poll(request.poll)
        with self._translated("the post"):
            status = self._api.status_post(
                request.text,
                in_reply_to_id=request.in_reply_to_id,
                media_ids=list(request.media_ids) or None,
                # Always sent: an explicit sensitive=0 stops Mastodon from marking a CW post
                # sensitive (PostStatusService), so the caller's value must be the whole truth.
                sensitive=request.sensitive,
                visibility=request.visibility,
                spoiler_text=request.spoiler_text or None,
                language=request.language,
                idempotency_key=idempotency_key,
                poll=poll,
                quoted_status_id=request.quoted_status_id,
            )
        return remote_status(status)

    def find_status(self, url: str) -> str | None:
        """The id here of the status at `url` (GET /api/v2/search, resolve=true), or None."""
        with self._translated("the search for the post to share"):
            found = self._api.search_v2(url, resolve=True, result_type="statuses")
        # With a result type, Mastodon.py may hand back that list alone.
        statuses = found if isinstance(found, list) else found.get("statuses") or []
        return str(statuses[0]["id"]) if statuses else None

    def reblog(self, status_id: str) -> RemoteStatus:
        """Boost a status; boosting one already boosted gives the same boost back."""
        with self._translated(f"the boost of post {status_id}"):
            status = self._api.status_reblog(status_id)
        return remote_status(status)

    def recent_statuses(
        self, account_id: str, *, limit: int = 40, max_pages: int = 3
    ) -> list[RemoteStatus]:
        """The account's own latest statuses, newest first, reblogs left out."""
        found: list[RemoteStatus] = []
        max_id: str | None = None
        for _ in range(max_pages):
            with self._translated("the list of the account's posts"):
                page = self._api.account_statuses(
                    account_id, exclude_reblogs=True, limit=limit, max_id=max_id
                )
            if not page:
                break
            found.extend(remote_status(s) for s in page if s.get("reblog") is None)
            max_id = str(page[-1]["id"])
        return found

    def status(self, status_id: str) -> RemoteStatus:
        """One status by id."""
        with self._translated(f"the lookup of post {status_id}"):
            return remote_status(self._api.status(status_id))

    def edit_status(self, status_id: str, edit: EditRequest) -> RemoteStatus:
        """Replace a status whole (`PUT /api/v1/statuses/:id`, Mastodon 3.5+). Sent through the
        request Mastodon.py's status_update makes, which lacks the `language` an edit takes
        (UpdateStatusService; left out, the status keeps its language). media_attributes go
        alone, covering every attachment to keep: Mastodon.py 2.3.3 derives media_ids from
        them, and raises TypeError when it is given both."""
        poll = self._poll(edit.poll)
        attributes = [
            self._api.generate_media_edit_attributes(
                m.id, description=m.description, focus=m.focus or (0.0, 0.0)
            )
            for m in edit.media
        ]
        with self._translated(f"the edit of post {status_id}"):
            status = self._api._Mastodon__status_internal(  # type: ignore[attr-defined]
                status=edit.text,
                spoiler_text=edit.spoiler_text or None,
                sensitive=edit.sensitive,
                poll=poll,
                media_attributes=attributes or None,
                language=edit.language,
                edit=status_id,
            )
        return remote_status(status)

    def status_source(self, status_id: str) -> tuple[str, str]:
        """The text and content warning of a status exactly as they were written."""
        with self._translated(f"the source of post {status_id}"):
            source = self._api.status_source(status_id)
        return str(source.get("text") or ""), str(source.get("spoiler_text") or "")

    def delete_status(self, status_id: str) -> None:
        """Delete a status and its media (`DELETE /api/v1/statuses/:id`)."""
        with self._translated(f"the deletion of post {status_id}"):
            self._api.status_delete(status_id, delete_media=True)

    def app_scopes(self) -> tuple[str, ...] | None:
        """The scopes the token's application holds; None when the server does not say."""
        with self._translated("the token's application check"):
            app = self._api.app_verify_credentials()
        scopes = app.get("scopes")
        return tuple(str(s) for s in scopes) if isinstance(scopes, list) else None

    def server_date(self) -> datetime | None:
        """The instance's clock, from the Date header of the last answer."""
        return None if self._last_response is None else date_of(self._last_response.headers)

    # --- logging in (OAuth authorization code flow) ------------------------------------------

    def register_app(
        self, name: str, scopes: Sequence[str], website: str | None = None
    ) -> tuple[str, str]:
        """Register an application on the instance; returns its client id and secret."""
        with self._translated("the application registration"):
            client_id, secret = Mastodon.create_app(
                name,
                scopes=list(scopes),
                redirect_uris=OOB_REDIRECT,
                website=website,
                api_base_url=self.base_url,
                request_timeout=self._timeout,
                session=self._session,
                user_agent=self._user_agent,
            )
        return str(client_id), str(secret)

    def exchange_code(
        self, client_id: str, client_secret: str, code: str, scopes: Sequence[str]
    ) -> str:
        """Trade the code the owner pasted for an access token (never logged)."""
        self._api.client_id, self._api.client_secret = client_id, client_secret
        try:
            with self._translated("the login"):
                token = self._api.log_in(
                    code=code.strip(),
                    redirect_uri=OOB_REDIRECT,
                    scopes=list(scopes),
                    allow_http=is_loopback(self.base_url),
                )
        except ValueError as exc:
            # log_in turns a refused code (400 invalid_grant) into its own ValueError, and a
            # token with fewer scopes than asked for into another.
            if "scope" in str(exc).lower():
                raise PermanentError(
                    "the instance granted fewer scopes than asked for: approve all of "
                    f"{' '.join(scopes)} when asked"
                ) from None
            raise PermanentError(
                "the instance did not accept that code (mistyped, expired or already used): "
                "run `campaign-bot login` again and paste the new code it shows"
            ) from None
        self._token = str(token)
        return str(token)

    def rate_limit(self) -> RateLimit | None:
        """The X-RateLimit-* report of the last answer, if it had one."""
        return self._rate_limit

    # --- plumbing ---------------------------------------------------------------------------

    def _remember(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        self._last_response = response
        # Only the last answer's own report counts: an old one (say, a 429's two-hour reset)
        # must not hold back later requests on servers that send these headers only at times.
        self._rate_limit = rate_limit_of(response.headers)

    def _poll(self, poll: PollRequest | None) -> Any:
        if poll is None:
            return None
        multiple, hide = poll.multiple, poll.hide_totals
        return self._api.make_poll(list(poll.options), poll.expires_in, multiple, hide)

    def _last_status(self) -> int | None:
        return None if self._last_response is None else self._last_response.status_code

    def _last_error_message(self) -> str | None:
        # Mastodon.py raises on a 429 without the body, so read it from the response itself.
        return None if self._last_response is None else error_field(self._last_response)

    def _instance_document(self, path: str) -> dict[str, Any]:
        return instance_document(
            self._session,
            self.base_url + path,
            user_agent=self._user_agent,
            timeout=self._timeout,
            token=self._token,
        )

    @contextmanager
    def _translated(
        self, what: str, *, permanent: type[PermanentError] = PermanentError
    ) -> Iterator[None]:
        try:
            yield
        except MastodonRatelimitError as exc:
            if self._last_status() != 429:
                raise TransientError(
                    f"could not read the rate limit headers the instance sent for {what}"
                ) from exc
            raise self._error(429, self._last_error_message(), "Too Many Requests", what) from exc
        except MastodonNetworkError as exc:
            raise self._network_error(exc.__context__ or exc, what) from exc
        except MastodonAPIError as exc:
            args = exc.args
            if len(args) >= 4 and isinstance(args[1], int):
                message = args[3] if isinstance(args[3], str) else None
                reason = args[2] if isinstance(args[2], str) else None
                raise self._error(args[1], message, reason, what, permanent) from exc
            # Mastodon.py's only other shape: a body that is not JSON, status in the text.
            raise not_json(what, status_in_text(str(args[0]) if args else "")) from exc

    def _error(
        self,
        status: int,
        message: str | None,
        reason: str | None,
        what: str,
        permanent: type[PermanentError] = PermanentError,
    ) -> ApiError:
        return classify(
            status,
            message,
            reason,
            what,
            token=self._token,
            retry_at=self._rate_limit.reset_at if status == 429 and self._rate_limit else None,
            permanent=permanent,
        )

    def _network_error(self, exc: BaseException, what: str) -> TransientError:
        return network_error(exc, what, self.base_url, timeout=self._timeout, token=self._token)
