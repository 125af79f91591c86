"""The parser's events turned into plain values and their places, with every problem found.

No YAML constructor runs, so no tag can create an object; aliases are followed with a budget,
so a "billion laughs" file is refused in milliseconds.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any, Final, NoReturn

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

from bot.campaign.yamlplaces import LOW_32, Place, pack
from bot.campaign.yamlscalars import KINDS, TAG, TAGGED_SCALARS, plain
from bot.core.problems import Problem, dotted

__all__ = ["Builder", "Loader", "Stop"]

try:
    from yaml import CSafeLoader as Loader
except ImportError:  # PyYAML built without libyaml: the same events, only slower
    from yaml import SafeLoader as Loader  # type: ignore[assignment]

_SEQ: Final = TAG + "seq"
_MAP: Final = TAG + "map"
_MERGE: Final = "<<"
# What a mapping frame waits for next, when not for the value of a text key.
_EXPECT_KEY: Final = object()
_SKIP_VALUE: Final = object()  # the key was reported; its value is read but dropped
_MERGE_VALUE: Final = object()

_MAX_DEPTH: Final = 64
# Values produced by following aliases; a file's own values are already bounded by max_bytes.
_MAX_ALIAS_VALUES: Final = 1_000_000

_TOO_DEEP: Final = f"the data is nested more than {_MAX_DEPTH} levels deep"
_FLATTEN: Final = "flatten the structure"


class Stop(Exception):
    """Reading cannot go on: an alias loop, bomb or typo, too much nesting, a second document."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Frame:
    """A mapping or list whose end the parser has not reached yet."""

    __slots__ = ("anchor", "children", "height", "size", "start")
    start: int
    anchor: str | None
    children: dict[str | int, Place] | None  # made when the first mapping or list arrives
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
        self.merges: list[tuple[dict[str, object], Place]] | None = None


class Builder:
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
        self.root_place: Place | None = None
        self.root_start = 0
        # anchor -> (value, place, values it stands for, height, line it is defined on)
        self.anchors: dict[str, tuple[object, Place | None, int, int, int]] = {}
        self.open_anchors: set[str] = set()
        self.alias_values = 0
        self.documents = 0

    def run(self, parser: Loader) -> None:
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
                    value = plain(event.value) if event.implicit[0] else event.value
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
        self, value: object, at: int, place: Place | None, size: int, height: int, event: Any
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
            kind = KINDS.get(type(key), "not text")
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
            children: dict[str | int, Place] = {}
            for more_values, more in reversed(frame.merges):
                if isinstance(more.entries, dict):
                    values.update(more_values)
                    entries.update(more.entries)
                    children.update(more.children or {})
            values.update(frame.value)
            entries.update(frame.entries)
            children.update(frame.children or {})
            frame.value, frame.entries, frame.children = values, entries, children or None
        place = Place(frame.start, frame.entries, frame.children)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            line = frame.start >> 32
            self.anchors[frame.anchor] = (frame.value, place, frame.size, frame.height, line)
        self.add(frame.value, frame.start, place, frame.size, frame.height, None)

    def merge(self, frame: _MapFrame, value: object, place: Place | None) -> None:
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
            pack(event.start_mark),
            f"duplicate anchor &{name}{line}",
            "give each anchor (&name) its own name",
        )

    def tagged(self, event: Any) -> object:
        tag, text = event.tag, event.value
        if tag == "!" or tag == TAG + "str":
            return text
        wanted = TAGGED_SCALARS.get(tag)
        if wanted is None:
            self.bad_tag(event.start_mark, tag)
            return text
        value = plain(text)
        if not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool)):
            shown = tag.replace(TAG, "!!", 1)
            self.report(
                pack(event.start_mark),
                f"{text!r} is not a valid {shown}",
                f"remove the {shown} tag or fix the value",
            )
            return text
        if tag == TAG + "float" and isinstance(value, int):
            return float(value)
        return value

    def bad_tag(self, mark: Any, tag: str) -> None:
        shown = tag.replace(TAG, "!!", 1)
        self.report(
            pack(mark),
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
        line, column = (at >> 32) + 1, (at & LOW_32) + 1
        self.problems.append(Problem(self.file, line, column, self.where(), message, hint))

    def stop(self, mark: Any, message: str, hint: str) -> NoReturn:
        line, column = mark.line + 1, mark.column + 1
        raise Stop(Problem(self.file, line, column, self.where(), message, hint))
