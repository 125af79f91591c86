"""Tests for bot.campaign.yamlsource: safe YAML reading, a line and column for every value."""

from __future__ import annotations

import gc
import math
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.campaign import yamlbuild, yamlsource
from bot.campaign.yamlsource import Position, YamlDocument, read_yaml
from bot.core.problems import Problem, Severity

DISPLAY = "posts/dec.yaml"

BILLION_LAUGHS = "lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


@pytest.fixture(params=["libyaml", "pure-python"])
def either_loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test once with the libyaml loader and once with the pure-Python fallback."""
    if request.param == "pure-python":
        monkeypatch.setattr(yamlsource, "Loader", yaml.SafeLoader)
    yield request.param


def read(
    tmp_path: Path, content: str | bytes, **options: int
) -> tuple[YamlDocument | None, list[Problem]]:
    path = tmp_path / "dec.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return read_yaml(path, display_name=DISPLAY, **options)


def summary(problems: list[Problem]) -> list[tuple[int, int, str, str, str]]:
    return [(p.line, p.column, p.where, p.message, p.hint) for p in problems]


def test_libyaml_is_used_when_available() -> None:
    """The fast libyaml-backed loader is the one in use (the speed requirement depends on it)."""
    assert yaml.__with_libyaml__
    assert yamlbuild.Loader is yaml.CSafeLoader


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("hello world", "hello world"),
        ("yes", "yes"),
        ("no", "no"),
        ("No", "No"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("n", "n"),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("tRuE", True),
        ("false", False),
        ("FALSE", False),
        ("null", None),
        ("NULL", None),
        ("~", None),
        ("", None),
        ("10", 10),
        ("-7", -7),
        ("+3", 3),
        ("010", 10),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", "0b101"),
        ("1_000", "1_000"),
        ("1:30", "1:30"),
        ("1,000", "1,000"),
        ("1.5", 1.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("-2.5E-1", -0.25),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("2026-12-01", "2026-12-01"),
        ("2026-12-01 09:30", "2026-12-01 09:30"),
        ("2026-12-01T09:30:00+01:00", "2026-12-01T09:30:00+01:00"),
        ("09:30", "09:30"),
        ("9" * 5000, "9" * 5000),
        ('"10"', "10"),
        ("'true'", "true"),
        ('"2026-12-01"', "2026-12-01"),
        ('""', ""),
        ("!!str 10", "10"),
        ("!!str yes", "yes"),
        ("!!int 10", 10),
        ("!!float 3", 3.0),
        ("!!float .inf", math.inf),
        ("! 10", "10"),
        ("!!bool TRUE", True),
        ("!!null ~", None),
        ("|\n  line one\n  line two\n", "line one\nline two\n"),
        (">-\n  folded\n  text\n", "folded text"),
    ],
)
def test_scalars_follow_yaml_1_2_core_and_keep_times_as_text(
    tmp_path: Path, either_loader: str, written: str, expected: object
) -> None:
    """Plain scalars resolve by YAML 1.2 core rules: no 1.1 booleans, sexagesimals or dates."""
    doc, problems = read(tmp_path, f"value: {written}\n")
    assert problems == []
    assert doc is not None and isinstance(doc.data, dict)
    value = doc.data["value"]
    assert value == expected
    assert type(value) is type(expected)


def test_nan_is_read_as_a_float(tmp_path: Path) -> None:
    """`.nan` is the YAML 1.2 core spelling of not-a-number; `-.nan` is not, so it stays text."""
    doc, _ = read(tmp_path, "a: .NaN\nb: -.nan\n")
    assert doc is not None and isinstance(doc.data, dict)
    assert math.isnan(doc.data["a"])  # type: ignore[arg-type]
    assert doc.data["b"] == "-.nan"


def test_a_whole_campaign_file_reads_into_plain_data(tmp_path: Path) -> None:
    """A typical post file becomes dicts, lists and scalars, with emoji and CRLF line ends kept."""
    source = (
        "posts:\r\n"
        "  - id: ban-pre-crime\r\n"
        "    at: 2026-12-01 09:30\r\n"
        "    language: no\r\n"
        '    text: "Police tech doesn\'t predict crime. It predicts policing. ➡️ #PreCrime"\r\n'
        "    media:\r\n"
        "      - file: van.jpg\r\n"
        "        alt: A van crossing Westminster Bridge 🚐\r\n"
        "    sensitive: false\r\n"
    )
    doc, problems = read(tmp_path, source)
    assert problems == []
    assert doc is not None
    assert doc.path == tmp_path / "dec.yaml"
    assert doc.data == {
        "posts": [
            {
                "id": "ban-pre-crime",
                "at": "2026-12-01 09:30",
                "language": "no",
                "text": "Police tech doesn't predict crime. It predicts policing. ➡️ #PreCrime",
                "media": [{"file": "van.jpg", "alt": "A van crossing Westminster Bridge 🚐"}],
                "sensitive": False,
            }
        ]
    }


@pytest.mark.parametrize(
    "source",
    [
        b"",
        b"\n\n",
        b"# only a comment\n# and another\n",
        b"---\n",
        b"--- # a comment\n...\n",
        b"\xef\xbb\xbf",
    ],
    ids=["empty", "blank-lines", "comments", "one-marker", "marker-and-end", "only-bom"],
)
def test_a_file_without_content_gives_no_data_and_no_problem(tmp_path: Path, source: bytes) -> None:
    """An empty file is not this module's problem: the caller decides what an empty file means."""
    doc, problems = read(tmp_path, source)
    assert problems == []
    assert doc is not None
    assert doc.data is None


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Editors on Windows often start UTF-8 files with a BOM; it is not part of the data."""
    doc, problems = read(tmp_path, b"\xef\xbb\xbftext: caf\xc3\xa9\n")
    assert problems == []
    assert doc is not None and doc.data == {"text": "café"}
    assert doc.key_position(("text",)) == Position(1, 1)


# (source, [(line, column, where, message, hint), ...]); the document is still returned.
CONTENT_PROBLEMS = [
    pytest.param(
        "posts:\n  - id: a\n    text: one\n    lang: en\n    text: two\n",
        [(5, 5, "posts[0]", "duplicate key 'text' (first at line 3)", "keep one of them")],
        id="duplicate-key",
    ),
    pytest.param(
        "a: 1\nb: 2\na: 3\na: 4\n",
        [
            (3, 1, "", "duplicate key 'a' (first at line 1)", "keep one of them"),
            (4, 1, "", "duplicate key 'a' (first at line 1)", "keep one of them"),
        ],
        id="duplicate-key-twice",
    ),
    pytest.param(
        "a: !!python/object:os.system {}\n",
        [
            (
                1,
                4,
                "a",
                "tags are not allowed (!!python/object:os.system)",
                "remove !!python/object:os.system; write the value as plain text",
            )
        ],
        id="python-object-tag",
    ),
    pytest.param(
        "posts:\n  - text: !custom hello\n",
        [
            (
                2,
                11,
                "posts[0].text",
                "tags are not allowed (!custom)",
                "remove !custom; write the value as plain text",
            )
        ],
        id="local-tag",
    ),
    pytest.param(
        "a: !!binary aGk=\nb: !!timestamp 2026-12-01\nc: !!set {x}\nd: !!map [1]\n",
        [
            (
                1,
                4,
                "a",
                "tags are not allowed (!!binary)",
                "remove !!binary; write the value as plain text",
            ),
            (
                2,
                4,
                "b",
                "tags are not allowed (!!timestamp)",
                "remove !!timestamp; write the value as plain text",
            ),
            (
                3,
                4,
                "c",
                "tags are not allowed (!!set)",
                "remove !!set; write the value as plain text",
            ),
            (
                4,
                4,
                "d",
                "tags are not allowed (!!map)",
                "remove !!map; write the value as plain text",
            ),
        ],
        id="other-standard-tags",
    ),
    pytest.param(
        "a: !!int abc\nb: !!bool yes\nc: !!int 1.5\nd: !!null 0\n",
        [
            (1, 4, "a", "'abc' is not a valid !!int", "remove the !!int tag or fix the value"),
            (2, 4, "b", "'yes' is not a valid !!bool", "remove the !!bool tag or fix the value"),
            (3, 4, "c", "'1.5' is not a valid !!int", "remove the !!int tag or fix the value"),
            (4, 4, "d", "'0' is not a valid !!null", "remove the !!null tag or fix the value"),
        ],
        id="tag-does-not-fit-value",
    ),
    pytest.param(
        "posts:\n  - 1: one\n    2.5: two\n    true: three\n    ~: four\n    ok: five\n",
        [
            (
                2,
                5,
                "posts[0]",
                "keys must be text, but this key is a number (1)",
                'put the key in quotes ("1") or write a name',
            ),
            (
                3,
                5,
                "posts[0]",
                "keys must be text, but this key is a number (2.5)",
                'put the key in quotes ("2.5") or write a name',
            ),
            (
                4,
                5,
                "posts[0]",
                "keys must be text, but this key is true/false (true)",
                'put the key in quotes ("true") or write a name',
            ),
            (
                5,
                5,
                "posts[0]",
                "keys must be text, but this key is empty",
                'put the key in quotes ("~") or write a name',
            ),
        ],
        id="scalar-keys",
    ),
    pytest.param(
        "[a, b]: 1\n? {c: d}\n: 2\n",
        [
            (
                1,
                1,
                "",
                "keys must be text, but this key is a list",
                "write a plain name before the colon",
            ),
            (
                2,
                3,
                "",
                "keys must be text, but this key is a mapping",
                "write a plain name before the colon",
            ),
        ],
        id="collection-keys",
    ),
    pytest.param(
        "base: &base 5\npost:\n  <<: *base\n",
        [
            (
                3,
                3,
                "post.<<",
                "`<<` must be followed by a mapping or a list of them",
                "write `<<: *name` where `&name` marks a mapping",
            )
        ],
        id="merge-of-a-scalar",
    ),
    pytest.param(
        "a: &x 1\nb: &x 2\nc: *x\n",
        [
            (
                2,
                4,
                "b",
                "duplicate anchor &x (first at line 1)",
                "give each anchor (&name) its own name",
            )
        ],
        id="duplicate-anchor",
    ),
]


@pytest.mark.parametrize(("source", "expected"), CONTENT_PROBLEMS)
def test_content_problems_are_all_reported_with_their_place(
    tmp_path: Path, either_loader: str, source: str, expected: list[tuple[int, int, str, str, str]]
) -> None:
    """Every mistake in the values is reported in one run, each at its own line and column."""
    doc, problems = read(tmp_path, source)
    assert summary(problems) == expected
    assert all(p.file == DISPLAY and p.severity is Severity.ERROR for p in problems)
    assert doc is not None


def test_the_data_around_content_problems_is_still_returned(tmp_path: Path) -> None:
    """Around a duplicate key, a bad key and a tag the rest is still read; the first key wins."""
    doc, problems = read(tmp_path, "a: 1\nb: !custom x\n1: skipped\na: 2\nc: [1, 2]\n")
    assert len(problems) == 3
    assert doc is not None
    assert doc.data == {"a": 1, "b": "x", "c": [1, 2]}


def test_a_problem_renders_as_file_line_column_message_and_hint(tmp_path: Path) -> None:
    """The rendered problem has the `file:line:column: what — how to fix` shape."""
    _, problems = read(tmp_path, "posts:\n  - text: one\n    text: two\n")
    assert [p.render() for p in problems] == [
        "posts/dec.yaml:3:5: error: posts[0]: duplicate key 'text' (first at line 2)"
        " — keep one of them"
    ]


TAB_CASES = [
    pytest.param("a:\n\tb: 1\n", 2, 1, id="tab-as-whole-indent"),
    pytest.param("posts:\n  - text: hi\n\t  lang: en\n", 3, 1, id="tab-before-spaces"),
    pytest.param("posts:\n  - text: hi\n  \tlang: en\n", 3, 3, id="tab-after-spaces"),
    pytest.param("text: hello\n\tworld\n", 2, 1, id="tab-in-continued-text"),
    pytest.param("text: |\n\tline\n", 2, 1, id="tab-in-block-text"),
    pytest.param("-\tfoo\n", 1, 2, id="tab-after-dash"),
    pytest.param("a: 1\n\t# comment\nb: 2\n", 2, 1, id="tab-before-comment"),
]


@pytest.mark.parametrize(("source", "line", "column"), TAB_CASES)
def test_a_tab_in_the_indentation_is_named_as_such(
    tmp_path: Path, either_loader: str, source: str, line: int, column: int
) -> None:
    """A tab used to indent gets a clear message at the tab instead of the scanner's riddle."""
    doc, problems = read(tmp_path, source)
    assert doc is None
    assert summary(problems) == [
        (
            line,
            column,
            "",
            "a tab is used for indentation",
            "YAML needs spaces; replace the tab with spaces",
        )
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("text: |\n  a\n  \tb\n", {"text": "a\n\tb\n"}, id="tab-inside-block-text"),
        pytest.param("tags: [a,\n  \tb]\n", {"tags": ["a", "b"]}, id="tab-inside-brackets"),
        pytest.param('text: "a\tb"\n', {"text": "a\tb"}, id="tab-inside-quotes"),
    ],
)
def test_tabs_that_are_not_indentation_are_kept(
    tmp_path: Path, source: str, expected: object
) -> None:
    """Tabs inside text or between bracketed items are content, not indentation."""
    doc, problems = read(tmp_path, source)
    assert problems == []
    assert doc is not None and doc.data == expected


