"""Places in a YAML file, packed small: where each value of a document was written."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any, Final

LOW_32: Final = (1 << 32) - 1
LOW_64: Final = (1 << 64) - 1
NO_KEY: Final = -1


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a file; both numbers start at 1."""

    line: int
    column: int


class Place:
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
        children: dict[str | int, Place] | None,
    ) -> None:
        self.start = start
        self.entries = entries
        self.children = children


def pack(mark: Any) -> int:
    line: int = mark.line
    column: int = mark.column
    return line << 32 | column


def unpack(packed: int) -> Position:
    return Position((packed >> 32) + 1, (packed & LOW_32) + 1)
