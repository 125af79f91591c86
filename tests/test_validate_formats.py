"""`validate --format text|json|github|sarif`: the same problems, for people, scripts, GitHub
pull requests and code-scanning tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import test_cli_campaign
from conftest import MakeCampaign
from test_cli_campaign import LIMITS_SOURCE, Run

from bot import __version__
from bot.cli.problem_formats import escape_data, escape_property, github_commands, sarif_log
from bot.core.problems import Problem, Severity

run = test_cli_campaign.run
example = test_cli_campaign.example

TWO_PROBLEMS = {
    "a.yaml": "posts:\n  - id: a\n    at: 2026-12-01 09:30\n    visiblity: public\n",
    "b.yaml": "# soon\n",
}


def test_escaping_follows_github_workflow_commands() -> None:
    """Messages escape %, CR and LF; property values escape `:` and `,` as well."""
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext%3A a%2C b"
    # % first, so an escape already in the text is not decoded into something else.
    assert escape_data("%0A") == "%250A"


def test_github_commands_of_problems() -> None:
    """Error, warning, whole-file problem and escaping, exactly."""
    problems = [
        Problem("posts/a, b.yaml", 4, 5, "posts[0].text", "50% of it\nis wrong", "fix: it"),
        Problem("posts/c.yaml", 0, 0, "", "the file is empty", "", Severity.WARNING),
    ]
    assert github_commands(problems) == [
        "::error file=posts/a%2C b.yaml,line=4,col=5,title=posts[0].text::50%25 of it%0Ais wrong"
        " — fix: it",
        "::warning file=posts/c.yaml,title=campaign-bot::the file is empty",
    ]
    assert github_commands(problems[1:], strict=True) == [
        "::error file=posts/c.yaml,title=campaign-bot::the file is empty"
    ]


def test_validate_format_github(make_campaign: MakeCampaign, run: Run) -> None:
    """Each problem is one workflow command on stdout; the summary stays on stderr."""
    make_campaign(TWO_PROBLEMS)
    result = run("validate", "--format", "github")
    assert result.code == 1
    assert result.out.splitlines() == [
        "::error file=posts/a.yaml,line=4,col=5,title=posts[0].visiblity::unknown key "
        "'visiblity' — did you mean `visibility`?",
        "::warning file=posts/b.yaml,title=campaign-bot::the file is empty — add a `posts:` "
        "list, or delete the file",
    ]
    assert result.err == f"0 valid posts in 2 files; 1 error, 1 warning {LIMITS_SOURCE}\n"


def test_validate_format_github_strict(make_campaign: MakeCampaign, run: Run) -> None:
    """With --strict a warning fails the check, so it is annotated as an error."""
    make_campaign({"b.yaml": "# soon\n"})
    result = run("validate", "--format", "github", "--strict")
    assert (result.code, result.out) == (
        1,
        "::error file=posts/b.yaml,title=campaign-bot::the file is empty — add a `posts:` list, "
        "or delete the file\n",
    )


def test_validate_format_github_of_a_valid_campaign(example: Path, run: Run) -> None:
    """Nothing to annotate: no output, exit 0."""
    result = run("validate", "--format", "github")
    assert (result.code, result.out) == (0, "")


def test_validate_format_github_of_a_bad_config(make_campaign: MakeCampaign, run: Run) -> None:
    """Config problems are annotated on the config file too."""
    make_campaign(config="timezone: Europe/London\naccess_tokn: x\n")
    result = run("validate", "--format", "github")
    assert (result.code, result.out) == (
        1,
        "::error file=config/bot.yaml,line=2,col=1,title=access_tokn::unknown key "
        "'access_tokn' — did you mean `access_token_file`?\n",
    )


def test_format_json_is_the_json_flag(make_campaign: MakeCampaign, run: Run) -> None:
    """`--format json` prints exactly what `--json` prints, and `--format text` the default."""
    make_campaign(TWO_PROBLEMS)
    assert run("validate", "--format", "json") == run("validate", "--json")
    assert json.loads(run("validate", "--format", "json").out)["valid"] is False
    assert run("validate", "--format", "text") == run("validate")


def test_unknown_format_is_a_usage_error(example: Path, run: Run) -> None:
    result = run("validate", "--format", "xml")
    assert result.code == 2
    assert "invalid choice: 'xml'" in result.err


def check_sarif(log: dict[str, Any]) -> None:
    """The properties SARIF 2.1.0 requires (and GitHub code scanning reads), checked one by one."""
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(log["runs"], list) and log["runs"]
    for sarif_run in log["runs"]:
        driver = sarif_run["tool"]["driver"]
        assert isinstance(driver["name"], str) and driver["name"]
        rules = driver.get("rules", [])
        ids = [rule["id"] for rule in rules]
        assert len(ids) == len(set(ids))
        for rule in rules:
            assert isinstance(rule["shortDescription"]["text"], str)
        for result in sarif_run["results"]:
            assert isinstance(result["message"]["text"], str) and result["message"]["text"]
            assert result["level"] in {"none", "note", "warning", "error"}
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
            for location in result["locations"]:
                physical = location["physicalLocation"]
                uri = physical["artifactLocation"]["uri"]
                assert isinstance(uri, str) and "\\" not in uri
                region = physical.get("region")
                if region is not None:
                    assert region["startLine"] >= 1
                    assert region["startColumn"] >= 1


def test_sarif_of_problems() -> None:
    """Results point at the file and line; rules are the key paths without list positions."""
    problems = [
        Problem("posts/a.yaml", 14, 11, "posts[2].media[0].alt", "alt text is required", "add"),
        Problem("posts/a.yaml", 20, 11, "posts[3].media[1].alt", "alt text is required", "add"),
        Problem("posts/b.yaml", 0, 0, "", "the file is empty", "", Severity.WARNING),
    ]
    log = sarif_log(problems)
    check_sarif(log)
    driver = log["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("campaign-bot", __version__)
    assert [r["id"] for r in driver["rules"]] == ["posts.media.alt", "file"]
    results = log["runs"][0]["results"]
    assert results[1] == {
        "ruleId": "posts.media.alt",
        "ruleIndex": 0,
        "level": "error",
        "message": {"text": "posts[3].media[1].alt: alt text is required — add"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "posts/a.yaml"},
                    "region": {"startLine": 20, "startColumn": 11},
                }
            }
        ],
        "properties": {"where": "posts[3].media[1].alt"},
    }
    assert results[2] == {
        "ruleId": "file",
        "ruleIndex": 1,
        "level": "warning",
        "message": {"text": "the file is empty"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "posts/b.yaml"}}}],
    }
    assert [r["level"] for r in sarif_log(problems, strict=True)["runs"][0]["results"]] == [
        "error"
    ] * 3


def test_sarif_uri_of_a_file_outside_the_working_directory(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "a b.yaml"
    log = sarif_log([Problem(outside, 1, 1, "", "bad")])
    check_sarif(log)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": outside.as_uri()}
    assert uri["uri"].startswith("file:///") and "a%20b.yaml" in uri["uri"]


@pytest.mark.parametrize("strict", [False, True])
def test_validate_format_sarif(make_campaign: MakeCampaign, run: Run, strict: bool) -> None:
    """One SARIF document on stdout, the exit code as for the other formats."""
    make_campaign(TWO_PROBLEMS)
    result = run("validate", "--format", "sarif", *(["--strict"] if strict else []))
    assert result.code == 1
    log = json.loads(result.out)
    check_sarif(log)
    assert [
        (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        )
        for r in log["runs"][0]["results"]
    ] == [
        ("posts.visiblity", "error", "posts/a.yaml"),
        ("file", "error" if strict else "warning", "posts/b.yaml"),
    ]


def test_validate_format_sarif_of_a_valid_campaign(example: Path, run: Run) -> None:
    result = run("validate", "--format", "sarif")
    assert result.code == 0
    log = json.loads(result.out)
    check_sarif(log)
    assert log["runs"][0]["results"] == []
