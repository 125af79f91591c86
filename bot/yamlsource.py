"""Read one YAML file safely into plain Python, remembering where every value was written.

Campaign files are written by hand, so every mistake becomes a `Problem` with a line and column
instead of an exception, and positions stay available for the validation that runs afterwards.
"""

from __future__ import annotations

import codecs
import gc
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.errors import Problem

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # PyYAML built without libyaml: same nodes and marks, only slower
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

__all__ = ["Position", "YamlDocument", "read_yaml"]

_TAG: Final = "tag:yaml.org,2002:"
_STR: Final = _TAG + "str"
_SEQ: Final = _TAG + "seq"
_MAP: Final = _TAG + "map"
# Our own marker for untagged plain scalars, so they get the YAML 1.2 core rules below and an
# explicit `!!str 10` can still be told apart from a plain `10`.
_PLAIN: Final = "tag:campaign-bot,2024:plain"
_MERGE: Final = "<<"
_ABSENT: Final = object()
_BUILDING: Final = object()

_MAX_DEPTH: Final = 64
# Values produced by following aliases; a file's own values are already bounded by max_bytes.
_MAX_ALIAS_VALUES: Final = 1_000_000

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
_WRONG_TAG: Final = "tag"
_KINDS: Final[dict[type, str]] = {int: "a number", float: "a number", bool: "true/false"}
_LINE_BREAK: Final = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
# The characters YAML 1.2 allows in a stream (spec production c-printable).
_NOT_PRINTABLE: Final = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
_SYNTAX_HINTS: Final = (
    (
        "could not find expected ':'",
        "each line of a mapping needs `key: value`; check the "
        "indentation and quotes on this line or the one before",
    ),
    (
        "mapping values are not allowed",
        "put the value in quotes if it contains ': ', otherwise check the indentation",
    ),
    ("cannot start any token", "put the value in quotes"),
    ("end of stream", "a quote or bracket is not closed; add the closing one"),
    (
        "unknown escape",
        "inside \"double quotes\" write \\\\ for a backslash, or use 'single quotes'",
    ),
    (
        "did not find expected",
        "check the indentation: entries of one list or mapping must line "
        "up, and brackets must be closed",
    ),
    ("undefined alias", "define the anchor (&name) before the alias (*name) that uses it"),
    ("duplicate anchor", "give each anchor (&name) its own name"),
)
_DEFAULT_HINT: Final = "check the indentation and quotes on this line or the one before"


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a file; both numbers start at 1."""

    line: int
    column: int


class YamlDocument:
    """The plain data of one file and the node tree that says where each value was written."""

    __slots__ = ("_root", "data", "path")

    def __init__(self, data: object, path: Path, root: Node | None) -> None:
        self.data = data
        self.path = path
        self._root = root

    def position(self, where: Sequence[str | int]) -> Position:
        """Where the entry at this path starts: the key for a mapping entry, else the value.

        A path that does not exist gives the nearest existing ancestor (the mapping that lacks
        the key). A value that comes from an alias is placed at its anchor.
        """
        key, value = self._locate(where)
        return _position(key or value)

    def key_position(self, where: Sequence[str | int]) -> Position:
        """Where the key token at the end of this path is, falling back like `position`."""
        return self.position(where)

    def value_position(self, where: Sequence[str | int]) -> Position:
        """Where the value itself starts (after its key), falling back like `position`."""
        return _position(self._locate(where)[1])

    def _locate(self, where: Sequence[str | int]) -> tuple[Mark | None, Mark | None]:
        node = self._root
        if node is None:
            return None, None
        key_mark: Mark | None = None
        for step in where:
            child: tuple[Node, Node] | None = None
            if isinstance(node, MappingNode) and isinstance(step, str):
                child = _find_key(node, step)
            elif (
                isinstance(node, SequenceNode) and type(step) is int and 0 <= step < len(node.value)
            ):
                child = (None, node.value[step])  # type: ignore[assignment]
            if child is None:
                return None, node.start_mark
            key_node, node = child
            key_mark = key_node.start_mark if key_node is not None else None
        return key_mark, node.start_mark


def read_yaml(
    path: Path, *, display_name: str | None = None, max_bytes: int = 5_000_000
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
                raw = stream.read(max_bytes + 1)
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
    # Building hundreds of thousands of nodes and marks sets off the cycle collector again and
    # again (measured: 2.9 s instead of 0.5 s for a 10,000-post file); none of them form cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(file, path, text)
    finally:
        if collecting:
            gc.enable()


def _parse(file: str, path: Path, text: str) -> tuple[YamlDocument | None, list[Problem]]:
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_problem(file, text, error)]
    except yaml.YAMLError as error:
        return None, [_reader_problem(file, text, error)]
    except RecursionError:  # only the pure-Python composer recurses without a depth limit
        return None, [_too_deep(file, None)]
    if root is None:
        return YamlDocument(None, path, None), []
    builder = _Builder(file)
    try:
        data = builder.value(root, 0)
    except _Stop as stop:
        return None, [*builder.problems, stop.problem]
    return YamlDocument(data, path, root), builder.problems


class _Resolution:
    """Leaves tag resolution to `_Builder`, which follows YAML 1.2 core rather than YAML 1.1."""

    def resolve(self, kind: type[Node], value: str | None, implicit: object) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR  # type: ignore[index]
        return _SEQ if kind is SequenceNode else _MAP

    # Path-based resolvers are never registered; skipping their per-node bookkeeping saves
    # about a tenth of the composing time.
    def descend_resolver(self, current_node: Node | None, current_index: object) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


class _Loader(_Resolution, _BaseLoader):
    """PyYAML's safe loader (libyaml-backed when available) with our tag resolution."""


