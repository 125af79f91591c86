"""The files a campaign repository uses to check posts where they are reviewed: the pre-commit
hook and the example GitHub Actions workflow. Both must call commands and flags that exist."""

from __future__ import annotations

import argparse
import re
import shlex
from typing import Any

import pytest
import yaml
from conftest import REPO
from pre_commit.clientlib import load_manifest

from bot.cli.main import build_parser

HOOKS = REPO / ".pre-commit-hooks.yaml"
WORKFLOW = REPO / "examples" / "github-actions" / "validate.yml"


def _commands() -> set[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("no subcommands")


def parses(command_line: str) -> argparse.Namespace:
    """The arguments of one `campaign-bot ...` invocation, as the command line reads them.

    argparse ends a command line it cannot read with SystemExit(2); that fails the test.
    """
    words = shlex.split(command_line)
    assert words[0] == "campaign-bot"
    return build_parser().parse_args(words[1:])


# --- pre-commit ---------------------------------------------------------------------------------


def test_hook_file_is_a_valid_pre_commit_manifest() -> None:
    """pre-commit's own loader accepts the file, with the hook campaign repositories name."""
    hooks = load_manifest(str(HOOKS))
    assert [hook["id"] for hook in hooks] == ["campaign-bot-validate"]
    hook = hooks[0]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert parses(hook["entry"]).handler.__name__ == "run_validate"


@pytest.mark.parametrize(
    ("name", "matched"),
    [
        ("posts/01-launch.yaml", True),
        ("posts/december/poll.yml", True),
        ("campaign/posts/a.YAML", True),
        ("posts/b.Yml", True),
        ("posts/media/library-shelf.png", False),
        ("config/bot.yaml", False),
        ("reposts/a.yaml", False),
    ],
)
def test_hook_runs_for_post_files(name: str, matched: bool) -> None:
    """The hook runs when a post file changes (any capitalisation of .yaml/.yml), not otherwise."""
    pattern = re.compile(load_manifest(str(HOOKS))[0]["files"])
    assert bool(pattern.search(name)) is matched


# --- the GitHub Actions workflow ----------------------------------------------------------------


def _uncommented(text: str, first: str) -> Any:
    """The commented-out block that starts with the comment `# {first}`, uncommented and read."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"# {first}")
    column = lines[start].index("#")
    block = []
    for line in lines[start:]:
        if not line.strip():
            break
        assert line[column : column + 2] in {"# ", "#"}, line
        block.append(line[column + 2 :])
    return yaml.safe_load("\n".join(block))


def workflow(*, with_commented: bool = False) -> dict[Any, Any]:
    text = WORKFLOW.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if with_commented:
        steps = _uncommented(text, "- name: Validate for code scanning")
        data["jobs"]["check"]["steps"].extend(steps)
        data["jobs"].update(_uncommented(text, "pages:"))
    return data


def invocations(data: dict[Any, Any]) -> list[str]:
    """Every `campaign-bot ...` command line in the workflow's `run:` steps."""
    found = []
    for job in data["jobs"].values():
        for step in job.get("steps", []):
            for command in re.split(r"&&|\|\||;|\n", step.get("run", "")):
                command = command.split(">")[0].strip()
                if command.startswith("campaign-bot"):
                    found.append(command)
    return found


def test_workflow_shape() -> None:
    """It runs on pull requests, reads the repository only, and uploads the calendar."""
    data = workflow()
    triggers = data.get("on", data.get(True))  # YAML 1.1 readers take a bare `on` for true
    assert "pull_request" in triggers
    assert data["permissions"] == {"contents": "read"}
    steps = data["jobs"]["check"]["steps"]
    uses = [step.get("uses", "").split("@")[0] for step in steps]
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"] == {"name": "calendar", "path": "site"}
    assert invocations(data) == [
        "campaign-bot validate --format github",
        "campaign-bot calendar --out site",
    ]


def test_commented_parts_are_valid_once_uncommented() -> None:
    """Uncommented, the code-scanning steps and the Pages job fit into the workflow as they are."""
    data = workflow(with_commented=True)
    assert "campaign-bot validate --format sarif" in invocations(data)
    pages = data["jobs"]["pages"]
    assert pages["needs"] == "check"
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
    download = pages["steps"][0]
    assert download["uses"].startswith("actions/download-artifact@")
    assert download["with"]["name"] == "calendar"  # the artifact the check job uploads
    assert [s["uses"].split("@")[0] for s in pages["steps"][1:]] == [
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
    ]


@pytest.mark.parametrize("command", invocations(workflow(with_commented=True)))
def test_workflow_calls_commands_and_flags_that_exist(command: str) -> None:
    """Each campaign-bot command line in the workflow is one the command line accepts."""
    args = parses(command)
    assert args.command == command.split()[1]
