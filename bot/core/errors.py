"""The errors the bot raises. Only the command line turns them into text and exit codes."""

from __future__ import annotations

from bot.core.problems import Problem

# sysexits.h's EX_TEMPFAIL: nothing is wrong with the posts or the bot; run it again later.
TRY_AGAIN_LATER = 75


class CampaignBotError(Exception):
    """A failure the operator or campaigner can act on; its text is the whole message."""

    exit_code = 1


class UsageError(CampaignBotError):
    """The command line itself was wrong."""

    exit_code = 2


class ConfigError(CampaignBotError):
    """The configuration cannot be used; carries the problems found in it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))
