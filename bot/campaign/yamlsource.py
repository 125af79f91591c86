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
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn

import yaml
from yaml.error import Mark
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from bot.core.problems import Problem, dotted

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # PyYAML built without libyaml: the same events, only slower
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

__all__ = ["Position", "YamlDocument", "read_yaml"]

_TAG: Final = "tag:yaml.org,2002:"
_SEQ: Final = _TAG + "seq"
_MAP: Final = _TAG + "map"
_MERGE: Final = "<<"
# What a mapping frame waits for next, when not for the value of a text key.
_EXPECT_KEY: Final = object()
_SKIP_VALUE: Final = object()  # the key was reported; its value is read but dropped
_MERGE_VALUE: Final = object()

_MAX_DEPTH: Final = 64
# Values produced by following aliases; a file's own values are already bounded by max_bytes.
_MAX_ALIAS_VALUES: Final = 1_000_000

_LOW_32: Final = (1 << 32) - 1
_LOW_64: Final = (1 << 64) - 1
_NO_KEY: Final = -1

_INT: Final = re.compile(r"[-+]?[0-9]+")
_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_HEX: Final = re.compile(r"0x[0-9a-fA-F]+")
_OCTAL: Final = re.compile(r"0o[0-7]+")
_SPECIAL_FLOATS: Final[dict[str, object]] = {
    ".inf": float("inf"),
    "+.inf": float("inf"),
    "-.inf": float("-inf"),
    ".nan": float("nan"),
}
_TAGGED_SCALARS: Final[dict[str, type | tuple[type, ...]]] = {
    _TAG + "int": int,
    _TAG + "float": (int, float),
    _TAG + "bool": bool,
    _TAG + "null": type(None),
}
_KINDS: Final[dict[type, str]] = {
    int: "a number",
    float: "a number",
    bool: "true/false",
    list: "a list",
    dict: "a mapping",
}
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
_TOO_DEEP: Final = f"the data is nested more than {_MAX_DEPTH} levels deep"
_FLATTEN: Final = "flatten the structure"


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a file; both numbers start at 1."""

    line: int
    column: int


class YamlDocument:
    """The plain data of one file, and where each of its values was written.

    A value reached through an alias is the same object as the one at its anchor, as in PyYAML.
    """

    __slots__ = ("_literals", "_root", "_root_start", "data", "path")

    def __init__(
        self,
        data: object,
        path: Path,
        root: _Place | None,
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
        return None if packed is None else _unpack(packed)

    def position(self, where: Sequence[str | int]) -> Position:
        """Where the value at this path, e.g. ("posts", 2, "media", 0, "alt"), starts.

        A path that does not exist gives the nearest existing ancestor (the mapping that lacks
        the key). A value written as an alias (`*name`) is placed at the alias, the values
        inside it at the anchor.
        """
        return _unpack(self._locate(where)[1])

    def key_position(self, where: Sequence[str | int]) -> Position:
        """Where the key at the end of this path is written, so "unknown key" points at it.

        A list item has no key, and a path that does not exist has none either: both fall back
        to `position`.
        """
        key, value = self._locate(where)
        return _unpack(value if key == _NO_KEY else key)

    def _locate(self, where: Sequence[str | int]) -> tuple[int, int]:
        """Packed (key, value) places at the end of the path, or no key and the nearest ancestor."""
        place, key, value = self._root, _NO_KEY, self._root_start
        for step in where:
            if place is None:  # a scalar has nothing inside
                return _NO_KEY, value
            entries = place.entries
            if isinstance(entries, dict):
                packed = entries.get(step) if isinstance(step, str) else None
                if packed is None:
                    return _NO_KEY, place.start
                key, value = packed >> 64, packed & _LOW_64
            elif type(step) is int and 0 <= step < len(entries):
                key, value = _NO_KEY, entries[step]
            else:
                return _NO_KEY, place.start
            place = place.children.get(step) if place.children else None
        return key, value


class _Place:
    """Where a mapping or list and its entries start, each packed as `line << 32 | column`.

    Lines and columns count from 0 here, as in PyYAML's marks. A mapping packs each key's
    place with its value's as `key << 64 | value`. Ints, dicts of ints and arrays are not
    tracked by the cycle collector, so a document kept in memory costs later collections little.
    """

    __slots__ = ("children", "entries", "start")

    def __init__(
        self,
        start: int,
        entries: dict[str, int] | array[int],
        children: dict[str | int, _Place] | None,
    ) -> None:
        self.start = start
        self.entries = entries
        self.children = children


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
    builder = _Builder(file, text)
    try:
        parser = _Loader(text)  # the pure-Python reader already checks characters here
        try:
            builder.run(parser)
        finally:
            parser.dispose()
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_problem(file, text, error)]
    except yaml.YAMLError as error:
        return None, [_reader_problem(file, text, error)]
    except _Stop as stop:
        return None, [*builder.problems, stop.problem]
    document = YamlDocument(
        builder.root, path, builder.root_place, builder.root_start, builder.literals
    )
    return document, builder.problems


class _Stop(Exception):
    """Reading cannot go on: an alias loop, bomb or typo, too much nesting, a second document."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Frame:
    """A mapping or list whose end the parser has not reached yet."""

    __slots__ = ("anchor", "children", "height", "size", "start")
    start: int
    anchor: str | None
    children: dict[str | int, _Place] | None  # made when the first mapping or list arrives
    size: int  # values this stands for once aliases are written out, itself included
    height: int  # levels of mappings and lists, itself included


