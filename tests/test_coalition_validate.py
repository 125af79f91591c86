"""Coalition campaigns in post files and the config: accounts, boosts and quotes, each checked
against the limits of the instance of the account that publishes it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest
from conftest import DEFAULT_CONFIG, MakeCampaign

from bot.campaign.loading import Campaign, load_campaign
from bot.config.settings import load_settings, read_access_token
from bot.core.clock import FakeClock
from bot.core.errors import ConfigError
from bot.core.limits import InstanceLimits
from bot.core.posts import FollowKind

ACCOUNTS = (
    DEFAULT_CONFIG
    + """\
accounts:
  lead: {instance: https://lead.example, access_token_file: ../secrets/lead}
  partner: {instance: https://partner.example, access_token_file: ../secrets/partner}
  ally: {instance: https://ally.example}
default_account: lead
"""
)
MASTODON_4_5 = InstanceLimits(quotes=True)


def check(
    make_campaign: MakeCampaign,
    clock: FakeClock,
    body: str,
    limits: Mapping[str, InstanceLimits] | None = None,
) -> Campaign:
    files = make_campaign({"a.yaml": body}, config=ACCOUNTS)
    settings = load_settings(files.config, env={})
    by_account = (
        dict(limits)
        if limits is not None
        else {n: MASTODON_4_5 for n in ("lead", "partner", "ally")}
    )
    return load_campaign(
        settings, InstanceLimits(), account_limits=by_account, published={}, now=clock.now()
    )


def rendered(campaign: Campaign) -> list[str]:
    return [p.render() for p in campaign.problems]


LAUNCH = """\
posts:
  - id: launch
    at: 2026-12-01 09:30
    text: Sign the petition https://petition.example.org/p
"""


def test_accounts_boosts_and_quotes_are_built(
    make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    body = (
        LAUNCH
        + """\
    boost: {by: [partner, ally], after: 10m}
    quote:
      - by: partner
        after: 30m
        text: We stand with the library campaign.
        hashtags: [Libraries]
"""
    )
    campaign = check(make_campaign, clock, body)
    assert campaign.problems == []
    [post] = campaign.posts
    assert post.account == "lead"
    boosts = [f for f in post.follow_ups if f.kind is FollowKind.BOOST]
    assert [(b.account, b.after) for b in boosts] == [
        ("partner", timedelta(minutes=10)),
        ("ally", timedelta(minutes=12)),
    ]
    [quote] = [f for f in post.follow_ups if f.kind is FollowKind.QUOTE]
    assert quote.account == "partner" and quote.after == timedelta(minutes=30)
    # Both follow the lead's post: where it lives decides whether they must look it up first.
    assert {f.of_account for f in post.follow_ups} == {"lead"}
    assert quote.part is not None
    assert quote.part.text == "We stand with the library campaign.\n\n#Libraries"
    assert quote.key("launch") == "launch~quote~partner"


def test_several_accounts_staggered(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    body = LAUNCH + "    accounts: [lead, partner]\n    stagger: 10m\n"
    campaign = check(make_campaign, clock, body)
    assert campaign.problems == []
    first, second = campaign.posts
    assert (first.id, first.account, second.id, second.account) == (
        "launch~lead", "lead", "launch~partner", "partner",
    )  # fmt: skip
    assert first.schedule.at is not None and second.schedule.at is not None
    assert second.schedule.at - first.schedule.at == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            "    account: nobody\n",
            "posts/a.yaml:5:14: error: posts[0].account: no account named 'nobody' — use one of "
            "lead, partner, ally (the config's `accounts:`)",
            id="unknown-account",
        ),
        pytest.param(
            "    boost: {by: [lead]}\n",
            "posts/a.yaml:5:18: error: posts[0].boost.by[0]: 'lead' publishes the post itself and "
            "cannot also boost it — remove 'lead' from `boost.by`",
            id="boost-by-own-account",
        ),
        pytest.param(
            "    boost: {by: [partnr]}\n",
            "posts/a.yaml:5:18: error: posts[0].boost.by[0]: no account named 'partnr' — use one "
            "of lead, partner, ally (the config's `accounts:`)",
            id="boost-by-unknown",
        ),
        pytest.param(
            "    quote: [{by: partner}]\n",
            "posts/a.yaml:5:13: error: posts[0].quote[0].text: a quote needs its own text — add "
            "`text:` with what the quoting account says about the post",
            id="quote-without-text",
        ),
        pytest.param(
            "    stagger: 5m\n",
            "posts/a.yaml:5:14: error: posts[0].stagger: `stagger` only applies with `accounts:` "
            "— remove `stagger`",
            id="stagger-alone",
        ),
    ],
)
def test_mistakes(make_campaign: MakeCampaign, clock: FakeClock, extra: str, expected: str) -> None:
    campaign = check(make_campaign, clock, LAUNCH + extra)
    assert rendered(campaign) == [expected]
    assert campaign.posts == []


def test_quote_on_an_instance_without_quotes(make_campaign: MakeCampaign, clock: FakeClock) -> None:
    """From the quoting account's instance information: before 4.5, no quote posts."""
    old = {"lead": MASTODON_4_5, "partner": InstanceLimits(quotes=False)}
    body = LAUNCH + "    quote: [{by: partner, text: Yes!}]\n"
    campaign = check(make_campaign, clock, body, old)
    assert rendered(campaign) == [
        "posts/a.yaml:5:18: error: posts[0].quote[0].by: the instance of 'partner' cannot "
        "publish quote posts (Mastodon 4.5+ can) — add `fallback: link` to post the text with the "
        "post's link instead, or remove the quote"
    ]
    fallback = check(
        make_campaign,
        clock,
        LAUNCH + "    quote: [{by: partner, text: Yes!, fallback: link}]\n",
        old,
    )
    assert [p.severity.value for p in fallback.problems] == ["warning"]
    assert fallback.posts[0].follow_ups[0].fallback_link


def test_each_post_checked_against_its_own_accounts_instance(
    make_campaign: MakeCampaign, clock: FakeClock
) -> None:
    """The partner's instance allows 100 characters: a 200-character post is fine from the lead,
    not from the partner, and a partner's quote is held to 100 as well."""
    limits = {"lead": MASTODON_4_5, "partner": InstanceLimits(max_characters=100, quotes=True)}
    long = "x" * 200
    body = f"""\
posts:
  - id: lead-post
    at: 2026-12-01 09:30
    text: {long}
    quote: [{{by: partner, text: {long}}}]
  - id: partner-post
    account: partner
    at: 2026-12-01 09:30
    text: {long}
"""
    problems = rendered(check(make_campaign, clock, body, limits))
    assert problems == [
        "posts/a.yaml:5:33: error: posts[0].quote[0].text: 200 characters; the limit is 100 — "
        "shorten it by 100 (each link counts 23), or continue in a `thread:` reply",
        "posts/a.yaml:9:11: error: posts[1].text: 200 characters; the limit is 100 — shorten it "
        "by 100 (each link counts 23), or continue in a `thread:` reply",
    ]


def test_config_accounts_and_tokens(make_campaign: MakeCampaign) -> None:
    files = make_campaign({}, config=ACCOUNTS)
    (files.config.parent.parent / "secrets").mkdir()
    (files.config.parent.parent / "secrets" / "partner").write_text("partner-token\n")
    (files.config.parent.parent / "secrets" / "partner").chmod(0o600)
    settings = load_settings(files.config, env={})
    assert settings.account_names() == ["lead", "partner", "ally"]
    assert settings.instance == "https://lead.example"
    env = {"MASTODON_ACCESS_TOKEN_ALLY": "ally-token", "MASTODON_ACCESS_TOKEN": "lead-token"}
    assert read_access_token(settings, env, "ally") == "ally-token"
    assert read_access_token(settings, env, "partner") == "partner-token"
    assert read_access_token(settings, env) == "lead-token"  # the default account


def test_top_level_instance_is_every_accounts_default(make_campaign: MakeCampaign) -> None:
    config = (
        DEFAULT_CONFIG
        + "instance: https://shared.example\naccess_token_file: ../secrets/lead\n"
        + "accounts: {lead: {}, partner: {instance: https://own.example}, ally: {}}\n"
    )
    settings = load_settings(make_campaign({}, config=config).config, env={})
    assert [settings.account(n).instance for n in ("lead", "partner", "ally")] == [
        "https://shared.example",
        "https://own.example",
        "https://shared.example",
    ]
    assert settings.account("lead").access_token_file is not None
    assert settings.account("ally").access_token_file is None


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            "accounts: {lead: {instance: https://a.example}}\ndefault_account: main\n",
            "default_account: no account named 'main' in `accounts:`",
            id="unknown-default",
        ),
        pytest.param(
            "accounts: {Lead Org: {instance: https://a.example}}\n",
            "'Lead Org' is not a usable account name",
            id="bad-name",
        ),
    ],
)
def test_config_mistakes(make_campaign: MakeCampaign, config: str, expected: str) -> None:
    files = make_campaign({}, config=DEFAULT_CONFIG + config)
    with pytest.raises(ConfigError) as caught:
        load_settings(files.config, env={})
    assert any(expected in p.render() for p in caught.value.problems), [
        p.render() for p in caught.value.problems
    ]
