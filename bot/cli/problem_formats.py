"""The ways `validate` can print its problems: plain lines, GitHub Actions workflow commands,
and SARIF 2.1.0 for code-scanning tools. (The JSON document is built by the command itself.)

A problem keeps its own severity in the plain text; in the formats a machine acts on (GitHub's
annotations, SARIF), `--strict` makes every warning an error, because it fails the check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bot import __version__
from bot.core.problems import Problem, Severity

FORMATS = ("text", "json", "github", "sarif")

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_INDEX = re.compile(r"\[\d+\]")


def _level(problem: Problem, strict: bool) -> str:
    return "error" if strict or problem.severity is Severity.ERROR else "warning"


def _sentence(problem: Problem, *, where: bool = True) -> str:
    """What is wrong and how to fix it, without the file and line (the format carries those)."""
    text = f"{problem.where}: {problem.message}" if where and problem.where else problem.message
    return f"{text} — {problem.hint}" if problem.hint else text


def escape_data(text: str) -> str:
    """A workflow command's message: GitHub decodes %25, %0D and %0A."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as a message, and `:` and `,` too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_commands(problems: Iterable[Problem], *, strict: bool = False) -> list[str]:
    """One `::error ...::message` or `::warning ...::message` line per problem.

    GitHub shows each on the line of the file it names, in the pull request's diff.
    """
    lines = []
    for problem in problems:
        props = [f"file={escape_property(str(problem.file))}"]
        if problem.line:
            props.append(f"line={problem.line}")
            props.append(f"col={problem.column or 1}")
        props.append(f"title={escape_property(problem.where or 'campaign-bot')}")
        message = escape_data(_sentence(problem, where=False))
        lines.append(f"::{_level(problem, strict)} {','.join(props)}::{message}")
    return lines


def rule_id(problem: Problem) -> str:
    """A stable name for the kind of problem: the key path it is about without the list
    positions (`posts.media.alt`), or `file` for the file as a whole."""
    return _INDEX.sub("", problem.where) or "file"


def _uri(file: Path | str) -> str:
    path = Path(file)
    return path.as_uri() if path.is_absolute() else path.as_posix()


def sarif_log(problems: Sequence[Problem], *, strict: bool = False) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of campaign-bot and one result per problem."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for problem in problems:
        rule = rule_id(problem)
        if rule not in index:
            index[rule] = len(rules)
            about = f"`{rule}`" if rule != "file" else "a file as a whole"
            rules.append(
                {
                    "id": rule,
                    "name": rule,
                    "shortDescription": {"text": f"A problem with {about}"},
                }
            )
        location: dict[str, Any] = {
            "artifactLocation": {"uri": _uri(problem.file)},
        }
        if problem.line:
            location["region"] = {
                "startLine": problem.line,
                "startColumn": problem.column or 1,
            }
        result: dict[str, Any] = {
            "ruleId": rule,
            "ruleIndex": index[rule],
            "level": _level(problem, strict),
            "message": {"text": _sentence(problem)},
            "locations": [{"physicalLocation": location}],
        }
        if problem.where:
            result["properties"] = {"where": problem.where}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "campaign-bot",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
