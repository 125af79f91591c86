"""`campaign-bot validate`, `plan` and `schema`, run in-process through `bot.cli.main.main`."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULT_CONFIG, REPO, MakeCampaign
from test_validate import FILE_CASES, LAUGHS, MEDIA_CASES, POST_CASES

from bot.campaign.yamlsource import read_yaml
from bot.cli import main as cli
from bot.config.settings import Settings
from bot.core.clock import FakeClock
from bot.service.app import App
from bot.service.logs import RedactingFilter


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def run(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Run]:
    """Run the command line with the test's clock; give back its exit code and output."""

    def app(settings: Settings) -> App:
        return App(settings, clock=clock, env={})

    monkeypatch.setattr(cli, "App", app)
    root = logging.getLogger()
    level = root.level

    def invoke(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as stop:  # argparse ends usage errors and --help this way
            code = int(stop.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    yield invoke
    # `main` installs its own log handler on the root logger; leave the next test a clean one.
    for handler in list(root.handlers):
        if any(isinstance(f, RedactingFilter) for f in handler.filters):
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """The repository's example campaign and config, copied into the working directory."""
    shutil.copytree(REPO / "posts", tmp_path / "posts")
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path


LIMITS_SOURCE = "(limits: Mastodon's defaults (no instance configured))"


# --- validate -----------------------------------------------------------------------------------


def test_validate_example_campaign(example: Path, run: Run) -> None:
    """The example campaign is valid: exit 0, no problems, a one-line summary."""
    result = run("validate")
    assert (result.code, result.out) == (0, "")
    assert result.err == f"7 valid posts in 2 files; 0 errors, 0 warnings {LIMITS_SOURCE}\n"


def test_validate_errors_exit_1(make_campaign: MakeCampaign, run: Run) -> None:
    """Any error makes the exit code 1; each problem is one line on stdout."""
    make_campaign(
        {
            "a.yaml": "posts:\n  - id: a\n    at: 2026-12-01 09:30\n    visiblity: public\n",
            "b.yaml": "posts:\n  - id: b\n    at: 2027-03-28 01:30\n    text: hi\n",
        }
    )
    result = run("validate")
    assert result.code == 1
    assert result.out.splitlines() == [
        "posts/a.yaml:4:5: error: posts[0].visiblity: unknown key 'visiblity' — did you mean "
        "`visibility`?",
        "posts/b.yaml:3:9: error: posts[0].at: 2027-03-28 01:30 does not exist in Europe/London: "
        "the clocks jump forward that day (offset changes from +0000 to +0100) — pick a time "
        "outside the daylight-saving gap",
    ]
    assert result.err == f"0 valid posts in 2 files; 2 errors, 0 warnings {LIMITS_SOURCE}\n"


def test_warnings_pass_unless_strict(make_campaign: MakeCampaign, run: Run) -> None:
    """Warnings alone exit 0; with --strict they count as errors."""
    make_campaign({"a.yaml": "posts:\n  - id: a\n    at: 2026-12-01 09:30\n    text: hi\n"})
    (Path("posts") / "empty.yaml").write_text("# soon\n")
    warning = (
        "posts/empty.yaml: warning: the file is empty — add a `posts:` list, or delete the file"
    )
    relaxed = run("validate")
    assert (relaxed.code, relaxed.out.splitlines()) == (0, [warning])
    strict = run("validate", "--strict")
    assert (strict.code, strict.out.splitlines()) == (1, [warning])


def test_past_post_warning(example: Path, run: Run, clock: FakeClock) -> None:
    """Once the launch date has passed, validate warns about the post not yet published."""
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    result = run("validate")
    assert result.code == 0
    assert result.out.splitlines() == [
        "posts/01-launch.yaml:6:1: warning: at: 2026-12-01 09:30 GMT is in the past and the post "
        "has not been published — it will be caught up if still within its `not_after` window, "
        "otherwise recorded as missed; change `at:` to publish it later"
    ]
    assert run("validate", "--strict").code == 1


@pytest.mark.parametrize(
    "argv",
    [
        ("validate", "--bogus"),
        ("plan", "--from"),
        ("--nonsense", "validate"),
        ("frobnicate",),
        (),
    ],
)
def test_usage_errors_exit_2(example: Path, run: Run, argv: tuple[str, ...]) -> None:
    """A command line that cannot be parsed exits 2 with usage, never a traceback."""
    result = run(*argv)
    assert result.code == 2
    assert "usage: campaign-bot" in result.out + result.err
    assert "Traceback" not in result.out + result.err


def test_validate_json(make_campaign: MakeCampaign, run: Run) -> None:
    """--json prints one document with validity, counts, files, limits and every problem."""
    make_campaign(
        {
            "a.yaml": "posts:\n  - id: a\n    at: 2026-12-01 09:30\n    text: hi\n",
            "b.yaml": "posts:\n  - id: B\n    text: hi\n",
        }
    )
    result = run("validate", "--json")
    assert result.code == 1
    body = json.loads(result.out)
    assert body["valid"] is False
    assert body["posts"] == 1
    assert body["files"] == ["posts/a.yaml", "posts/b.yaml"]
    assert body["limits"]["source"] == "Mastodon's defaults (no instance configured)"
    assert body["limits"]["max_characters"] == 500
    assert body["problems"] == [
        {
            "file": "posts/b.yaml",
            "line": 2,
            "column": 9,
            "where": "posts[0].id",
            "message": "'B' is not a valid id",
            "hint": "use lower-case letters, digits, `-`, `_` or `.`, starting with a letter or "
            "digit",
            "severity": "error",
        }
    ]


def test_validate_json_of_the_example(example: Path, run: Run) -> None:
    """--json on a valid campaign says so."""
    result = run("validate", "--json")
    body = json.loads(result.out)
    assert (result.code, body["valid"], body["posts"], body["problems"]) == (0, True, 7, [])


def test_validate_one_file(make_campaign: MakeCampaign, run: Run) -> None:
    """`validate PATH` checks only that file."""
    make_campaign(
        {
            "good.yaml": "posts:\n  - id: a\n    at: 2026-12-01 09:30\n    text: hi\n",
            "bad.yaml": "posts:\n  - id: Bad\n",
        }
    )
    good = run("validate", "posts/good.yaml")
    assert (good.code, good.out) == (0, "")
    assert good.err.startswith("1 valid post in 1 file; 0 errors")
    bad = run("validate", "posts/bad.yaml", "--json")
    assert bad.code == 1
    assert [p["file"] for p in json.loads(bad.out)["problems"]] == ["posts/bad.yaml"]


def test_validate_missing_path(example: Path, run: Run) -> None:
    """A path that does not exist is a problem, not a crash."""
    result = run("validate", "posts/nope.yaml")
    assert result.code == 1
    assert result.out == (
        "posts/nope.yaml: error: cannot read the file: No such file or directory — check that the "
        "file exists and can be read\n"
    )


def test_missing_config(run: Run) -> None:
    """Without a config file the command says where it looked and exits 1."""
    result = run("validate")
    assert result.code == 1
    assert result.err == (
        "config/bot.yaml: error: config file not found — create it (see config/bot.yaml in the "
        "project) or pass --config / CAMPAIGN_BOT_CONFIG\n"
    )


def test_config_from_flag_and_environment(
    make_campaign: MakeCampaign, run: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--config and CAMPAIGN_BOT_CONFIG choose the config file."""
    make_campaign({"a.yaml": "posts:\n  - id: a\n    at: 2026-12-01 09:30\n    text: hi\n"})
    (tmp_path / "config" / "bot.yaml").rename(tmp_path / "config" / "other.yaml")
    assert run("--config", "config/other.yaml", "validate").code == 0
    monkeypatch.setenv("CAMPAIGN_BOT_CONFIG", "config/other.yaml")
    assert run("validate").code == 0


def test_bad_config_is_reported(make_campaign: MakeCampaign, run: Run) -> None:
    """Config problems are printed one per line, exit 1."""
    make_campaign(config="timezone: Mars/Olympus\naccess_tokn: x\n")
    result = run("validate")
    assert result.code == 1
    assert result.err.splitlines() == [
        "config/bot.yaml:2:1: error: access_tokn: unknown key 'access_tokn' — did you mean "
        "`access_token_file`?"
    ]


def all_bad_files() -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {"laughs.yaml": LAUGHS}
    for table in (FILE_CASES, POST_CASES):
        for case in table:
            files[f"{case.id}.yaml"] = case.values[0]  # type: ignore[assignment]
    for case in MEDIA_CASES:
        media = str(case.values[0])
        files[f"media-{case.id}.yaml"] = (
            f"posts:\n  - id: p\n    at: 2026-12-01 09:30\n    text: hi\n    media: [{media}]\n"
            if not media.startswith("[")
            else f"posts:\n  - id: p\n    at: 2026-12-01 09:30\n    text: hi\n    media: {media}\n"
        )
    return files


def test_no_traceback_for_any_bad_file(make_campaign: MakeCampaign, run: Run, png: bytes) -> None:
    """Every bad file of the validation tables, in one run: all reported, none crashes."""
    files = all_bad_files()
    make_campaign(
        files,
        config=DEFAULT_CONFIG + "limits: {max_thread_length: 3, image_size_limit: 1000}\n",
        media={"media/text.png": b"plain text", "media/big.png": png},
    )
    for argv in (("validate",), ("validate", "--json"), ("plan",), ("plan", "--json")):
        result = run(*argv)
        assert "Traceback" not in result.out + result.err
        assert "unexpected error" not in result.err
    result = run("validate", "--json")
    assert result.code == 1
    reported = {p["file"] for p in json.loads(result.out)["problems"]}
    assert reported == {f"posts/{name}" for name in files}


TIMED = b"posts:\n  - id: a\n    at: 2026-12-01 09:30\n"


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00p\x00o",
        b"\x00\x01\x02",
        b"posts:\n  - id: a\n    text: [unclosed\n",
        b"posts: {id: a\n",
        b"posts:\n  - id: a\n   at: 1\n",
        b"posts:\n  - &a [*a]\n",
        b"posts:\n  - id: a\n    at: 99999-01-01 00:00\n    text: x\n",
        b"posts:\n  - id: a\n    at: 2026-12-01T09:30+25:00\n    text: x\n",
        TIMED + b"    text: x\n    not_after: 9999999999999d\n",
        TIMED + b"    text: x\n    not_after: 99999999999999999\n",
        TIMED + b"    text: x\n    poll: {options: [a, b], expires_in: 99999999999999999999w}\n",
        TIMED + b"    media: [{file: /etc/passwd, alt: x}]\n",
        TIMED + b"    media: [{file: '', alt: x}]\n",
        TIMED + b"    media: [{file: media, alt: x}]\n",
        TIMED + b"    text: x\n    hashtags: [[a], {b: c}, 3]\n",
    ],
)
def test_no_traceback_for_odd_input(make_campaign: MakeCampaign, run: Run, body: bytes) -> None:
    """Odd bytes, broken syntax and absurd values give problems and exit 1, never a crash."""
    make_campaign({"a.yaml": body}, media={"media/.keep": b""})
    result = run("validate")
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.out + result.err
    assert "unexpected error" not in result.err
    assert re.match(r"posts/a\.yaml(:\d+:\d+)?: error: ", result.out)


# --- plan ---------------------------------------------------------------------------------------


def plan_rows(out: str) -> list[tuple[str, str, str]]:
    """(local time, id, characters/limit) of each printed post (boosts and quotes left out;
    the account, `@NAME` before the id when there are several, left out too)."""
    found = re.findall(
        r"^  (\d{4}-\d\d-\d\d \d\d:\d\d \w+) +(?:@\S+ )?(\S+) +(\d+/\d+)  (?!↳)", out, re.M
    )
    return [tuple(row) for row in found]


def test_plan_of_the_example(example: Path, run: Run) -> None:
    """Posts in time order with local time, id and count; cron expanded, queued ones slotted."""
    result = run("plan", "--until", "2026-12-21")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Posts from 2026-11-20 12:00 GMT to 2026-12-21 00:00 GMT (Europe/London):"
    assert plan_rows(result.out) == [
        ("2026-11-20 12:30 GMT", "queued-councillor-letter", "153/500"),
        ("2026-11-21 10:00 GMT", "queued-volunteer-call", "174/500"),
        ("2026-12-01 09:30 GMT", "petition-launch", "306/500"),
        ("2026-12-03 18:00 GMT", "petition-first-thousand", "174/500"),
        ("2026-12-05 11:00 GMT", "poll-what-you-use", "63/500"),
        ("2026-12-06 12:00 GMT", "weekly-reminder", "135/500"),
        ("2026-12-08 19:30 GMT", "story-warm-space", "259/500"),
        ("2026-12-13 12:00 GMT", "weekly-reminder", "135/500"),
        ("2026-12-20 12:00 GMT", "weekly-reminder", "135/500"),
    ]
    assert len(lines) == 12  # and the partner's boost and quote of the launch
    assert "@readers-union petition-launch~boost~readers-union    boost  ↳ boost of " in (
        result.out
    )
    launch = next(line for line in lines if "petition-launch" in line)
    assert launch.endswith(
        "306/500  Millbrook council wants to close four of our six libraries … "
        "[1 media, thread of 4]  (late by up to 2h)"
    )
    assert "[poll]" in next(line for line in lines if "poll-what-you-use" in line)
    assert "(late by up to 3h)" in next(line for line in lines if "weekly-reminder" in line)


def test_plan_window(example: Path, run: Run) -> None:
    """--from and --until take times in the campaign's zone or durations from now."""
    result = run("plan", "--from", "2026-12-03 00:00", "--until", "2026-12-06 12:00")
    assert [row[1] for row in plan_rows(result.out)] == [
        "petition-first-thousand",
        "poll-what-you-use",
        "weekly-reminder",
    ]
    past = run("plan", "--from=-1d", "--until", "1d")
    assert past.out.splitlines()[0] == (
        "Posts from 2026-11-19 12:00 GMT to 2026-11-21 12:00 GMT (Europe/London):"
    )
    assert [row[1] for row in plan_rows(past.out)] == [
        "queued-councillor-letter",
        "queued-volunteer-call",
    ]


def test_plan_empty_window(example: Path, run: Run) -> None:
    """A window with nothing in it says so and how to widen it."""
    result = run("plan", "--from", "2028-01-01 00:00", "--until", "2028-01-02 00:00")
    assert result.code == 0
    assert result.out.splitlines()[1] == (
        "  nothing planned in this window (try --from=-30d or --until 365d)"
    )


def test_plan_bad_time(example: Path, run: Run) -> None:
    """A --from that is neither a time nor a duration is a usage error."""
    result = run("plan", "--from", "next week")
    assert result.code == 2
    assert result.err == (
        "campaign-bot: 'next week': 'next week' is not a date and time; write it as "
        "`2026-12-01 09:30` (campaign time zone) or `2026-12-01T09:30:00+01:00`, or a duration "
        "like `7d`\n"
    )


def test_plan_json(example: Path, run: Run) -> None:
    """--json gives each occurrence with its key, times, state, counts and place."""
    result = run("plan", "--json", "--from", "2026-12-01 00:00", "--until", "2026-12-06 12:00")
    assert result.code == 0
    body = json.loads(result.out)
    assert body["zone"] == "Europe/London"
    rows = body["occurrences"]
    assert [r["key"] for r in rows] == [
        "petition-launch",
        "petition-launch~boost~readers-union",
        "petition-launch~quote~readers-union",
        "petition-first-thousand",
        "poll-what-you-use",
        "weekly-reminder@2026-12-06T12:00:00Z",
    ]
    assert (rows[1]["account"], rows[1]["follows"]) == (
        "readers-union",
        {
            "kind": "boost",
            "of": "petition-launch",
            "of_account": "save-libraries",
            "copies": [],
            "after": "10m",
        },
    )
    assert rows[2]["at"] == "2026-12-01T10:00:00+00:00"
    assert rows[0] == {
        "key": "petition-launch",
        "id": "petition-launch",
        "at": "2026-12-01T09:30:00+00:00",
        "local_time": "2026-12-01 09:30 GMT",
        "state": "pending",
        "run_would": "wait",
        "deadline": "2026-12-01T11:30:00+00:00",
        "first_words": "Millbrook council wants to close four of our six libraries …",
        "characters": 306,
        "limit": 500,
        "media": 1,
        "parts": 4,
        "file": "posts/01-launch.yaml",
        "line": 6,
        "account": "save-libraries",
        "follows": None,
    }
    assert rows[5]["deadline"] == "2026-12-06T15:00:00+00:00"


def test_plan_shows_only_valid_posts(make_campaign: MakeCampaign, run: Run) -> None:
    """An invalid post is left out of the plan; the valid ones are still shown."""
    make_campaign(
        {
            "a.yaml": "posts:\n  - id: ok\n    at: 2026-12-01 09:30\n    text: hi\n"
            "  - id: bad\n    at: 2027-03-28 01:30\n    text: hi\n"
        }
    )
    result = run("plan", "--until", "2027-12-31 00:00")
    assert [row[1] for row in plan_rows(result.out)] == ["ok"]


# --- schema -------------------------------------------------------------------------------------


def test_schema_structure(run: Run) -> None:
    """`schema` prints a JSON Schema whose posts allow exactly the post keys."""
    result = run("schema")
    assert result.code == 0
    schema = json.loads(result.out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["posts"]
    assert schema["additionalProperties"] is False
    post = schema["$defs"]["Post"]
    assert post["additionalProperties"] is False
    assert post["required"] == ["id"]
    assert {"id", "at", "cron", "from", "until", "not_after", "text", "hashtags", "cw"} <= set(
        post["properties"]
    )
    assert {"media", "poll", "thread", "visibility", "language", "sensitive"} <= set(
        post["properties"]
    )
    assert "from_" not in post["properties"]
    assert post["properties"]["id"]["pattern"] == "^[a-z0-9][a-z0-9._-]{0,99}$"
    assert schema["$defs"]["Visibility"]["enum"] == ["public", "unlisted", "private", "direct"]
    for name in ("Media", "Poll", "Reply", "Defaults"):
        assert schema["$defs"][name]["additionalProperties"] is False
    assert all(
        prop.get("description")
        for model in schema["$defs"].values()
        for prop in model.get("properties", {}).values()
    )


def test_schema_needs_no_config(run: Run) -> None:
    """`schema` works in a folder without any config."""
    assert run("schema").code == 0


def conforms(value: Any, schema: dict[str, Any], defs: dict[str, Any]) -> bool:
    """Enough of JSON Schema for the post-file schema: refs, types, objects, arrays, enums."""
    if "$ref" in schema:
        return conforms(value, defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in schema:
        return any(conforms(value, option, defs) for option in schema["anyOf"])
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return False
    kind = schema.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if kind is not None and not checks[kind](value):
        return False
    if kind == "object":
        props = schema.get("properties", {})
        if any(key not in value for key in schema.get("required", [])):
            return False
        if schema.get("additionalProperties") is False and set(value) - set(props):
            return False
        return all(conforms(v, props[k], defs) for k, v in value.items() if k in props)
    if kind == "array":
        if "prefixItems" in schema:
            items = schema["prefixItems"]
            return len(value) == len(items) and all(
                conforms(v, s, defs) for v, s in zip(value, items, strict=True)
            )
        return all(conforms(v, schema.get("items", {}), defs) for v in value)
    return True


def test_schema_accepts_the_example_posts(run: Run) -> None:
    """The example post files conform to the printed schema; typos do not."""
    schema = json.loads(run("schema").out)
    defs = schema["$defs"]
    for path in sorted((REPO / "posts").glob("*.yaml")):
        doc, problems = read_yaml(path)
        assert problems == [] and doc is not None
        assert conforms(doc.data, schema, defs), path
        data = json.loads(json.dumps(doc.data))
        data["posts"][0]["visiblity"] = "public"
        assert not conforms(data, schema, defs)
    assert not conforms({"posts": [{"id": "Bad Id"}]}, schema, defs)
    assert not conforms({"posts": [{"id": "a", "visibility": "friends"}]}, schema, defs)
    assert not conforms({"posts": [{"id": "a", "media": [{"alt": "no file"}]}]}, schema, defs)
