"""The boosts and quotes of a coalition campaign as occurrences of their own: when they are
planned, under which key, as which post, and which account a key in the ledger belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.posts import CampaignPost, FollowKind, FollowUp, Part, Schedule
from bot.core.states import State
from bot.schedule.followups import account_of_key, follow_up_post, follow_up_times, only_copy
from bot.schedule.planner import Occurrence

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
CATCH_UP = timedelta(hours=1)
FIRST = Part(0, "Sign the petition", None, False, "public", "en", (), None, 17)
SECOND = Part(1, "Why it matters", None, False, "public", "en", (), None, 14)
QUOTE_PART = Part(0, "We back this.", None, False, "public", "en", (), None, 13)
BOOST = FollowUp(FollowKind.BOOST, "partner", timedelta(minutes=5), of_account="lead")
QUOTE = FollowUp(FollowKind.QUOTE, "ally", timedelta(minutes=10), QUOTE_PART, of_account="lead")
SECOND_QUOTE = FollowUp(
    FollowKind.QUOTE, "ally", timedelta(minutes=20), QUOTE_PART, index=1, of_account="lead"
)
THREAD = CampaignPost(
    "launch",
    "posts/a.yaml",
    2,
    0,
    Schedule(at=AT),
    None,
    (FIRST, SECOND),
    content_hash="launch-hash",
    account="lead",
    follow_ups=(BOOST, QUOTE, SECOND_QUOTE),
)


@dataclass
class Seen:
    state: State


def planned(post: CampaignPost = THREAD, at: datetime = AT, key: str = "launch") -> Occurrence:
    return Occurrence(key, post, at, at + CATCH_UP, State.PENDING)


def test_a_boost_is_its_own_post_sharing_the_first_status_of_a_thread() -> None:
    boost = follow_up_post(THREAD, BOOST)
    assert boost.id == "launch~boost~partner"
    assert boost.account == "partner"
    assert boost.parts == (FIRST,)  # the status it shares: the thread's first, alone
    assert boost.follows == BOOST
    assert boost.follow_ups == ()  # a boost is not boosted in turn
    # Its own content, not the post's: it is never held back as a repeat of the post it shares.
    assert boost.content_hash == ""
    assert (boost.file, boost.line, boost.schedule) == (THREAD.file, THREAD.line, THREAD.schedule)


def test_a_quote_is_its_own_post_with_its_own_text() -> None:
    quote = follow_up_post(THREAD, SECOND_QUOTE)
    assert quote.id == "launch~quote~ally~1"
    assert quote.account == "ally"
    assert quote.parts == (QUOTE_PART,)
    assert quote.follows == SECOND_QUOTE
    assert quote.follow_ups == ()
    assert quote.content_hash == ""


def test_follow_ups_are_planned_after_the_post_within_the_window() -> None:
    """Each boost and quote is planned `after` its post, under the post's key plus its suffix,
    with the state the ledger knows (pending when it knows none); the window's ends count."""
    ledger = {"launch~quote~ally": Seen(State.PUBLISHED)}
    found = list(
        follow_up_times(
            [planned()], ledger, AT + timedelta(minutes=5), AT + timedelta(minutes=20), CATCH_UP
        )
    )
    assert [(key, post.id, at, state) for key, post, at, _deadline, state in found] == [
        ("launch~boost~partner", "launch~boost~partner", AT + timedelta(minutes=5), State.PENDING),
        ("launch~quote~ally", "launch~quote~ally", AT + timedelta(minutes=10), State.PUBLISHED),
        ("launch~quote~ally~1", "launch~quote~ally~1", AT + timedelta(minutes=20), State.PENDING),
    ]
    assert [post.follows for _key, post, _at, _deadline, _state in found] == [
        BOOST,
        QUOTE,
        SECOND_QUOTE,
    ]


def test_follow_ups_outside_the_window_are_left_out_and_the_others_kept() -> None:
    """A follow-up before `start` does not end the look at the post's later ones, nor at the
    next occurrence's; one after `end` is left out."""
    later = planned(at=AT + timedelta(days=7), key="launch@2")
    keys = [
        key
        for key, *_rest in follow_up_times(
            [planned(), later],
            {},
            AT + timedelta(minutes=6),
            AT + timedelta(days=7, minutes=9),
            CATCH_UP,
        )
    ]
    assert keys == ["launch~quote~ally", "launch~quote~ally~1", "launch@2~boost~partner"]


def test_the_runner_never_misses_a_follow_up_itself() -> None:
    """Its deadline is left open: whether a late boost still goes out is the publisher's call
    (from when the post really went out), with the reason it gives."""
    [(_key, _post, at, deadline, _state)] = list(
        follow_up_times(
            [planned(replace_follow_ups(BOOST))], {}, AT, AT + timedelta(days=1), CATCH_UP
        )
    )
    assert deadline - at > timedelta(days=3000)


def replace_follow_ups(*follows: FollowUp) -> CampaignPost:
    return CampaignPost(
        THREAD.id,
        THREAD.file,
        THREAD.line,
        THREAD.order,
        THREAD.schedule,
        None,
        THREAD.parts,
        account="lead",
        follow_ups=follows,
    )


def test_the_account_a_ledger_key_belongs_to() -> None:
    owners = {"launch": "", "story": "partner"}

    def owner(key: str, post_id: str) -> str:
        return account_of_key(key, post_id, owners, "lead")

    # A boost's or quote's account is in its key, whatever its post id says.
    assert owner("launch~boost~partner", "launch~boost~partner") == "partner"
    assert owner("launch~quote~ally", "launch") == "ally"
    assert owner("launch~quote~ally~1", "launch") == "ally"  # the second quote by one account
    assert owner("joint~lead~boost~ally", "joint~lead") == "ally"
    assert owner("weekly~lead@2026-12-06T12:00:00Z~quote~ally~2", "weekly~lead") == "ally"
    # A post's: the one its file names, or the default account.
    assert owner("story", "story") == "partner"
    assert owner("story@2026-12-06T12:00:00Z", "story") == "partner"
    assert owner("launch", "launch") == "lead"
    assert owner("gone", "gone") == "lead"  # no longer in the files
    # One copy of a post from several accounts: the account is in its id.
    assert owner("joint~partner", "joint~partner") == "partner"
    assert owner("weekly~ally@2026-12-06T12:20:00Z", "weekly~ally") == "ally"


def test_only_copy_names_the_copy_followed_and_the_ones_not() -> None:
    assert only_copy(BOOST) == ""  # a post from one account
    one = FollowUp(
        FollowKind.BOOST, "ally", timedelta(minutes=5), of_account="lead", of_copies=("lead",)
    )
    assert only_copy(one) == ""
    two = FollowUp(
        FollowKind.BOOST,
        "ally",
        timedelta(minutes=5),
        of_account="lead",
        of_copies=("lead", "partner"),
    )
    assert only_copy(two) == (
        " (of @lead's copy only, not @partner's; skipped if that copy never goes out)"
    )
    three = FollowUp(
        FollowKind.QUOTE,
        "ally",
        timedelta(minutes=5),
        QUOTE_PART,
        of_account="lead",
        of_copies=("lead", "partner", "friends"),
    )
    assert only_copy(three) == (
        " (of @lead's copy only, not @partner, @friends's; skipped if that copy never goes out)"
    )