SYNTAX_ERRORS = [
    pytest.param(
        "a: 1\nb\nc: 2\n",
        (
            3,
            1,
            "YAML syntax error: could not find expected ':' "
            "(while scanning a simple key at line 2)",
            "each line of a mapping needs `key: value`; check the indentation and quotes on this "
            "line or the one before",
        ),
        id="missing-colon",
    ),
    pytest.param(
        "text: Note: bring a coat\n",
        (
            1,
            11,
            "YAML syntax error: mapping values are not allowed in this context",
            "put the value in quotes if it contains ': ', otherwise check the indentation",
        ),
        id="colon-in-value",
    ),
    pytest.param(
        "text: @campaign hello\n",
        (
            1,
            7,
            "YAML syntax error: found character '@' that cannot start any token",
            "put the value in quotes",
        ),
        id="value-starts-with-at",
    ),
    pytest.param(
        'text: "unclosed\nlang: en\n',
        (
            3,
            1,
            "YAML syntax error: found unexpected end of stream "
            "(while scanning a quoted scalar at line 1)",
            "a quote or bracket is not closed; add the closing one",
        ),
        id="unclosed-quote",
    ),
    pytest.param(
        'text: "C:\\Users\\me"\n',
        (
            1,
            12,
            "YAML syntax error: did not find expected hexdecimal number",
            "inside \"double quotes\" write \\\\ for a backslash, or use 'single quotes'",
        ),
        id="windows-path-in-double-quotes",
    ),
    pytest.param(
        'text: "50\\% off"\n',
        (
            1,
            10,
            "YAML syntax error: found unknown escape character",
            "inside \"double quotes\" write \\\\ for a backslash, or use 'single quotes'",
        ),
        id="unknown-escape",
    ),
    pytest.param(
        "tags: [a, b\nlang: en\n",
        (
            2,
            5,
            "YAML syntax error: did not find expected ',' or ']' "
            "(while parsing a flow sequence at line 1)",
            "close the bracket, or put a value with , : [ ] { } in quotes",
        ),
        id="unclosed-bracket",
    ),
    pytest.param(
        "post:\n  text: a\n lang: en\n",
        (
            3,
            2,
            "YAML syntax error: did not find expected key "
            "(while parsing a block mapping at line 1)",
            "check the indentation: entries of one mapping or list must line up",
        ),
        id="bad-indentation",
    ),
    pytest.param(
        "media:\n  - a.jpg\n  alt: x\n",
        (
            3,
            3,
            "YAML syntax error: did not find expected '-' indicator "
            "(while parsing a block collection at line 2)",
            "check the indentation: entries of one mapping or list must line up",
        ),
        id="list-then-key",
    ),
    pytest.param(
        "a: 1\n---\nb: 2\n",
        (
            2,
            1,
            "only one YAML document per file",
            "remove the second `---` line, or move what follows it to its own file",
        ),
        id="two-documents",
    ),
    pytest.param(
        "---\na: 1\n---\n",
        (
            3,
            1,
            "only one YAML document per file",
            "remove the second `---` line, or move what follows it to its own file",
        ),
        id="trailing-document-marker",
    ),
    pytest.param(
        "a: b\x07c\n",
        (
            1,
            5,
            "the file contains the control character U+0007, which YAML does not allow",
            "delete it; it is often invisible, so retype the text around it",
        ),
        id="control-character",
    ),
    pytest.param(
        "a: 1\nb: 🙂\x00\n",
        (
            2,
            5,
            "the file contains the control character U+0000, which YAML does not allow",
            "delete it; it is often invisible, so retype the text around it",
        ),
        id="nul-after-emoji",
    ),
]