class _Stop(Exception):
    """Building cannot go on (an alias loop, an alias bomb, too deep)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Builder:
    """Turns the node tree into plain values, collecting problems as it goes."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.path: list[str | int] = []
        self.built: dict[int, object] = {}  # id(collection node) -> its value, once built
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) if written out
        self.alias_values = 0

    def value(self, node: Node, depth: int) -> object:
        if type(node) is ScalarNode:
            tag = node.tag
            if tag == _PLAIN:
                return _plain(node.value)
            return node.value if tag == _STR else self.scalar(node)
        built = self.built.get(id(node), _ABSENT)
        if built is _ABSENT:
            if depth > _MAX_DEPTH:
                raise _Stop(_too_deep(self.file, node.start_mark))
            self.built[id(node)] = _BUILDING
            built = self.built[id(node)] = self.collection(node, depth)
            return built
        if built is _BUILDING:
            self.stop(
                node.start_mark,
                "an alias refers to a value that contains it",
                "an alias (*name) cannot be used inside its own anchor (&name)",
            )
        # An alias gives the anchor's value again. Sharing it costs nothing here, but whoever
        # walks the data afterwards walks it once per use, so every use counts as written out.
        values, height = self.measure(node)
        if depth + height > _MAX_DEPTH:
            raise _Stop(_too_deep(self.file, node.start_mark))
        self.alias_values += values
        if self.alias_values > _MAX_ALIAS_VALUES:
            self.stop(
                node.start_mark,
                "too many aliases (billion laughs?)",
                f"aliases may expand to at most {_MAX_ALIAS_VALUES:,} values; "
                "write the values out or use fewer nested aliases",
            )
        return built

    def collection(self, node: Node, depth: int) -> object:
        is_sequence = isinstance(node, SequenceNode)
        if node.tag != (_SEQ if is_sequence else _MAP):
            self.bad_tag(node)
        if not is_sequence:
            return self.mapping(node, depth + 1)
        items: list[object] = []
        path = self.path
        for index, item in enumerate(node.value):
            path.append(index)
            items.append(self.value(item, depth + 1))
            path.pop()
        return items

    def mapping(self, node: Node, depth: int) -> dict[str, object]:
        result: dict[str, object] = {}
        merged: list[dict[str, object]] = []
        path = self.path
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            if key is None:
                key = self.key(key_node)
            elif key == _MERGE and key_node.tag == _PLAIN:
                merged.extend(self.merge_sources(value_node, depth))
                continue
            path.append(key if key is not None else "?")
            value = self.value(value_node, depth)
            path.pop()
            if key is None:
                continue
            if key in result:
                self.duplicate(node, key, key_node)
            else:
                result[key] = value
        if not merged:
            return result
        # YAML merge keys: the mapping's own keys win, then earlier merged mappings win.
        combined: dict[str, object] = {}
        for source in reversed(merged):
            combined.update(source)
        combined.update(result)
        return combined

    def duplicate(self, node: Node, key: str, second: Node) -> None:
        first = _find_key(node, key)
        line = first[0].start_mark.line + 1 if first is not None else second.start_mark.line + 1
        message = f"duplicate key {key!r} (first at line {line})"
        self.report(second.start_mark, message, "keep one of them")

    def merge_sources(self, node: Node, depth: int) -> list[dict[str, object]]:
        self.path.append(_MERGE)
        try:
            sources = node.value if isinstance(node, SequenceNode) else [node]
            if all(isinstance(source, MappingNode) for source in sources):
                return [self.mapping_value(source, depth) for source in sources]
            self.report(
                node.start_mark,
                "`<<` must be followed by a mapping or a list of them",
                "write `<<: *name` where `&name` marks a mapping",
            )
            return []
        finally:
            self.path.pop()

    def mapping_value(self, node: Node, depth: int) -> dict[str, object]:
        value = self.value(node, depth)
        return value if isinstance(value, dict) else {}

    def key(self, node: Node) -> str | None:
        if type(node) is ScalarNode:
            key = self.scalar(node)
            if isinstance(key, str):
                return key
            kind = "empty" if key is None else f"{_KINDS[type(key)]} ({node.value})"
            hint = f'put the key in quotes ("{node.value}") or write a name'
        else:
            kind = "a list" if isinstance(node, SequenceNode) else "a mapping"
            hint = "write a plain name before the colon"
        self.report(node.start_mark, f"keys must be text, but this key is {kind}", hint)
        return None

    def scalar(self, node: ScalarNode) -> object:
        value, wrong = _scalar_value(node)
        if wrong == _WRONG_TAG:
            self.bad_tag(node)
        elif wrong:
            self.report(
                node.start_mark,
                f"{node.value!r} is not a valid {wrong}",
                f"remove the {wrong} tag or fix the value",
            )
        return value

    def measure(self, node: Node) -> tuple[int, int]:
        """How many values re-building this node makes, and how deep they nest."""
        if type(node) is ScalarNode:
            return 1, 0
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        children = node.value if isinstance(node, SequenceNode) else [v for _, v in node.value]
        values, height = 1 + (len(children) if isinstance(node, MappingNode) else 0), 0
        for child in children:
            child_values, child_height = self.measure(child)
            values += child_values
            height = max(height, child_height + 1)
        self.sizes[id(node)] = values, height
        return values, height

    def bad_tag(self, node: Node) -> None:
        shown = node.tag.replace(_TAG, "!!", 1)
        self.report(
            node.start_mark,
            f"tags are not allowed ({shown})",
            f"remove {shown}; write the value as plain text",
        )

    def report(self, mark: Mark, message: str, hint: str) -> None:
        self.problems.append(_problem(self.file, mark, message, hint, _where(self.path)))

    def stop(self, mark: Mark, message: str, hint: str) -> NoReturn:
        raise _Stop(_problem(self.file, mark, message, hint, _where(self.path)))


