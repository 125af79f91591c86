"""One line of `campaign-bot doctor`: what was checked, whether it passed, what to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: the check could not be made, which is not a pass
    detail: str
    fix: str = ""

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "?"}[self.ok]

    def render(self) -> str:
        line = f"{self.mark} {self.name}: {self.detail}"
        return line + (f" — {self.fix}" if self.fix and self.ok is not True else "")
