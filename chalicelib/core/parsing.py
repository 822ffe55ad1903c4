"""Strict parsing of client input shared by every layer: JSON, and JSON's whole numbers."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core.errors import InputError, InvalidRequest

# Deeper JSON than this is refused before anything walks it recursively.
MAX_JSON_DEPTH = 32


def parse_json(
    raw: str | bytes,
    error: type[InputError] = InvalidRequest,
    what: str = "The body",
    field: str | None = None,
) -> Any:
    """Parse client JSON strictly: UTF-8 only, no NaN, at most MAX_JSON_DEPTH deep, and
    no lone UTF-16 surrogate (``"\\ud800"``) in any string; else ``error`` (a 400/422)."""
    details = {"field": field} if field else {}
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and UnicodeDecodeError; a very deep
        # document exhausts the parser's recursion.
        raise error(f"{what} is not valid JSON.", **details) from None
    try:
        _check_json_value(value, what)
    except ValueError as exc:
        raise error(str(exc), **details) from None
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_json_value(value: Any, what: str) -> None:
    # Iterative, so the check itself never recurses; depth counts containers.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                raise ValueError(f"{what} holds text that is not valid Unicode (a lone surrogate).")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"{what} is nested deeper than {MAX_JSON_DEPTH} levels.")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def whole_number(value: Any) -> Any:
    """``value`` as an int when JSON gave a whole number (``12`` or ``12.0``), else as is.

    JSON Schema counts 12.0 as an integer; ``True`` is not one.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