class _ListFrame(_Frame):
    __slots__ = ("entries", "value")

    def __init__(self, start: int, anchor: str | None) -> None:
        self.start, self.anchor, self.children, self.size, self.height = start, anchor, None, 1, 1
        self.value: list[object] = []
        self.entries: array[int] = array("Q")


class _MapFrame(_Frame):
    __slots__ = ("entries", "key", "key_at", "merges", "value")

    def __init__(self, start: int, anchor: str | None) -> None:
        self.start, self.anchor, self.children, self.size, self.height = start, anchor, None, 1, 1
        self.value: dict[str, object] = {}
        self.entries: dict[str, int] = {}
        self.key: object = _EXPECT_KEY  # a text key, or what the next value is for
        self.key_at = 0
        self.merges: list[tuple[dict[str, object], _Place]] | None = None


class _Builder:
    """Turns the parser's events into plain values and places, collecting problems."""

    def __init__(self, file: str, text: str = "") -> None:
        self.file = file
        self.text = text
        # `|` block scalars: where each starts -> where its first line of text is (both packed).
        self.literals: dict[int, int] = {}
        self._line, self._line_start = 0, 0  # a cursor over the text, for `literal`
        self.problems: list[Problem] = []
        self.stack: list[_ListFrame | _MapFrame] = []
        self.root: object = None
        self.root_place: _Place | None = None
        self.root_start = 0
        # anchor -> (value, place, values it stands for, height, line it is defined on)
        self.anchors: dict[str, tuple[object, _Place | None, int, int, int]] = {}
        self.open_anchors: set[str] = set()
        self.alias_values = 0
        self.documents = 0

    def run(self, parser: _Loader) -> None:
        # PyYAML's events carry their fields untyped.
        get_event: Callable[[], Any] = parser.get_event
        stack = self.stack
        while True:
            event = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                mark = event.start_mark
                at = mark.line << 32 | mark.column
                if event.style == "|":
                    self.literal(at, mark.line + 1)
                if event.tag is None:
                    value = _plain(event.value) if event.implicit[0] else event.value
                else:
                    value = self.tagged(event)
                if event.anchor is not None:
                    self.check_anchor(event)
                    self.anchors[event.anchor] = (value, None, 1, 0, mark.line)
                # What `add` does, inlined for the commonest cases: this runs once per scalar.
                top = stack[-1] if stack else None
                if type(top) is _MapFrame:
                    key = top.key
                    if type(key) is str:
                        top.value[key] = value
                        top.entries[key] = top.key_at << 64 | at
                        top.size += 1
                        top.key = _EXPECT_KEY
                        continue
                    if (
                        key is _EXPECT_KEY
                        and type(value) is str
                        and value != _MERGE
                        and value not in top.value
                    ):
                        top.key, top.key_at = value, at
                        top.size += 1
                        continue
                elif type(top) is _ListFrame:
                    top.value.append(value)
                    top.entries.append(at)
                    top.size += 1
                    continue
                self.add(value, at, None, 1, 0, event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self.open(event, kind is MappingStartEvent)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                self.close()
            elif kind is AliasEvent:
                self.alias(event)
            elif kind is DocumentStartEvent:
                self.documents += 1
                if self.documents > 1:
                    self.stop(
                        event.start_mark,
                        "only one YAML document per file",
                        "remove the second `---` line, or move what follows it to its own file",
                    )
            elif kind is StreamEndEvent:
                return

    def literal(self, at: int, line: int) -> None:
        """Remember where the text of the `|` block starting at `at` is: from the next line on,
        indented as its first line that is not blank."""
        text, cursor, start = self.text, self._line, self._line_start
        while cursor < line:  # events come in file order, so the cursor only moves forward
            end = text.find("\n", start)
            if end < 0:
                return
            cursor, start = cursor + 1, end + 1
        self._line, self._line_start = cursor, start
        while True:  # leading blank lines are part of the value, but do not set the indentation
            end = text.find("\n", start)
            row = text[start : end if end >= 0 else len(text)]
            if row.strip() or end < 0:
                break
            start = end + 1
        indent = len(row) - len(row.lstrip(" "))
        self.literals[at] = line << 32 | indent

    def add(
        self, value: object, at: int, place: _Place | None, size: int, height: int, event: Any
    ) -> None:
        """Put a finished value into the mapping or list around it."""
        if not self.stack:
            self.root, self.root_place, self.root_start = value, place, at
            return
        frame = self.stack[-1]
        frame.size += size
        if height >= frame.height:
            frame.height = height + 1
        if isinstance(frame, _ListFrame):
            if place is not None:
                if frame.children is None:
                    frame.children = {}
                frame.children[len(frame.value)] = place
            frame.value.append(value)
            frame.entries.append(at)
            return
        key = frame.key
        if key is _EXPECT_KEY:
            frame.key, frame.key_at = self.take_key(frame, value, at, event), at
            return
        if type(key) is str:
            frame.value[key] = value
            frame.entries[key] = frame.key_at << 64 | at
            if place is not None:
                if frame.children is None:
                    frame.children = {}
                frame.children[key] = place
        elif key is _MERGE_VALUE:
            self.merge(frame, value, place)
        frame.key = _EXPECT_KEY

    def take_key(self, frame: _MapFrame, key: object, at: int, event: Any) -> object:
        """What the value after this key is for: the key itself if it is good text."""
        plain = isinstance(event, ScalarEvent) and event.tag is None and event.implicit[0]
        if type(key) is str:
            if key == _MERGE and plain:
                return _MERGE_VALUE
            if key not in frame.value:
                return key
            line = (frame.entries[key] >> 96) + 1
            self.report(at, f"duplicate key {key!r} (first at line {line})", "keep one of them")
            return _SKIP_VALUE
        text = event.value if isinstance(event, ScalarEvent) else None
        if key is None:
            kind = "empty"
        else:
            kind = _KINDS.get(type(key), "not text")
            kind += f" ({text})" if text is not None else ""
        hint = (
            f'put the key in quotes ("{text}") or write a name'
            if text is not None
            else "write a plain name before the colon"
        )
        self.report(at, f"keys must be text, but this key is {kind}", hint)
        return _SKIP_VALUE

    def open(self, event: Any, is_map: bool) -> None:
        mark = event.start_mark
        if len(self.stack) > _MAX_DEPTH:
            self.stop(mark, _TOO_DEEP, _FLATTEN)
        tag = event.tag
        if tag is not None and tag != "!" and tag != (_MAP if is_map else _SEQ):
            self.bad_tag(mark, tag)
        if event.anchor is not None:
            self.check_anchor(event)
            self.open_anchors.add(event.anchor)
        start = mark.line << 32 | mark.column
        frame = _MapFrame(start, event.anchor) if is_map else _ListFrame(start, event.anchor)
        self.stack.append(frame)

    def close(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame, _MapFrame) and frame.merges:
            # YAML merge keys: the mapping's own keys win, then earlier merged mappings win.
            values: dict[str, object] = {}
            entries: dict[str, int] = {}
            children: dict[str | int, _Place] = {}
            for more_values, more in reversed(frame.merges):
                if isinstance(more.entries, dict):
                    values.update(more_values)
                    entries.update(more.entries)
                    children.update(more.children or {})
            values.update(frame.value)
            entries.update(frame.entries)
            children.update(frame.children or {})
            frame.value, frame.entries, frame.children = values, entries, children or None
        place = _Place(frame.start, frame.entries, frame.children)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            line = frame.start >> 32
            self.anchors[frame.anchor] = (frame.value, place, frame.size, frame.height, line)
        self.add(frame.value, frame.start, place, frame.size, frame.height, None)

    def merge(self, frame: _MapFrame, value: object, place: _Place | None) -> None:
        """Remember the mappings a `<<` key names, to merge them when the mapping ends."""
        if isinstance(value, dict) and place is not None:
            sources = [(value, place)]
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            inner = (place.children or {}) if place is not None else {}
            sources = [(item, inner[index]) for index, item in enumerate(value)]
        else:
            self.report(
                frame.key_at,
                "`<<` must be followed by a mapping or a list of them",
                "write `<<: *name` where `&name` marks a mapping",
            )
            return
        frame.merges = [*(frame.merges or []), *sources]

    def alias(self, event: Any) -> None:
        name, mark = event.anchor, event.start_mark
        if name in self.open_anchors:
            self.stop(
                mark,
                "an alias refers to a value that contains it",
                "an alias (*name) cannot be used inside its own anchor (&name)",
            )
        found = self.anchors.get(name)
        if found is None:
            self.stop(mark, f"undefined alias *{name}", f"define the anchor &{name} before it")
        value, place, size, height, _ = found
        if len(self.stack) + height - 1 > _MAX_DEPTH:
            self.stop(mark, _TOO_DEEP, _FLATTEN)
        # The value is shared, so this costs nothing here; but whoever walks the data next
        # walks it once per use, so every use counts as if written out.
        self.alias_values += size
        if self.alias_values > _MAX_ALIAS_VALUES:
            self.stop(
                mark,
                "too many aliases (billion laughs?)",
                f"aliases may expand to at most {_MAX_ALIAS_VALUES:,} values; "
                "write the values out or use fewer nested aliases",
            )
        self.add(value, mark.line << 32 | mark.column, place, size, height, None)

    def check_anchor(self, event: Any) -> None:
        """Report an anchor name used twice; YAML lets the later one win, as it does here."""
        name = event.anchor
        first = self.anchors.get(name)
        if first is None and name not in self.open_anchors:
            return
        line = f" (first at line {first[4] + 1})" if first is not None else ""
        self.report(
            _pack(event.start_mark),
            f"duplicate anchor &{name}{line}",
            "give each anchor (&name) its own name",
        )

    def tagged(self, event: Any) -> object:
        tag, text = event.tag, event.value
        if tag == "!" or tag == _TAG + "str":
            return text
        wanted = _TAGGED_SCALARS.get(tag)
        if wanted is None:
            self.bad_tag(event.start_mark, tag)
            return text
        value = _plain(text)
        if not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool)):
            shown = tag.replace(_TAG, "!!", 1)
            self.report(
                _pack(event.start_mark),
                f"{text!r} is not a valid {shown}",
                f"remove the {shown} tag or fix the value",
            )
            return text
        if tag == _TAG + "float" and isinstance(value, int):
            return float(value)
        return value

    def bad_tag(self, mark: Any, tag: str) -> None:
        shown = tag.replace(_TAG, "!!", 1)
        self.report(
            _pack(mark),
            f"tags are not allowed ({shown})",
            f"remove {shown}; write the value as plain text",
        )

    def where(self) -> str:
        """The path being read: down to the value in hand, or to the mapping whose key it is."""
        steps: list[str | int] = []
        for frame in self.stack:
            if isinstance(frame, _ListFrame):
                steps.append(len(frame.value))
            elif isinstance(frame.key, str):
                steps.append(frame.key)
            elif frame.key is _MERGE_VALUE:
                steps.append(_MERGE)
            elif frame.key is _SKIP_VALUE:
                steps.append("?")
            else:
                break
        return dotted(steps)

    def report(self, at: int, message: str, hint: str) -> None:
        line, column = (at >> 32) + 1, (at & _LOW_32) + 1
        self.problems.append(Problem(self.file, line, column, self.where(), message, hint))

    def stop(self, mark: Any, message: str, hint: str) -> NoReturn:
        line, column = mark.line + 1, mark.column + 1
        raise _Stop(Problem(self.file, line, column, self.where(), message, hint))


def _plain(text: str) -> object:
    """A plain scalar under the YAML 1.2 core schema, except that true/false/null ignore case.

    Times, `yes`/`no`/`on`/`off`, `1:30` and `1_000` stay text (YAML 1.1 would convert them).
    """
    if not text:
        return None
    if text[0] in "0123456789+-.":
        return _number(text)
    if len(text) > 5:
        return text
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null" or text == "~":
        return None
    return text


def _number(text: str) -> object:
    try:
        if _INT.fullmatch(text):
            return int(text)
        if _HEX.fullmatch(text):
            return int(text[2:], 16)
        if _OCTAL.fullmatch(text):
            return int(text[2:], 8)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return text
    if _FLOAT.fullmatch(text):
        return float(text)
    return _SPECIAL_FLOATS.get(text.lower(), text)


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


def _pack(mark: Any) -> int:
    line: int = mark.line
    column: int = mark.column
    return line << 32 | column


def _unpack(packed: int) -> Position:
    return Position((packed >> 32) + 1, (packed & _LOW_32) + 1)
