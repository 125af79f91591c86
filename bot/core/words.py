"""Counts written as people write them: `1 post`, `2 posts`."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """`number` and `noun`, in the plural (`noun` + "s" unless given) unless it is exactly 1."""
    return f"{number} {noun if number == 1 else (plural or noun + 's')}"
