"""The ledger belongs to one account on one instance: the one it was written for.

A token for another account must not publish "from" this ledger (its records say what that other
account never posted), nor overwrite whose ledger it is. The binding is kept in the meta table
under one key per account name, so that a ledger may later hold several accounts; the bot's one
account today is named `default`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.storage.ledger import Ledger
from bot.storage.migrations import LedgerError

DEFAULT_ACCOUNT = "default"
# Written by earlier versions: "acct id on instance", informational and overwritten on each start.
LEGACY_KEY = "account"


class AccountMismatch(LedgerError):
    """The token belongs to another account than the one the ledger was written for."""


@dataclass(frozen=True, slots=True)
class Binding:
    instance: str
    account_id: str
    acct: str

    def describe(self) -> str:
        return f"@{self.acct} (account id {self.account_id}) on {self.instance}"

    def same_account(self, other: Binding) -> bool:
        return (
            self.instance.rstrip("/").casefold() == other.instance.rstrip("/").casefold()
            and self.account_id == other.account_id
        )


def meta_key(name: str = DEFAULT_ACCOUNT) -> str:
    return f"account:{name}"


def read_binding(ledger: Ledger, name: str = DEFAULT_ACCOUNT) -> Binding | None:
    raw = ledger.get_meta(meta_key(name))
    if raw is not None:
        try:
            body = json.loads(raw)
            return Binding(str(body["instance"]), str(body["account_id"]), str(body["acct"]))
        except (ValueError, KeyError, TypeError):
            return None
    legacy = ledger.get_meta(LEGACY_KEY) if name == DEFAULT_ACCOUNT else None
    if legacy is not None:
        # "acct id on instance"
        who, _, instance = legacy.partition(" on ")
        acct, _, account_id = who.rpartition(" ")
        if acct and account_id and instance:
            return Binding(instance, account_id, acct)
    return None


def write_binding(ledger: Ledger, binding: Binding, name: str = DEFAULT_ACCOUNT) -> None:
    body = {"instance": binding.instance, "account_id": binding.account_id, "acct": binding.acct}
    ledger.set_meta(meta_key(name), json.dumps(body, sort_keys=True))


def check_binding(ledger: Ledger, current: Binding, name: str = DEFAULT_ACCOUNT) -> None:
    """Bind a ledger that is not bound yet; refuse one written for another account."""
    bound = read_binding(ledger, name)
    if bound is None:
        write_binding(ledger, current, name)
        return
    if not bound.same_account(current):
        raise AccountMismatch(
            f"{ledger.path}: this ledger belongs to {bound.describe()}, but the access token is "
            f"for {current.describe()}; nothing is published. Use the token of "
            f"@{bound.acct}, or, if the campaign has really moved to the new account, run "
            "`campaign-bot ledger rebind` (its records stay, and say what the old account posted)"
        )
    if bound != current:
        write_binding(ledger, current, name)  # the same account, renamed: keep its name fresh