@pytest.mark.parametrize(("source", "expected"), SYNTAX_ERRORS)
def test_a_syntax_error_is_one_problem_at_its_place(
    tmp_path: Path, source: str, expected: tuple[int, int, str, str]
) -> None:
    """A file YAML cannot parse gives no document and one readable problem with a hint."""
    doc, problems = read(tmp_path, source)
    assert doc is None
    assert summary(problems) == [(expected[0], expected[1], "", expected[2], expected[3])]


@pytest.mark.parametrize(
    ("source", "line", "column", "message"),
    [
        ("text: Note: bring a coat\n", 1, 11, "mapping values are not allowed here"),
        ("text: @campaign\n", 1, 7, "found character '@' that cannot start any token"),
        ("a: 1\n---\nb: 2\n", 2, 1, "only one YAML document per file"),
        ("a: b\x07c\n", 1, 5, "the file contains the control character U+0007"),
    ],
)
def test_the_pure_python_fallback_reports_at_the_same_places(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    line: int,
    column: int,
    message: str,
) -> None:
    """Without libyaml the wording of PyYAML's errors differs, but not where they point."""
    monkeypatch.setattr(yamlsource, "Loader", yaml.SafeLoader)
    doc, problems = read(tmp_path, source)
    assert doc is None
    assert len(problems) == 1
    assert (problems[0].line, problems[0].column) == (line, column)
    assert message in problems[0].message


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        pytest.param(b"a: caf\xe9\n", 1, 7, id="latin-1-on-line-1"),
        pytest.param(b"a: 1\nb: 2\nc: \xff\xfe\n", 3, 4, id="line-3"),
        pytest.param(b"\xef\xbb\xbfa: \xe9\n", 1, 4, id="after-a-bom"),
        pytest.param("a: 🙂 ".encode() + b"\x80\n", 1, 6, id="after-an-emoji"),
        pytest.param("a: 1\n".encode("utf-16"), 1, 1, id="utf-16"),
    ],
)
def test_bytes_that_are_not_utf8_are_reported_at_the_first_one(
    tmp_path: Path, source: bytes, line: int, column: int
) -> None:
    """A file saved in another encoding is reported at the first byte UTF-8 cannot read."""
    doc, problems = read(tmp_path, source)
    assert doc is None
    assert summary(problems) == [(line, column, "", "the file is not UTF-8", "save it as UTF-8")]


