"""`pause`, `resume` and `health`: talking to a running bot through files in `data_dir`."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.core.errors import CampaignBotError
from bot.core.states import State
from bot.core.timespec import to_zone
from bot.core.words import counted
from bot.schedule.followups import account_of_key
from bot.service.app import App
from bot.storage import control
from bot.storage.lock import held_by_another

# An occurrence in `sending` longer than this means a publish is stuck, not merely slow.
STUCK_AFTER = timedelta(minutes=10)


def register(commands: Any) -> None:
    pause = commands.add_parser("pause", help="stop publishing until `resume`")
    pause.add_argument("--reason", default="paused by the operator", help="shown in the logs")
    pause.set_defaults(handler=run_pause)
    resume = commands.add_parser(
        "resume", help="publish again (missed posts follow catch-up rules)"
    )
    resume.set_defaults(handler=run_resume)
    health = commands.add_parser("health", help="exit 0 if the running bot is healthy")
    health.add_argument("--json", action="store_true", help="machine-readable output")
    health.set_defaults(handler=run_health)


def run_pause(args: argparse.Namespace) -> int:
    app: App = args.app
    control.pause(app.settings.data_dir, args.reason, app.clock.now())
    print(
        f"paused: nothing is published until `campaign-bot resume` "
        f"(or until {control.pause_path(app.settings.data_dir)} is deleted)"
    )
    return 0


def run_resume(args: argparse.Namespace) -> int:
    app: App = args.app
    resumed = control.resume(app.settings.data_dir)
    control.nudge(app.settings.data_dir)
    if resumed:
        print("resumed: posts that fell due while paused go out if still within their window")
    else:
        print("was not paused")
    return 0


def _alive(data_dir: Path, pid: int) -> bool:
    """Whether the bot that wrote the heartbeat still runs: it holds the run lock (seen from
    any process namespace sharing the folder), or its pid is alive here."""
    if held_by_another(data_dir) is not None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def health_problem(app: App) -> str | None:
    """None when healthy, else the one-line reason."""
    now = app.clock.now()
    data_dir = app.settings.data_dir
    beat = control.read_heartbeat(data_dir)
    if beat is None:
        return f"no heartbeat in {data_dir}: is `campaign-bot run` running?"
    age = now - datetime.fromisoformat(beat.at)
    if age > control.HEARTBEAT_STALE:
        return f"the heartbeat is {int(age.total_seconds())} s old: the bot has stopped or hangs"
    if not _alive(data_dir, beat.pid):
        return (
            f"the bot that wrote the heartbeat (pid {beat.pid}) is not running any more "
            f"(killed {int(age.total_seconds())} s ago or less)"
        )
    if beat.token_rejected:
        # The instance's refusal as the daemon recorded it: what it refused, and what to do.
        return beat.token_rejected
    refused = [a["token_rejected"] for a in (beat.accounts or {}).values() if a["token_rejected"]]
    if refused:
        # One account's token: the others publish, but someone must log that one in again.
        return "; ".join(str(r) for r in refused)
    ledger = app.ledger_if_exists()
    if ledger is not None:
        with ledger:
            stuck = ledger.stuck(now - STUCK_AFTER)
        if stuck:
            keys = ", ".join(r.key for r in stuck[:3])
            return (
                f"{counted(len(stuck), 'post')} stuck in `sending` for over {STUCK_AFTER}: {keys}"
            )
    return None


def _failed(app: App) -> list[str]:
    """Keys of the occurrences that failed: not a sickness of the bot, but the operator's to
    see (`campaign-bot retry`)."""
    try:
        ledger = app.ledger_if_exists()
        if ledger is None:
            return []
        with ledger:
            return [k for k, state in ledger.states().items() if state is State.FAILED]
    except CampaignBotError:
        return []


def instance_note(app: App, beat: control.Heartbeat | None) -> str | None:
    """ "instance unavailable since 09:31, 3 posts waiting" while the instance fails: not a
    fault of the bot (a restart would not help), but the operator should see it."""
    if beat is None or not beat.instance_unavailable_since:
        return None
    since = to_zone(datetime.fromisoformat(beat.instance_unavailable_since), app.settings.zone)
    answer = f" (last answer: {beat.last_answer})" if beat.last_answer else ""
    return f"instance unavailable since {since}{answer}, {beat.waiting} posts waiting"


def run_health(args: argparse.Namespace) -> int:
    app: App = args.app
    problem = health_problem(app)
    beat = control.read_heartbeat(app.settings.data_dir)
    note = instance_note(app, beat)
    failed = sorted(_failed(app))
    notes = [note] if note else []
    if failed:
        shown = ", ".join(failed[:3]) + (" …" if len(failed) > 3 else "")
        notes.append(
            f"{counted(len(failed), 'post')} failed ({shown}): see `campaign-bot status`, "
            "then `retry`"
        )
    if args.json:
        body: dict[str, Any] = {
            "healthy": problem is None,
            "reason": problem,
            "instance": note or ("unknown" if beat is None else "available"),
            "failed": failed,
            "heartbeat": None if beat is None else asdict(beat),
        }
        if app.settings.several_accounts:
            body["accounts"] = by_account(app, beat, failed)
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0 if problem is None else 1
    extra = "".join(f"; {n}" for n in notes)
    if problem is not None:
        print(f"unhealthy: {problem}{extra}")
        return 1
    assert beat is not None
    state = "paused" if beat.paused else "running"
    upcoming = f"{beat.scheduled} posts scheduled, next at {beat.next_post or '-'}"
    print(f"healthy: {state}, {upcoming}{extra}")
    return 0


def by_account(
    app: App, beat: control.Heartbeat | None, failed: list[str]
) -> dict[str, dict[str, Any]]:
    """`health --json` with several accounts: each account's instance, whether its token is
    rejected, why its work waits, and its failed posts, boosts and quotes."""
    states = (beat.accounts if beat is not None else None) or {}
    owners = {p.id: p.account for p in app.campaign(online=False).posts}
    default = app.settings.default_account
    post_ids = _post_ids(app)
    grouped: dict[str, list[str]] = {}
    for key in failed:
        name = account_of_key(key, post_ids.get(key, key), owners, default)
        grouped.setdefault(name, []).append(key)
    return {
        name: {
            "instance": app.instance_of(name),
            "token_rejected": states.get(name, {}).get("token_rejected"),
            "waiting": states.get(name, {}).get("waiting"),
            "failed": grouped.get(name, []),
        }
        for name in app.settings.account_names()
    }


def _post_ids(app: App) -> dict[str, str]:
    ledger = app.ledger_if_exists()
    if ledger is None:
        return {}
    with ledger:
        return {r.key: r.post_id for r in ledger.all()}
