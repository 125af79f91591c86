"""Read one YAML file safely into plain Python, remembering where every value was written.

Campaign files are written by hand, so every mistake becomes a `Problem` with a line and column
instead of an exception, and positions stay available for the validation that runs afterwards.
Values are built straight from the parser's events: no YAML constructor runs, so no tag can
create an object, and no node tree is kept.
"""

from __future__ import annotations

import codecs
import gc
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import yaml
from yaml.error import Mark

from bot.campaign.yamlbuild import Builder, Loader, Stop
from bot.campaign.yamlplaces import LOW_64, NO_KEY, Place, Position, unpack
from bot.core.problems import Problem

__all__ = ["Position", "YamlDocument", "read_yaml"]

_LINE_BREAK: Final = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
# The characters YAML 1.2 allows in a stream (spec production c-printable).
_NOT_PRINTABLE: Final = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_ESCAPE_HINT: Final = "inside \"double quotes\" write \\\\ for a backslash, or use 'single quotes'"
_INDENT_HINT: Final = "check the indentation: entries of one mapping or list must line up"
_SYNTAX_HINTS: Final = (  # (part of PyYAML's or libyaml's problem text, what to do about it)
    (
        "could not find expected ':'",
        "each line of a mapping needs `key: value`; check the indentation and quotes on this "
        "line or the one before",
    ),
    (
        "mapping values are not allowed",
        "put the value in quotes if it contains ': ', otherwise check the indentation",
    ),
    ("cannot start any token", "put the value in quotes"),
    ("end of stream", "a quote or bracket is not closed; add the closing one"),
    ("escape", _ESCAPE_HINT),
    ("hexdecimal", _ESCAPE_HINT),  # sic: libyaml's spelling
    ("expected ',' or", "close the bracket, or put a value with , : [ ] { } in quotes"),
    ("did not find expected", _INDENT_HINT),
    ("expected <block end>", _INDENT_HINT),
)
_DEFAULT_HINT: Final = "check the indentation and quotes on this line or the one before"


class YamlDocument:
    """The plain data of one file, and where each of its values was written.

    A value reached through an alias is the same object as the one at its anchor, as in PyYAML.
    """

    __slots__ = ("_literals", "_root", "_root_start", "data", "path")

    def __init__(
        self,
        data: object,
        path: Path,
        root: Place | None,
        root_start: int,
        literals: dict[int, int] | None = None,
    ) -> None:
        self.data = data
        self.path = path
        self._root = root
        self._root_start = root_start
        self._literals = literals or {}

    def literal_block(self, where: Sequence[str | int]) -> Position | None:
        """Where the text of a `|` block scalar at this path starts: the line after the `|`, and
        the column its lines are indented to. None for any other value.

        Line `i` of such a value (counting from 0) is written on the line `i` below that one.
        """
        packed = self._literals.get(self._locate(where)[1])
        return None if packed is None else unpack(packed)

    def position(self, where: Sequence[str | int]) -> Position:
        """Where the value at this path, e.g. ("posts", 2, "media", 0, "alt"), starts.

        A path that does not exist gives the nearest existing ancestor (the mapping that lacks
        the key). A value written as an alias (`*name`) is placed at the alias, the values
        inside it at the anchor.
        """
        return unpack(self._locate(where)[1])

    def key_position(self, where: Sequence[str | int]) -> Position:
        """Where the key at the end of this path is written, so "unknown key" points at it.

        A list item has no key, and a path that does not exist has none either: both fall back
        to `position`.
        """
        key, value = self._locate(where)
        return unpack(value if key == NO_KEY else key)

    def _locate(self, where: Sequence[str | int]) -> tuple[int, int]:
        """Packed (key, value) places at the end of the path, or no key and the nearest ancestor."""
        place, key, value = self._root, NO_KEY, self._root_start
        for step in where:
            if place is None:  # a scalar has nothing inside
                return NO_KEY, value
            entries = place.entries
            if isinstance(entries, dict):
                packed = entries.get(step) if isinstance(step, str) else None
                if packed is None:
                    return NO_KEY, place.start
                key, value = packed >> 64, packed & LOW_64
            elif type(step) is int and 0 <= step < len(entries):
                key, value = NO_KEY, entries[step]
            else:
                return NO_KEY, place.start
            place = place.children.get(step) if place.children else None
        return key, value