def _scalar_value(node: ScalarNode) -> tuple[object, str]:
    """The value of a scalar node, and what is wrong with its tag ("" when nothing is)."""
    tag, text = node.tag, node.value
    if tag == _PLAIN:
        return _plain(text), ""
    if tag == _STR:
        return text, ""
    wanted = _TAGGED_SCALARS.get(tag)
    if wanted is None:
        return text, _WRONG_TAG
    value = _plain(text)
    shown = tag.replace(_TAG, "!!", 1)
    if not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool)):
        return text, shown
    if tag == _TAG + "float":
        return float(value), ""  # type: ignore[arg-type]
    return value, ""


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


def _key_text(node: Node) -> str | None:
    """The key as text when it is plain or quoted text (the common case), else None."""
    if type(node) is ScalarNode:
        if node.tag == _STR:
            return str(node.value)
        if node.tag == _PLAIN:
            value = _plain(node.value)
            return value if type(value) is str else None
    return None


def _is_merge(node: Node) -> bool:
    return type(node) is ScalarNode and node.tag == _PLAIN and node.value == _MERGE


def _find_key(node: Node, key: str) -> tuple[Node, Node] | None:
    """The first entry with this key, looking into merged mappings like `_Builder` does."""
    merges: list[Node] = []
    for key_node, value_node in node.value:
        if _is_merge(key_node):
            merges.append(value_node)
        elif type(key_node) is ScalarNode and _scalar_value(key_node)[0] == key:
            return key_node, value_node
    for merge in merges:
        for source in merge.value if isinstance(merge, SequenceNode) else [merge]:
            found = _find_key(source, key) if isinstance(source, MappingNode) else None
            if found is not None:
                return found
    return None


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
    context, problem = error.context or "", error.problem or "the file is not valid YAML"
    if context.startswith("expected a single document"):
        return _problem(
            file,
            mark,
            "only one YAML document per file",
            "remove the second `---` line, or move what follows it to its own file",
        )
    if "duplicate anchor" in context and error.context_mark is not None:
        problem, context = context.partition(";")[0], ""
        problem += f" (first at line {error.context_mark.line + 1})"
    line = lines[mark.line] if mark.line < len(lines) else ""
    if "cannot start any token" in problem and mark.column < len(line):
        problem = f"found character {line[mark.column]!r} that cannot start any token"
    alias = re.match(r"\*([^\s,\[\]{}]+)", line[mark.column :])
    if "undefined alias" in problem and alias and "'" not in problem:
        problem += f" {alias.group(1)!r}"
    message = f"YAML syntax error: {problem}"
    if context and error.context_mark is not None and error.context_mark.line != mark.line:
        message += f" ({context} at line {error.context_mark.line + 1})"
    hint = next((hint for part, hint in _SYNTAX_HINTS if part in problem), _DEFAULT_HINT)
    return _problem(file, mark, message, hint)


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


def _too_deep(file: str, mark: Mark | None) -> Problem:
    message = f"the data is nested more than {_MAX_DEPTH} levels deep"
    if mark is None:
        return Problem(file, 0, 0, "", message, "flatten the structure")
    return _problem(file, mark, message, "flatten the structure")


def _problem(file: str, mark: Mark, message: str, hint: str, where: str = "") -> Problem:
    return Problem(file, mark.line + 1, mark.column + 1, where, message, hint)


def _position(mark: Mark | None) -> Position:
    return Position(1, 1) if mark is None else Position(mark.line + 1, mark.column + 1)


def _where(path: Sequence[str | int]) -> str:
    """`posts[2].media[0].alt` for ("posts", 2, "media", 0, "alt")."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text
