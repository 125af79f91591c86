"""Problems found in input files: each with its place, what is wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


def dotted(where: Sequence[str | int]) -> str:
    """`posts[2].media[0].alt` for ("posts", 2, "media", 0, "alt")."""
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file, with its place and the way to fix it.

    `where` is the dotted path inside the file (``posts[2].media[0].alt``), or "" for the file
    as a whole. `line` and `column` are 1-based; 0 means the place is the whole file.
    """

    file: Path | str
    line: int
    column: int
    where: str
    message: str
    hint: str = ""
    severity: Severity = Severity.ERROR

    def render(self) -> str:
        place = f"{self.file}"
        if self.line:
            place += f":{self.line}:{self.column or 1}"
        text = f"{place}: {self.severity.value}: "
        if self.where:
            text += f"{self.where}: "
        text += self.message
        if self.hint:
            text += f" — {self.hint}"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "file": str(self.file),
            "line": self.line,
            "column": self.column,
            "where": self.where,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity.value,
        }