def read_yaml(
    path: Path, *, display_name: str | None = None, max_bytes: int = 20_000_000
) -> tuple[YamlDocument | None, list[Problem]]:
    """Read one file; every problem with it is returned, never raised.

    The document is None when the file cannot be read as YAML at all; otherwise its data is
    the best reading possible and the problems say what was wrong with it.
    """
    file = display_name if display_name is not None else str(path)
    try:
        size = path.stat().st_size
        raw = b""
        if size <= max_bytes:
            with path.open("rb") as stream:
                # Only what stat reported (plus one byte, to notice a file still growing):
                # read(max_bytes) would reserve the whole allowance for every small file.
                raw = stream.read(size + 1)
    except OSError as error:
        reason = error.strerror or str(error)
        hint = "check that the file exists and can be read"
        return None, [Problem(file, 0, 0, "", f"cannot read the file: {reason}", hint)]
    if size > max_bytes or len(raw) > max_bytes:
        message = f"the file is larger than {max_bytes:,} bytes"
        return None, [Problem(file, 0, 0, "", message, "split it into several smaller files")]
    text, problem = _decode(file, raw)
    if problem is not None:
        return None, [problem]
    # Reading creates hundreds of thousands of containers and none of them can form a cycle;
    # the collector would walk them all again and again while they are being made.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(file, path, text)
    finally:
        if collecting:
            gc.enable()


def _parse(file: str, path: Path, text: str) -> tuple[YamlDocument | None, list[Problem]]:
    builder = Builder(file, text)
    try:
        parser = Loader(text)  # the pure-Python reader already checks characters here
        try:
            builder.run(parser)
        finally:
            parser.dispose()
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_problem(file, text, error)]
    except yaml.YAMLError as error:
        return None, [_reader_problem(file, text, error)]
    except Stop as stop:
        return None, [*builder.problems, stop.problem]
    document = YamlDocument(
        builder.root, path, builder.root_place, builder.root_start, builder.literals
    )
    return document, builder.problems


def _decode(file: str, raw: bytes) -> tuple[str, Problem | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        column = len(raw[line_start : error.start].decode("utf-8", "replace")) + 1
        if line_start == 0 and raw.startswith(codecs.BOM_UTF8):
            column -= 1
        line = raw.count(b"\n", 0, error.start) + 1
        return "", Problem(file, line, column, "", "the file is not UTF-8", "save it as UTF-8")
    return text.removeprefix("\ufeff"), None


def _syntax_problem(file: str, text: str, error: yaml.MarkedYAMLError) -> Problem:
    mark = error.problem_mark or error.context_mark
    if mark is None:
        return Problem(file, 0, 0, "", f"YAML syntax error: {error}", _DEFAULT_HINT)
    lines = _LINE_BREAK.split(text)
    for candidate in (error.problem_mark, error.context_mark):
        tab = _tab_in_indentation(lines, candidate)
        if tab is not None:
            return Problem(
                file,
                tab[0],
                tab[1],
                "",
                "a tab is used for indentation",
                "YAML needs spaces; replace the tab with spaces",
            )
    problem = error.problem or "the file is not valid YAML"
    line = lines[mark.line] if mark.line < len(lines) else ""
    if "cannot start any token" in problem and mark.column < len(line):
        problem = f"found character {line[mark.column]!r} that cannot start any token"
    message = f"YAML syntax error: {problem}"
    context = error.context_mark
    if error.context and context is not None and context.line != mark.line:
        message += f" ({error.context} at line {context.line + 1})"
    hint = next((hint for part, hint in _SYNTAX_HINTS if part in problem), _DEFAULT_HINT)
    return Problem(file, mark.line + 1, mark.column + 1, "", message, hint)


def _tab_in_indentation(lines: list[str], mark: Mark | None) -> tuple[int, int] | None:
    """(line, column) of a tab in the indentation of the marked line, or right at the mark."""
    if mark is None or mark.line >= len(lines):
        return None
    line = lines[mark.line]
    indent = len(line) - len(line.lstrip(" \t"))
    column = line.find("\t", 0, indent)
    if column < 0 and line.startswith("\t", mark.column):
        column = mark.column
    return (mark.line + 1, column + 1) if column >= 0 else None


def _reader_problem(file: str, text: str, error: yaml.YAMLError) -> Problem:
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return Problem(file, 0, 0, "", f"the file cannot be read as YAML: {error}", _DEFAULT_HINT)
    index = found.start()
    line_start = text.rfind("\n", 0, index) + 1
    return Problem(
        file,
        text.count("\n", 0, index) + 1,
        index - line_start + 1,
        "",
        f"the file contains the control character U+{ord(found.group()):04X}, "
        "which YAML does not allow",
        "delete it; it is often invisible, so retype the text around it",
    )
