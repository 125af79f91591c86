"""The shape of campaign files and the config, as Pydantic models.

These models check structure (known keys, types, closed sets). Rules that need the instance's
limits, the files on disk or the time zone live in `bot.rules`. Field descriptions feed both the
JSON Schema (`campaign-bot schema`) and the README's reference.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Visibility(StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"
    DIRECT = "direct"


Duration = Annotated[
    str | int,
    Field(description="A duration such as `30m`, `2h`, `1d`, `1w` (a bare number is seconds)."),
]


class Media(Strict):
    file: str = Field(
        description="Path of the image, video or audio file, relative to the posts directory."
    )
    alt: str | None = Field(
        default=None,
        description="Alt text: what the image shows, for people who cannot see it. Required by "
        "default.",
    )
    focus: tuple[float, float] | None = Field(
        default=None,
        description="Focal point `[x, y]`, each from -1 to 1 (0,0 is the centre), so previews "
        "crop around it.",
    )

    @field_validator("focus", mode="before")
    @classmethod
    def _focus_from_text(cls, value: Any) -> Any:
        if isinstance(value, str) and "," in value:
            return tuple(part.strip() for part in value.split(",", 1))
        return value


class Poll(Strict):
    options: list[str] = Field(description="The choices, 2 to the instance's maximum (usually 4).")
    expires_in: Duration = Field(default="1d", description="How long the poll stays open.")
    multiple: bool = Field(default=False, description="Allow choosing more than one option.")
    hide_totals: bool = Field(default=False, description="Hide vote counts until the poll ends.")


class Reply(Strict):
    text: str | None = Field(default=None, description="The reply's text.")
    hashtags: list[str] = Field(default_factory=list, description="Hashtags for this reply.")
    cw: str | None = Field(
        default=None,
        description='Content warning for this reply; by default the post\'s own. `""` removes it.',
    )
    sensitive: bool | None = Field(default=None, description="Mark this reply's media sensitive.")
    media: list[Media] = Field(default_factory=list, description="Images, video or audio.")
    poll: Poll | None = Field(default=None, description="A poll in this reply.")


class Defaults(Strict):
    hashtags: list[str] = Field(
        default_factory=list,
        description="Hashtags added to every post (after the post's own), on the last line.",
    )
    cw: str | None = Field(default=None, description="Content warning for every post.")
    sensitive: bool | None = Field(default=None, description="Mark media sensitive.")
    visibility: Visibility | None = Field(
        default=None, description="`public`, `unlisted`, `private` or `direct`."
    )
    language: str | None = Field(default=None, description="ISO 639-1 code, e.g. `en`.")
    not_after: str | int | None = Field(
        default=None, description="How late a post may still go out (a duration)."
    )


ACCOUNT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class BoostSpec(Strict):
    by: list[str] = Field(
        description="The accounts (names from the config's `accounts:`) that boost the post."
    )
    after: Duration | None = Field(
        default=None,
        description="How long after the post is published the first boost goes out (default "
        "`5m`); several accounts follow each other 2 minutes apart.",
    )

    @field_validator("by", mode="before")
    @classmethod
    def _one_name(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class QuoteSpec(Strict):
    by: str = Field(description="The account (from the config's `accounts:`) that quotes.")
    after: Duration | None = Field(
        default=None, description="How long after the post is published (default `15m`)."
    )
    text: str | None = Field(default=None, description="The quoting account's own words.")
    hashtags: list[str] = Field(default_factory=list, description="Hashtags for the quote.")
    fallback: str | None = Field(
        default=None,
        pattern=r"^link$",
        description="`link`: where the instance cannot quote, post the text with the post's "
        "link instead. Without it such a quote is reported, not posted.",
    )


class Post(Strict):
    id: str = Field(
        pattern=SLUG_PATTERN,
        description="Unique name of the post (lower-case letters, digits, `-`, `_`, `.`). "
        "It is how the bot knows a post was already published: do not change it once published.",
    )
    at: str | None = Field(
        default=None,
        description="When to publish: `2026-12-01 09:30` (campaign time zone) or ISO 8601 with "
        "an offset.",
    )
    cron: str | None = Field(
        default=None,
        description="Publish repeatedly on a five-field cron schedule, e.g. `30 9 * * mon`.",
    )
    from_: str | None = Field(
        default=None, alias="from", description="With `cron`: first day or time it applies."
    )
    until: str | None = Field(default=None, description="With `cron`: last day or time.")
    not_after: str | int | None = Field(
        default=None,
        description="Latest it may go out if the bot was down: a time, or a duration after the "
        "planned time. Default: the config's `catch_up`.",
    )
    text: str | None = Field(default=None, description="The text of the post.")
    hashtags: list[str] = Field(
        default_factory=list,
        description="Hashtags without `#`, added on their own last line unless the text has them.",
    )
    cw: str | None = Field(default=None, description="Content warning (shown before the text).")
    sensitive: bool | None = Field(
        default=None, description="Mark media sensitive (always true with a content warning)."
    )
    visibility: Visibility | None = Field(
        default=None, description="`public`, `unlisted`, `private` or `direct`."
    )
    language: str | None = Field(default=None, description="ISO 639-1 code, e.g. `en`.")
    media: list[Media] = Field(default_factory=list, description="Images, video or audio.")
    poll: Poll | None = Field(default=None, description="A poll.")
    repeat: bool = Field(
        default=False,
        description="A deliberate repeat of a post already published under another id: publish "
        "it although the same content went out in the last week.",
    )
    thread: list[Reply] = Field(
        default_factory=list, description="Replies posted under the post, in order."
    )
    account: str | None = Field(
        default=None,
        description="Which account publishes it (a name from the config's `accounts:`). "
        "Default: the config's `default_account`.",
    )
    accounts: list[str] = Field(
        default_factory=list,
        description="Publish the same post from each of these accounts, each on its own.",
    )
    stagger: Duration | None = Field(
        default=None,
        description="With `accounts:`: the time between one account's copy and the next.",
    )
    boost: BoostSpec | None = Field(
        default=None, description="Accounts that boost the post after it is published."
    )
    quote: list[QuoteSpec] = Field(
        default_factory=list,
        description="Accounts that publish their own post quoting this one.",
    )


class PostFile(Strict):
    defaults: Defaults | None = Field(
        default=None, description="Values applied to every post in this file."
    )
    # Each post is checked on its own, so one that is not a mapping does not hide the others.
    posts: list[Any] = Field(description="The posts of this file.")


class LimitsOverride(Strict):
    max_characters: int | None = Field(default=None, gt=0)
    max_media_attachments: int | None = Field(default=None, gt=0)
    characters_reserved_per_url: int | None = Field(default=None, gt=0)
    description_limit: int | None = Field(default=None, gt=0)
    supported_mime_types: list[str] | None = None
    image_size_limit: int | None = Field(default=None, gt=0)
    video_size_limit: int | None = Field(default=None, gt=0)
    poll_max_options: int | None = Field(default=None, gt=1)
    poll_max_characters_per_option: int | None = Field(default=None, gt=0)
    poll_min_expiration: int | None = Field(default=None, ge=0)
    poll_max_expiration: int | None = Field(default=None, gt=0)
    poll_with_media: bool | None = None
    max_thread_length: int | None = Field(default=None, gt=0)


class Alerts(Strict):
    webhook: str | None = Field(
        default=None, description="URL that receives a JSON POST for each failure."
    )
    direct_message: str | None = Field(
        default=None,
        description="Account to send a direct message to on failure, e.g. `@ops@example.org`.",
    )
    outage_after: Duration = Field(
        default="5m",
        description="Alert when the instance has been failing for longer than this (and again "
        "when it is back).",
    )


class AccountConfig(Strict):
    instance: str | None = Field(default=None, description="Base URL of the account's instance.")
    access_token_file: str | None = Field(
        default=None,
        description="File holding the account's access token (mode 0600). "
        "`MASTODON_ACCESS_TOKEN_<NAME>` overrides it.",
    )


class ConfigFile(Strict):
    instance: str | None = Field(
        default=None,
        description="Base URL of the Mastodon instance, e.g. `https://mastodon.example`. "
        "`MASTODON_BASE_URL` overrides it.",
    )
    access_token_file: str | None = Field(
        default=None,
        description="File holding the access token (mode 0600). `MASTODON_ACCESS_TOKEN` overrides "
        "it. Never put the token itself in this file.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone of the campaign's times.")
    posts_dir: str = Field(default="posts", description="Folder of post files.")
    data_dir: str = Field(default="data", description="Folder for the ledger and caches.")
    defaults: Defaults = Field(
        default_factory=Defaults, description="Values applied to every post."
    )
    catch_up: Duration = Field(
        default="1h",
        description="How late a missed post may still go out after downtime; later ones are "
        "recorded as missed.",
    )
    slots: list[str] = Field(
        default_factory=list,
        description="Weekly times for posts without `at`/`cron`, e.g. `mon-fri 09:30`, "
        "`daily 18:00`, `sat,sun 11:00`.",
    )
    require_alt_text: bool = Field(default=True, description="Refuse images without alt text.")
    limits: LimitsOverride = Field(
        default_factory=LimitsOverride,
        description="Override the limits read from the instance.",
    )
    idempotency_keys: str = Field(
        default="auto",
        pattern=r"^(auto|honoured|ignored)$",
        description="Whether the server honours Idempotency-Key: `auto` (Mastodon does, others "
        "are checked against recent posts), `honoured` or `ignored`.",
    )
    request_timeout: Duration = Field(default="30s", description="Timeout of each request.")
    amend: str = Field(
        default="manual",
        pattern=r"^(manual|alt-text|auto)$",
        description="What the running bot edits by itself when a published post's file "
        "changes: `manual` (nothing: run `campaign-bot amend`), `alt-text` (alt text and focus "
        "only) or `auto` (every change an edit can make).",
    )
    alerts: Alerts = Field(default_factory=Alerts, description="Who to tell when a post fails.")
    accounts: dict[str, AccountConfig] = Field(
        default_factory=dict,
        description="Several accounts, by short name: `{instance, access_token_file}` each.",
    )
    default_account: str | None = Field(
        default=None,
        description="The account that publishes posts that name none (default: the first).",
    )


class PostFileSchema(Strict):
    """The post file as editors see it (the loader checks posts one by one instead)."""

    model_config = ConfigDict(
        extra="forbid",
        title="campaign-bot post file",
        json_schema_extra={"description": "A file of posts for campaign-bot, under `posts/`."},
    )
    defaults: Defaults | None = Field(default=None, description="Values applied to every post.")
    posts: list[Post] = Field(description="The posts of this file.")


def post_file_schema() -> dict[str, Any]:
    schema = PostFileSchema.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
