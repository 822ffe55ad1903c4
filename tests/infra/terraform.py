"""Helpers of the deployment tests: repository paths and parsed Terraform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of labels and strings: strip them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load_tf(path: Path) -> dict[str, Any]:
    import hcl2

    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def blocks(parsed: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """``{label: body}`` of one-label blocks (variable, output) in a parsed file."""
    found: dict[str, dict[str, Any]] = {}
    for entry in parsed.get(kind, []):
        for label, body in entry.items():
            found[unquote(label)] = body
    return found


def two_label_blocks(parsed: dict[str, Any], kind: str) -> set[str]:
    """``type.name`` addresses of two-label blocks (resource, data) in a parsed file."""
    found = set()
    for entry in parsed.get(kind, []):
        for rtype, named in entry.items():
            for name in named:
                found.add(f"{unquote(rtype)}.{unquote(name)}")
    return found