def test_a_file_larger_than_the_limit_is_not_read(tmp_path: Path) -> None:
    """A file over max_bytes is refused as a whole, before parsing."""
    doc, problems = read(tmp_path, "- 1\n" * 26, max_bytes=100)
    assert doc is None
    assert summary(problems) == [
        (0, 0, "", "the file is larger than 100 bytes", "split it into several smaller files")
    ]
    doc, problems = read(tmp_path, "- 1\n" * 25, max_bytes=100)
    assert problems == [] and doc is not None


def test_a_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    """A path that cannot be opened gives a whole-file problem instead of raising OSError."""
    doc, problems = read_yaml(tmp_path / "nope.yaml")
    assert doc is None
    assert summary(problems) == [
        (
            0,
            0,
            "",
            "cannot read the file: No such file or directory",
            "check that the file exists and can be read",
        )
    ]
    assert problems[0].file == str(tmp_path / "nope.yaml")


def test_anchors_aliases_and_merge_keys_work(tmp_path: Path, either_loader: str) -> None:
    """Aliases repeat a value; `<<` merges mappings, own keys first, then earlier merges."""
    source = (
        "defaults: &defaults {visibility: public, language: en}\n"
        "quiet: &quiet {visibility: unlisted, sensitive: true}\n"
        "tags: &tags [a, b]\n"
        "posts:\n"
        "  - <<: *defaults\n"
        "    id: one\n"
        "    tags: *tags\n"
        "  - <<: [*quiet, *defaults]\n"
        "    language: de\n"
    )
    doc, problems = read(tmp_path, source)
    assert problems == []
    assert doc is not None and isinstance(doc.data, dict)
    assert doc.data["posts"] == [
        {"visibility": "public", "language": "en", "id": "one", "tags": ["a", "b"]},
        {"visibility": "unlisted", "sensitive": True, "language": "de"},
    ]
    assert doc.data["posts"][0]["tags"] is doc.data["tags"]


