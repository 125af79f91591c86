"""`amend`, `withdraw` and `status ID`: keeping what followers see in step with the post files."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from bot.cli.campaign_commands import planned
from bot.core.errors import CampaignBotError, UsageError
from bot.core.posts import ScheduleKind
from bot.core.published import FieldChange
from bot.core.states import State
from bot.core.timespec import to_zone
from bot.core.words import counted
from bot.publishing.drift import PartDrift, PostDrift, find_drift
from bot.publishing.withdraw import Withdrawer, published_parts
from bot.service.app import App
from bot.service.living import make_amender
from bot.storage.amendments import Amendments
from bot.storage.records import OccurrenceRecord


def register(commands: Any) -> None:
    amend = commands.add_parser(
        "amend", help="edit published posts so they say what their files say now"
    )
    amend.add_argument(
        "post_id", nargs="?", metavar="ID", help="the post to amend, or one occurrence's key"
    )
    amend.add_argument("--all", action="store_true", help="amend every changed post")
    amend.add_argument(
        "--part", type=int, metavar="N", help="only part N (1 is the post, 2 its first reply)"
    )
    amend.add_argument("--yes", action="store_true", help="do not ask before editing")
    amend.add_argument("--dry-run", action="store_true", help="show the changes, edit nothing")
    amend.add_argument(
        "--reset-poll", action="store_true", help="replace a changed poll (its votes are lost)"
    )
    amend.set_defaults(handler=run_amend)

    withdraw = commands.add_parser(
        "withdraw", help="delete a published post (a thread: every part), or cancel a planned one"
    )
    withdraw.add_argument("post_id", metavar="ID", help="a post id, or an occurrence key")
    withdraw.add_argument("--yes", action="store_true", help="do not ask before deleting")
    withdraw.set_defaults(handler=run_withdraw)


def run_amend(args: argparse.Namespace) -> int:
    app: App = args.app
    if bool(args.post_id) == bool(args.all):
        raise UsageError("name one post (`campaign-bot amend ID`) or use `--all`")
    if args.part is not None and args.part < 1:
        raise UsageError("--part counts from 1 (the post); 2 is its first reply")
    campaign = app.campaign(online=False)
    # An occurrence key (`status` shows them) is the post's id, `@` and its time.
    post_id = str(args.post_id or "").partition("@")[0]
    if args.post_id and post_id not in campaign.by_id():
        raise UsageError(
            f"no valid post with id {post_id!r} in the files: "
            "`campaign-bot validate` shows what is wrong with it"
        )
    ledger = app.ledger_if_exists()
    if ledger is None:
        print("nothing is published yet: there is nothing to amend")
        return 0
    with ledger:
        store = Amendments(ledger, app.clock)
        drifts = find_drift(campaign.posts, ledger, store)
        if args.post_id:
            # A repeating post's id names every occurrence already out; a key, that one.
            drifts = [d for d in drifts if args.post_id in (d.post.id, d.record.key)]
            out = [
                r
                for r in ledger.for_post(post_id)
                if r.state is State.PUBLISHED and args.post_id in (r.key, r.post_id)
            ]
            if not out:
                raise UsageError(f"{args.post_id} is not published: there is nothing to amend")
        drifts = [d for d in drifts if _wanted_parts(d, args.part)]
        if not drifts:
            print("followers already see what the files say: nothing to amend")
            return 0
        for drift in drifts:
            for line in describe(drift, reset_poll=args.reset_poll, part=args.part):
                print(line)
        if args.dry_run:
            print("dry run: nothing was edited")
            return 0
        edits = sum(len(_wanted_parts(d, args.part)) for d in drifts)
        if not args.yes and not _confirm(f"Edit {edits} published statuses on the instance?"):
            print("nothing was edited")
            return 1
        amender = make_amender(app, ledger)
        amender.check_server()
        failed = 0
        for drift in drifts:
            parts = None if args.part is None else {args.part}
            for outcome in amender.amend(drift, reset_poll=args.reset_poll, parts=parts):
                number = outcome.index + 1
                said = {
                    "edited": "edited",
                    "found": "already showed the new version (not edited again)",
                    "unchanged": "left as it is (nothing an edit can change)",
                    "gone": "is gone from the instance (deleted?): not edited",
                    "failed": f"NOT edited: {outcome.detail}",
                }[outcome.result]
                print(f"{drift.record.key} part {number} {said}: {outcome.url}")
                failed += outcome.result == "failed"
    if failed:
        raise CampaignBotError(
            f"{failed} edits failed; run the same command again: it reads each status back "
            "first and edits only what is not there yet"
        )
    return 0


def run_withdraw(args: argparse.Namespace) -> int:
    app: App = args.app
    campaign = app.campaign(online=False)
    with app.ledger() as ledger:
        record = ledger.get(args.post_id)
        if record is None:
            mine = ledger.for_post(args.post_id)
            if len(mine) > 1:
                raise UsageError(
                    f"{args.post_id} repeats: withdraw one occurrence by its key ("
                    + ", ".join(r.key for r in mine[:5])
                    + "), or remove the post from the files to stop the ones to come"
                )
            record = mine[0] if mine else None
        post = campaign.by_id().get(record.post_id if record else args.post_id)
        if record is None and post is None:
            raise UsageError(f"no post {args.post_id!r} in the files or the ledger")
        if record is None:
            assert post is not None
            if post.schedule.kind is ScheduleKind.CRON:
                raise UsageError(
                    f"{post.id} repeats: remove it from the files to stop the occurrences to come"
                )
            now = app.clock.now()
            upcoming = planned(app, now, now + timedelta(days=400), online=False, campaign=campaign)
            key, post_id = post.id, post.id
            planned_at = next((o.planned_at for o in upcoming if o.key == key), now)
        else:
            key, post_id, planned_at = record.key, record.post_id, record.planned_at
        parts = published_parts(record)
        if parts:
            print(
                f"Delete {counted(len(parts), 'status', 'statuses')} of {key} from the instance"
                + (" (replies first):" if len(parts) > 1 else ":")
            )
            for _, _, url in parts:
                print(f"    {url}")
        else:
            print(f"Cancel {key}: it will not be published.")
        if not args.yes and not _confirm("Withdraw it?"):
            print("nothing was withdrawn")
            return 1
        client = app.client() if parts else None
        withdrawer = Withdrawer(client, Amendments(ledger, app.clock), app.clock)
        done = withdrawer.withdraw(key, post_id, planned_at, record)
    if done.cancelled:
        print(f"{key} is withdrawn: it will not be published")
    for url in done.deleted:
        print(f"deleted {url}")
    for url in done.already_gone:
        print(f"already gone from the instance: {url}")
    if not done.cancelled:
        print(f"{key} is withdrawn")
    return 0


def _wanted_parts(drift: PostDrift, part: int | None) -> list[PartDrift]:
    return [p for p in drift.parts if part is None or p.number == part]


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise UsageError(f"{question} Add --yes to confirm without being asked")
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def describe(drift: PostDrift, *, reset_poll: bool, part: int | None = None) -> list[str]:
    """What followers see now and what they will see, per part and field."""
    lines = []
    for changed in _wanted_parts(drift, part):
        lines.append(f"{drift.record.key} part {changed.number}: {changed.url}")
        for change in changed.changes:
            lines.extend(_change_lines(change, reset_poll))
    for note in drift.notes:
        lines.append(f"{drift.record.key}: {note}")
    return lines


def _change_lines(change: FieldChange, reset_poll: bool) -> list[str]:
    if not change.editable:
        return [
            f"  {change.field}: {change.before} → {change.after} — an edit cannot change "
            f"the {change.field}; it stays as it is"
        ]
    head = f"  {change.field}:"
    if change.resets_votes:
        head += (
            " replaced; its votes are lost"
            if reset_poll
            else " stays as it is (add --reset-poll to replace it; its votes are lost)"
        )
    lines = [head]
    lines += [f"    - {line}" for line in change.before.splitlines() or [""]]
    lines += [f"    + {line}" for line in change.after.splitlines() or [""]]
    return lines


def show_history(app: App, post_id: str, records: list[OccurrenceRecord], *, as_json: bool) -> int:
    """`status ID`: each occurrence of the post with every event of its history."""
    mine = [r for r in records if r.post_id == post_id or r.key == post_id]
    if not mine:
        raise UsageError(f"{post_id!r} is not in the ledger (see `campaign-bot status`)")
    ledger = app.ledger_if_exists()
    assert ledger is not None
    zone = app.settings.zone
    with ledger:
        history = {r.key: ledger.events(r.key) for r in mine}
    if as_json:
        body = [
            {
                "key": r.key,
                "state": r.state.value,
                "urls": r.urls(),
                "history": [
                    {
                        "at": e.at.isoformat(),
                        "part": None if e.part_index is None else e.part_index + 1,
                        "kind": e.kind,
                        "detail": e.detail,
                    }
                    for e in history[r.key]
                ],
            }
            for r in mine
        ]
        print(json.dumps({"occurrences": body}, indent=2, ensure_ascii=False))
        return 0
    for record in mine:
        print(f"{record.key}  {record.state}  {to_zone(record.planned_at, zone)}")
        for url in record.urls():
            print(f"    {url}")
        for event in history[record.key]:
            part = "" if event.part_index is None else f"part {event.part_index + 1} "
            when = to_zone(event.at, zone)
            print(f"  {when:22} {part}{event.kind}: {event.detail}".rstrip(": "))
    return 0
