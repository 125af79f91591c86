"""One line of `campaign-bot doctor`: what was checked, whether it passed, what to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def render(self) -> str:
        mark = "✓" if self.ok else "✗"
        line = f"{mark} {self.name}: {self.detail}"
        return line + (f" — {self.fix}" if self.fix and not self.ok else "")
