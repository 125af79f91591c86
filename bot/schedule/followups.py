"""The boosts and quotes of a coalition campaign as occurrences of their own.

Each follows one occurrence of a campaign post: its key is that occurrence's key plus the
follow-up's suffix (`launch~boost~partner`), and it is planned `after` the post's planned time.
When it really goes out, or is skipped or missed, depends on when (and whether) the post went
out: the publisher decides that from the ledger, so its deadline here is left open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.posts import CampaignPost, FollowKind, FollowUp
from bot.core.states import State

# Far enough that the runner never records a follow-up as missed itself: the publisher does,
# with the reason (the post never went out, or the follow-up came too late after it).
OPEN = timedelta(days=3650)


class _Planned(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def post(self) -> CampaignPost: ...
    @property
    def planned_at(self) -> datetime: ...
    @property
    def deadline(self) -> datetime: ...


class _Seen(Protocol):
    @property
    def state(self) -> State: ...


def follow_up_post(post: CampaignPost, follow: FollowUp) -> CampaignPost:
    """The boost or quote as a post of its own: a quote has its own text; a boost shows the
    status it shares (the first of a thread)."""
    return replace(
        post,
        id=post.id + follow.suffix,
        account=follow.account,
        parts=(follow.part,) if follow.part is not None else post.parts[:1],
        follow_ups=(),
        follows=follow,
        content_hash="",
    )


def follow_up_times(
    planned: Iterable[_Planned],
    ledger: Mapping[str, _Seen],
    start: datetime,
    end: datetime,
    catch_up: timedelta,
) -> Iterable[tuple[str, CampaignPost, datetime, datetime, State]]:
    """(key, post, planned_at, deadline, state) of every follow-up planned in [start, end]."""
    for occurrence in planned:
        for follow in occurrence.post.follow_ups:
            at = occurrence.planned_at + follow.after
            if not start <= at <= end:
                continue
            key = follow.key(occurrence.key)
            seen = ledger.get(key)
            deadline = occurrence.deadline + follow.after + catch_up + OPEN
            state = seen.state if seen is not None else State.PENDING
            yield key, follow_up_post(occurrence.post, follow), at, deadline, state


def account_of_key(key: str, post_id: str, accounts: Mapping[str, str], default: str) -> str:
    """The account an occurrence in the ledger belongs to: a boost's or quote's is in its key
    (`ID~boost~NAME`, `ID~quote~NAME~1`), one copy's of a post from several accounts is in its
    id (`ID~NAME`), a post's is the one its file names (`accounts`: post id to account name,
    "" for the default account)."""
    parts = key.split("~")
    if parts[-1].isdigit():  # the second quote by one account: ID~quote~NAME~1
        parts = parts[:-1]
    if len(parts) >= 3 and parts[-2] in {str(kind) for kind in FollowKind}:
        return parts[-1]
    named = accounts.get(post_id)
    if named is None and "~" in post_id:
        named = post_id.rsplit("~", 1)[1]
    return named or default


def only_copy(follow: FollowUp) -> str:
    """What a boost or quote of a post from several accounts follows: the first one's copy
    (said by `plan` and `rehearse`)."""
    if len(follow.of_copies) < 2:
        return ""
    others = ", ".join(f"@{name}" for name in follow.of_copies[1:])
    return (
        f" (of @{follow.of_account}'s copy only, not {others}'s; skipped if that copy never "
        "goes out)"
    )