def test_a_reused_anchor_name_is_reported_and_the_later_one_wins(tmp_path: Path) -> None:
    """YAML lets an anchor be defined again; that is reported, and aliases after it see it."""
    doc, problems = read(tmp_path, "a: &x [1]\nb: *x\nc: &x [2]\nd: *x\n")
    assert summary(problems) == [
        (
            3,
            4,
            "c",
            "duplicate anchor &x (first at line 1)",
            "give each anchor (&name) its own name",
        )
    ]
    assert doc is not None
    assert doc.data == {"a": [1], "b": [1], "c": [2], "d": [2]}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            "a: &x [*x]\n",
            (
                1,
                8,
                "a[0]",
                "an alias refers to a value that contains it",
                "an alias (*name) cannot be used inside its own anchor (&name)",
            ),
            id="list-in-itself",
        ),
        pytest.param(
            "a: &x {b: {c: *x}}\n",
            (
                1,
                15,
                "a.b.c",
                "an alias refers to a value that contains it",
                "an alias (*name) cannot be used inside its own anchor (&name)",
            ),
            id="mapping-in-itself",
        ),
        pytest.param(
            BILLION_LAUGHS,
            (
                7,
                12,
                "lol6[0]",
                "too many aliases (billion laughs?)",
                "aliases may expand to at most 1,000,000 values; write the values out or use "
                "fewer nested aliases",
            ),
            id="billion-laughs",
        ),
        pytest.param(
            "a: " + "[" * 70 + "]" * 70 + "\n",
            (
                1,
                68,
                "a" + "[0]" * 64,
                "the data is nested more than 64 levels deep",
                "flatten the structure",
            ),
            id="too-deep",
        ),
        pytest.param(
            "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n",
            (
                2,
                34,
                "b" + "[0]" * 30,
                "the data is nested more than 64 levels deep",
                "flatten the structure",
            ),
            id="too-deep-through-an-alias",
        ),
        pytest.param(
            "text: *missing\n",
            (1, 7, "text", "undefined alias *missing", "define the anchor &missing before it"),
            id="undefined-alias",
        ),
    ],
)
def test_aliases_cannot_loop_or_explode(
    tmp_path: Path, either_loader: str, source: str, expected: tuple[int, int, str, str, str]
) -> None:
    """Alias loops, bombs and typos, and runaway nesting, stop reading with one problem."""
    doc, problems = read(tmp_path, source)
    assert doc is None
    assert summary(problems) == [expected]


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        pytest.param("a: " + "[" * 64 + "]" * 64 + "\n", True, id="64-levels"),
        pytest.param("a: " + "[" * 65 + "]" * 65 + "\n", False, id="65-levels"),
        pytest.param(
            "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 24 + "*a" + "]" * 24 + "\n",
            True,
            id="64-levels-through-an-alias",
        ),
        pytest.param(
            "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 25 + "*a" + "]" * 25 + "\n",
            False,
            id="65-levels-through-an-alias",
        ),
    ],
)
def test_the_depth_limit_is_the_same_with_and_without_aliases(
    tmp_path: Path, source: str, allowed: bool
) -> None:
    """Lists may nest 64 deep under the top mapping, whether written out or through an alias."""
    doc, problems = read(tmp_path, source)
    assert (doc is not None, [p.message for p in problems]) == (
        (True, []) if allowed else (False, ["the data is nested more than 64 levels deep"])
    )


