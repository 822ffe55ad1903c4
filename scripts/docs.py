"""Generated tables in the docs: options (from the schema), errors, settings.

Each fact lives in code once (``OPTIONS_SCHEMA``, the error classes, the
``Settings`` fields); the tables in docs/API.md and docs/OPERATIONS.md sit
between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` and are
rewritten from it:

    python -m scripts.docs            # rewrite the tables
    python -m scripts.docs --check    # exit 1 if a table is stale (the tests run this)
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from chalicelib.core import errors
from chalicelib.core.settings import Settings
from chalicelib.media.formats import INPUT_FORMATS, OUTPUT_FORMATS
from chalicelib.media.options import DEFAULT_RENDITIONS, OPTIONS_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "API.md"
OPERATIONS_DOC = ROOT / "docs" / "OPERATIONS.md"


def _allowed(schema: dict[str, Any]) -> str:
    """What values a property takes, in a few words."""
    if "enum" in schema:
        return ", ".join(f"`{v}`" for v in schema["enum"])
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "integer" in types:
        return f"{schema.get('minimum', '')}..{schema.get('maximum', '')}"
    if "boolean" in types:
        return "`true`, `false`"
    if "anyOf" in schema or "pattern" in schema:
        return ""
    return ", ".join(t for t in types if t != "null")


def _row(name: str, schema: dict[str, Any], default: Any) -> str:
    allowed = _allowed(schema)
    meaning = schema.get("description", "")
    values = "; ".join(part for part in (allowed, meaning) if part)
    shown = (
        ""
        if default is MISSING
        else f"`{str(default).lower() if isinstance(default, bool) else default}`"
    )
    return f"| `{name}` | {values} | {shown} |"


def options_table() -> str:
    """One row per option, from ``OPTIONS_SCHEMA``."""
    renditions = OPTIONS_SCHEMA["properties"]["renditions"]
    item = renditions["items"]
    caption = OPTIONS_SCHEMA["properties"]["caption"]
    defaults = ", ".join(f"{r['name']} ({r['width']})" for r in DEFAULT_RENDITIONS)
    rows = [
        "| option | values | default |",
        "| --- | --- | --- |",
        f"| `renditions[]` | at most {renditions['maxItems']}; {renditions['description']} "
        f"| {defaults} |",
    ]
    required = set(item.get("required", []))
    for name, schema in item["properties"].items():
        default = schema.get("default", "required" if name in required else MISSING)
        rows.append(_row(f"renditions[].{name}", schema, default))
    rows.append(f"| `caption` | {caption['description']} | |")
    for name, schema in caption["properties"].items():
        rows.append(_row(f"caption.{name}", schema, schema.get("default", MISSING)))
    return "\n".join(rows)


def _when(error: type[errors.ServiceError]) -> str:
    return " ".join((inspect.getdoc(error) or "").replace("``", "`").split()).rstrip(".")


def errors_table() -> str:
    """The API's error answers, then the codes a failed job carries, from ``errors``."""
    classes = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.InputError) and cls is not errors.InputError
    ]
    api: list[type[errors.ServiceError]] = sorted(
        (c for c in classes if c.__module__ == errors.__name__ and c.api_answer),
        key=lambda c: (c.status, c.code),
    )
    api += [errors.ServiceUnavailable]
    rows = ["| status | code | when |", "| --- | --- | --- |"]
    rows += [f"| {c.status} | `{c.code}` | {_when(c)} |" for c in api]
    rows += [
        "",
        "A job that cannot be processed ends `failed` with one of these `error.code`s:",
        "",
        "| code | when |",
        "| --- | --- |",
    ]
    rows += [f"| `{c.code}` | {_when(c)} |" for c in errors.JOB_FAILURES]
    rows.append("| `internal_error` | a bug; the logs say more (never the client) |")
    return "\n".join(rows)


def settings_table() -> str:
    """One row per setting, from the ``Settings`` fields."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for f in fields(Settings):
        default = f.default
        shown = (
            "empty"
            if default == ""
            else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        )
        rows.append(f"| `{f.name.upper()}` | {shown} | {f.metadata.get('doc', '')} |")
    return "\n".join(rows)


def formats_table() -> str:
    """One row per input and output format, with the cost model's weights."""
    rows = [
        "| format | as a source | as an output | decode ms/MP | encode ms/MP |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in dict.fromkeys([*INPUT_FORMATS, *OUTPUT_FORMATS]):
        source = INPUT_FORMATS.get(name)
        output = OUTPUT_FORMATS.get(name)
        kept = "yes, animation kept" if output and output.animatable else "yes"
        rows.append(
            f"| {name} | {'yes' if source else 'no'} | {kept if output else 'no'} | "
            f"{f'{source.decode_ms_per_mp:g}' if source else ''} | "
            f"{f'{output.encode_ms_per_mp:g}' if output else ''} |"
        )
    return "\n".join(rows)


TABLES: dict[str, tuple[Path, Callable[[], str]]] = {
    "options": (API_DOC, options_table),
    "formats": (API_DOC, formats_table),
    "errors": (API_DOC, errors_table),
    "settings": (OPERATIONS_DOC, settings_table),
}


def render(text: str, name: str, table: str) -> str:
    """``text`` with the block named ``name`` replaced by ``table``."""
    pattern = re.compile(
        rf"(<!-- generated: {name} [^\n]*-->\n).*?(<!-- end: {name} -->)", re.DOTALL
    )
    if not pattern.search(text):
        raise ValueError(f"no <!-- generated: {name} --> block")
    return pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)


def stale() -> list[str]:
    """The names of the tables whose docs do not hold what the code says."""
    found = []
    for name, (path, make) in TABLES.items():
        text = path.read_text()
        if render(text, name, make()) != text:
            found.append(f"{name} in {path.relative_to(ROOT)}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale tables")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for entry in outdated:
            print(f"stale: {entry} (run python -m scripts.docs)", file=sys.stderr)
        return 1 if outdated else 0
    for name, (path, make) in TABLES.items():
        path.write_text(render(path.read_text(), name, make()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
