"""Pydantic's validation errors, rewritten as problems a campaigner can fix.

Each error gets the line and column of the value it is about (from the YAML reader), a plain
message, and a hint: the closest known key for a typo, the allowed values, or the field's purpose.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.campaign.yamlsource import YamlDocument
from bot.core.problems import Problem, dotted

# Names campaigners bring from Mastodon's API and other tools, too far from ours for difflib.
_SYNONYMS = {
    "alt_text": "alt",
    "description": "alt",
    "spoiler_text": "cw",
    "content_warning": "cw",
    "status": "text",
    "lang": "language",
    "tags": "hashtags",
    "time": "at",
    "when": "at",
    "replies": "thread",
    "image": "media",
    "images": "media",
}
# Pydantic names the member of a union (`str | int`) each of its errors is about; campaigners
# wrote one value, so those names are dropped and the value is reported once.
_UNION_MEMBERS = frozenset({"str", "int", "float", "bool"})


def problems_from_validation(
    error: ValidationError,
    model: type[BaseModel],
    doc: YamlDocument,
    display: str,
    prefix: Sequence[str | int] = (),
) -> list[Problem]:
    problems = []
    seen: set[tuple[str | int, ...]] = set()
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        if item["type"] != "extra_forbidden":  # there the last part is the campaigner's key
            loc = tuple(p for p in loc if p not in _UNION_MEMBERS and "[" not in str(p))
        if loc in seen:
            continue
        seen.add(loc)
        where = (*prefix, *loc)
        message, hint = _explain(item, model, loc)
        # An unknown key is pointed at itself; anything else at its value.
        unknown = item["type"] == "extra_forbidden"
        pos = doc.key_position(where) if unknown else doc.position(where)
        problems.append(Problem(display, pos.line, pos.column, dotted(where), message, hint))
    return problems


def _explain(item: Any, model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, str]:
    kind = item["type"]
    owner, field = _owner_of(model, loc)
    description = _description(owner, field)
    if kind == "extra_forbidden":
        known = sorted(_keys(owner)) if owner else []
        synonym = _SYNONYMS.get(str(loc[-1]))
        if synonym in known:
            return f"unknown key {loc[-1]!r}", f"did you mean `{synonym}`?"
        holder = _holder_of(owner, synonym) if synonym else ""
        if holder:
            return (
                f"unknown key {loc[-1]!r}",
                f"did you mean `{synonym}`? It belongs to each entry of `{holder}:`",
            )
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        if close:
            return f"unknown key {loc[-1]!r}", f"did you mean `{close[0]}`?"
        return f"unknown key {loc[-1]!r}", f"known keys here: {', '.join(known)}"
    if kind == "missing":
        return "required but missing", description or "add it"
    if kind in {"enum", "literal_error"}:
        expected = item.get("ctx", {}).get("expected", "")
        return f"{item['input']!r} is not allowed", f"use one of {expected}"
    if kind == "string_pattern_mismatch" and field == "id":
        return (
            f"{item['input']!r} is not a valid id",
            "use lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit",
        )
    if kind == "string_pattern_mismatch":
        return f"{item['input']!r} is not allowed", description or item["msg"]
    if kind in {
        "string_type",
        "int_type",
        "bool_type",
        "list_type",
        "float_type",
        "dict_type",
        "model_type",
        "tuple_type",
        "int_parsing",
        "float_parsing",
        "bool_parsing",
    }:
        wanted = {
            "string_type": "text",
            "int_type": "a whole number",
            "int_parsing": "a whole number",
            "bool_type": "true or false",
            "bool_parsing": "true or false",
            "list_type": "a list",
            "float_type": "a number",
            "float_parsing": "a number",
            "dict_type": "a mapping",
            "model_type": "a mapping",
            "tuple_type": "a list of two numbers",
        }[kind]
        hint = description or f"write {wanted}"
        if kind == "string_type" and item["input"] is None and loc[-2:-1] == ("hashtags",):
            return (
                "a hashtag is empty",
                "in YAML `#` starts a comment: write the tag without `#`, e.g. `- ClimateJustice`",
            )
        if kind == "string_type" and item["input"] is None:
            return "is empty", hint
        return f"expected {wanted}, got {_shown(item['input'])}", hint
    return item["msg"], description


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


def _owner_of(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, str]:
    """The model that holds the last key of `loc`, and that key."""
    current: Any = model
    owner: type[BaseModel] | None = model
    field = ""
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else Any
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            owner = current
            field = str(part)
            info = _field_info(current, field)
            current = info.annotation if info else Any
        else:
            return owner, str(part)
    return owner, field


def _unwrap(annotation: Any) -> Any:
    if typing.get_origin(annotation) in {typing.Union, types.UnionType}:
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
        return parts[0] if len(parts) == 1 else annotation
    return annotation


def _field_info(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _holder_of(model: type[BaseModel] | None, key: str) -> str:
    """The field of `model` whose entries (a list of models) have `key`, e.g. `media` for `alt`."""
    for name, info in (model.model_fields if model else {}).items():
        args = typing.get_args(_unwrap(info.annotation))
        inner = args[0] if args else None
        if isinstance(inner, type) and issubclass(inner, BaseModel) and key in _keys(inner):
            return info.alias or name
    return ""


def _keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _description(model: type[BaseModel] | None, field: str) -> str:
    if model is None or not field:
        return ""
    info = _field_info(model, field)
    return (info.description or "") if info else ""