def test_a_billion_laughs_is_refused_in_little_memory(tmp_path: Path) -> None:
    """The classic alias bomb (10^9 values if written out) is refused without expanding it
    (bench/yaml_read.py measures how long that takes)."""
    path = tmp_path / "lol.yaml"
    path.write_text(BILLION_LAUGHS)
    tracemalloc.start()
    try:
        doc, problems = read_yaml(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert doc is None
    assert [p.message for p in problems] == ["too many aliases (billion laughs?)"]
    assert peak < 20_000_000  # a small document, whatever the size allowance


def test_many_uses_of_one_alias_are_allowed(tmp_path: Path) -> None:
    """10,000 posts that each merge the same defaults stay well inside the alias budget."""
    lines = ["defaults: &d {visibility: public, language: en, sensitive: false}", "posts:"]
    lines += [f"  - {{<<: *d, id: p{i}}}" for i in range(10_000)]
    doc, problems = read(tmp_path, "\n".join(lines) + "\n")
    assert problems == []
    assert doc is not None and isinstance(doc.data, dict)
    assert doc.data["posts"][9_999] == {
        "visibility": "public",
        "language": "en",
        "sensitive": False,
        "id": "p9999",
    }


POSITIONS_SOURCE = """\
# campaign
posts:
  - id: first
    text: Hello
    media:
      - file: a.jpg
        alt: "A photo"
  - id: second
    text: |
      Line one
    tags: [a, b]
    alt:
    id: again
defaults: &d
  visibility: public
other:
  <<: *d
  lang: en
copy: *d
"""


@pytest.mark.parametrize(
    ("where", "value_at", "key_at"),
    [
        pytest.param((), (2, 1), (2, 1), id="root"),
        pytest.param(("posts",), (3, 3), (2, 1), id="top-level-key"),
        pytest.param(("posts", 0), (3, 5), (3, 5), id="list-item"),
        pytest.param(("posts", 0, "media", 0, "alt"), (7, 14), (7, 9), id="deep-value"),
        pytest.param(("posts", 1, "text"), (9, 11), (9, 5), id="block-text"),
        pytest.param(("posts", 1, "tags", 1), (11, 15), (11, 15), id="flow-item"),
        pytest.param(("posts", 1, "alt"), (12, 9), (12, 5), id="empty-value"),
        pytest.param(("posts", 1, "id"), (8, 9), (8, 5), id="duplicate-key-is-the-first"),
        pytest.param(("other", "visibility"), (15, 15), (15, 3), id="merged-key-at-anchor"),
        pytest.param(("other", "lang"), (18, 9), (18, 3), id="own-key-beside-merge"),
        pytest.param(("copy",), (19, 7), (19, 1), id="alias-at-the-alias"),
        pytest.param(("copy", "visibility"), (15, 15), (15, 3), id="inside-an-alias-at-anchor"),
        pytest.param(("posts", 0, "media", 0, "title"), (6, 9), (6, 9), id="missing-key"),
        pytest.param(("nothing", "here"), (2, 1), (2, 1), id="missing-top-level-key"),
        pytest.param(("posts", 5), (3, 3), (3, 3), id="index-out-of-range"),
        pytest.param(("posts", -1), (3, 3), (3, 3), id="negative-index"),
        pytest.param(("posts", "id"), (3, 3), (3, 3), id="key-into-a-list"),
        pytest.param(("posts", 0, "id", 0), (3, 9), (3, 9), id="index-into-text"),
    ],
)
def test_positions_point_at_values_and_keys(
    tmp_path: Path,
    either_loader: str,
    where: tuple[str | int, ...],
    value_at: tuple[int, int],
    key_at: tuple[int, int],
) -> None:
    """position() finds where a value starts, key_position() its key; missing parts fall back."""
    doc, _ = read(tmp_path, POSITIONS_SOURCE)
    assert doc is not None
    assert doc.position(where) == Position(*value_at)
    assert doc.key_position(where) == Position(*key_at)


def test_positions_count_characters_not_bytes(tmp_path: Path) -> None:
    """Columns count characters, so text after emoji is still pointed at exactly."""
    doc, problems = read(tmp_path, "tags: [🙂🙂, ä, x]\n")
    assert problems == []
    assert doc is not None
    assert doc.position(("tags", 2)) == Position(1, 15)


def test_random_damage_never_raises(tmp_path: Path) -> None:
    """Whatever bytes a file holds, read_yaml returns problems instead of raising."""
    base = POSITIONS_SOURCE.encode() + b"x: !!int 5\ny: [*d, {z: 1}]\n"
    noise = b" \t\n:-[]{}&*!|>'\"#%@`,?~\x00\xff\xc3"
    rng = random.Random(20261201)  # noqa: S311  # reproducible damage, not secrets
    for _ in range(300):
        damaged = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.choice(noise)
        doc, problems = read(tmp_path, bytes(damaged))
        assert doc is not None or problems
        assert all(p.file == DISPLAY and p.line >= 0 and p.column >= 0 for p in problems)


def write_campaign(path: Path, posts: int) -> None:
    lines = ["posts:"]
    for i in range(posts):
        lines += [
            f"  - id: post-{i:05d}",
            f"    at: 2026-12-{i % 28 + 1:02d} 09:30",
            "    language: en",
            "    visibility: public",
            "    text: |",
            f"      Police tech doesn't predict crime. It predicts policing. ({i}) 🚨",
            "",
            f"      Sign the petition ➡️ https://example.org/petitions/{i}",
            "      #SafetyNotSurveillance #PreCrime",
            "    hashtags: [privacy, policing]",
            "    media:",
            f"      - file: media/van-{i}.jpg",
            "        alt: \"A van with displays reading 'Ban Crime Predicting Tech'.\"",
            f"      - file: media/bridge-{i}.jpg",
            "        alt: A crowd on Westminster Bridge.",
            "    sensitive: false",
            "    spoiler: null",
            f"    thread: [post-{i:05d}-a, post-{i:05d}-b]",
            "    poll:",
            "      options: [yes, no]",
            "      expires: 3600",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_10000_post_file_is_read_whole_without_a_node_tree(tmp_path: Path) -> None:
    """A 210,000-line campaign file is read in full, keeping no YAML node tree
    (bench/yaml_read.py measures how long that takes)."""
    path = tmp_path / "big.yaml"
    write_campaign(path, 10_000)
    gc.collect()
    tracked = len(gc.get_objects())
    doc, problems = read_yaml(path, max_bytes=10_000_000)
    # No node tree is kept: 80,000 mappings and lists, their places, and little else.
    assert len(gc.get_objects()) - tracked < 250_000
    assert problems == []
    assert doc is not None and isinstance(doc.data, dict)
    assert len(doc.data["posts"]) == 10_000
    assert doc.data["posts"][9_999]["poll"] == {"options": ["yes", "no"], "expires": 3600}
    assert doc.position(("posts", 9_999, "media", 1, "alt")) == Position(209_995, 14)
