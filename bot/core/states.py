"""The state vocabulary: where an occurrence stands in the ledger, which changes each state
allows, and what one attempt to publish came to. Every "is it done?" question is answered here."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """Where one occurrence of a post stands in the ledger."""

    PENDING = "pending"  # planned and not out yet, or to be tried again
    SENDING = "sending"  # a send began: some parts may be on the instance
    PUBLISHED = "published"
    FAILED = "failed"  # refused for good; waits for an operator's `retry`
    MISSED = "missed"  # its window passed before it could go out
    WITHDRAWN = "withdrawn"  # taken back by an operator: deleted from the instance, or never sent

    @property
    def settled(self) -> bool:
        """Nothing more will be sent for it unless an operator steps in."""
        return self in SETTLED


SETTLED = frozenset({State.PUBLISHED, State.FAILED, State.MISSED, State.WITHDRAWN})


class Change(StrEnum):
    """A change the ledger makes to an occurrence's state."""

    SEND = "send"
    PUBLISH = "mark published"
    FAIL = "mark failed"
    RETRY_LATER = "put back to pending"
    MISS = "mark missed"
    RETRY = "retry"
    WITHDRAW = "withdraw"


# The one table of allowed transitions: the states each change may start from. The ledger
# refuses any other with a LedgerError.
ALLOWED_FROM: dict[Change, frozenset[State]] = {
    Change.SEND: frozenset({State.PENDING, State.SENDING, State.FAILED}),
    Change.PUBLISH: frozenset(set(State) - {State.PUBLISHED, State.WITHDRAWN}),
    Change.FAIL: frozenset({State.PENDING, State.SENDING, State.FAILED}),
    Change.RETRY_LATER: frozenset({State.PENDING, State.SENDING}),
    Change.MISS: frozenset({State.PENDING, State.SENDING, State.FAILED, State.MISSED}),
    Change.RETRY: frozenset({State.FAILED, State.MISSED}),
    # `sending` is left out: a send may be under way, and what it leaves must be seen first.
    Change.WITHDRAW: frozenset({State.PENDING, State.PUBLISHED, State.FAILED, State.MISSED}),
}


class Result(StrEnum):
    """What one attempt to publish an occurrence came to."""

    PUBLISHED = "published"
    ALREADY_PUBLISHED = "already-published"
    FAILED = "failed"
    DEFERRED = "deferred"  # a transient failure: the occurrence stays pending
    # The instance is failing (an outage): not sent, or sent and failed; stays pending until
    # the instance answers again or the deadline passes.
    UNAVAILABLE = "instance-unavailable"
    NOT_SENT = "not-sent"  # the ledger had settled it as failed or missed
    DRY_RUN = "dry-run"
