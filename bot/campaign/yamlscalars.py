"""Plain YAML 1.2 scalars (the core schema) turned into Python values."""

from __future__ import annotations

import re
from typing import Final

TAG: Final = "tag:yaml.org,2002:"

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

TAGGED_SCALARS: Final[dict[str, type | tuple[type, ...]]] = {
    TAG + "int": int,
    TAG + "float": (int, float),
    TAG + "bool": bool,
    TAG + "null": type(None),
}
KINDS: Final[dict[type, str]] = {
    int: "a number",
    float: "a number",
    bool: "true/false",
    list: "a list",
    dict: "a mapping",
}


def plain(text: str) -> object:
    """A plain scalar under the YAML 1.2 core schema, except that true/false/null ignore case.

    Times, `yes`/`no`/`on`/`off`, `1:30` and `1_000` stay text (YAML 1.1 would convert them).
    """
    if not text:
        return None
    if text[0] in "0123456789+-.":
        return number(text)
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


def number(text: str) -> object:
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
