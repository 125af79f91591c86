"""The command line: `campaign-bot [--config PATH] [--debug] COMMAND ...`.

Each command parses its arguments, calls the library, prints the result, and turns a domain
error into a one-line message and an exit code. Tracebacks only with --debug.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence

from bot import __version__
from bot.cli import (
    calendar_command,
    campaign_commands,
    control_commands,
    ledger_commands,
    living_commands,
    publishing_commands,
    rehearse_command,
    report_command,
    setup_commands,
)
from bot.cli.problem_formats import github_commands, sarif_log
from bot.config.settings import config_path, load_settings
from bot.core.errors import CampaignBotError, ConfigError
from bot.service.app import App
from bot.service.logs import configure, redact

logger = logging.getLogger("bot")

COMMAND_MODULES = (
    campaign_commands,
    publishing_commands,
    control_commands,
    ledger_commands,
    living_commands,
    rehearse_command,
    report_command,
    calendar_command,
    setup_commands,
)


# The options whose value may be a duration back from now, written `-2d`.
WINDOW_OPTIONS = frozenset({"--from", "--until"})
_NEGATIVE_DURATION = re.compile(r"-\d")
# The status of a process ended by SIGPIPE, as `yes | head` leaves `yes`.
BROKEN_PIPE_EXIT = 128 + 13


def join_negative_values(words: Sequence[str]) -> list[str]:
    """`--from -2d` as `--from=-2d`: argparse would take `-2d` for an option of its own."""
    joined: list[str] = []
    for word in words:
        if joined and joined[-1] in WINDOW_OPTIONS and _NEGATIVE_DURATION.match(word):
            joined[-1] = f"{joined[-1]}={word}"
        else:
            joined.append(word)
    return joined


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"campaign-bot: {message}", file=sys.stderr)
        raise SystemExit(2)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        words = sys.argv[1:] if args is None else args
        return super().parse_known_args(join_negative_values(words), namespace)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="campaign-bot",
        description="Publish a planned series of Mastodon posts from YAML files, exactly once.",
    )
    parser.add_argument("--version", action="version", version=f"campaign-bot {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $CAMPAIGN_BOT_CONFIG or config/bot.yaml)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and request details")
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log line format"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    configure(fmt=args.log_format, debug=args.debug, dry_run=bool(getattr(args, "dry_run", False)))
    try:
        if getattr(args, "needs_config", True):
            settings = load_settings(config_path(args.config, os.environ))
            args.app = App(settings)
        return int(args.handler(args))
    except ConfigError as exc:
        fmt = campaign_commands.output_format(args)
        if fmt == "json":
            body = {"valid": False, "problems": [p.as_dict() for p in exc.problems]}
            print(json.dumps(body, indent=2, ensure_ascii=False))
            return 1
        if fmt == "sarif":
            print(json.dumps(sarif_log(exc.problems), indent=2))
            return 1
        if fmt == "github":
            for line in github_commands(exc.problems):
                print(line)
            return 1
        for problem in exc.problems:
            print(problem.render(), file=sys.stderr)
        return 1
    except CampaignBotError as exc:
        if args.debug:
            logger.exception("failed")
        print(f"campaign-bot: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if isinstance(exc, BrokenPipeError):
            # Our reader stopped early (`plan | head`); a connection to the instance that breaks
            # reaches here as an ApiError, never as a bare BrokenPipeError.
            _discard_output()
            return BROKEN_PIPE_EXIT
        if args.debug:
            raise
        print(
            f"campaign-bot: unexpected error: {redact(repr(exc))} "
            "(run again with --debug for details, and please report it)",
            file=sys.stderr,
        )
        return 70


def _discard_output() -> None:
    """Send the rest of the output nowhere, so that Python's own flush at exit does not
    complain about the closed pipe either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
