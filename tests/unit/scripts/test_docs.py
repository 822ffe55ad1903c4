"""The generated tables in the docs say what the code says; the README's links lead somewhere."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from chalicelib.core.settings import Settings
from scripts import docs

ROOT = Path(__file__).resolve().parents[3]


def test_the_generated_tables_are_current() -> None:
    assert docs.stale() == [], "run: .venv/bin/python -m scripts.docs"


def test_every_setting_says_what_it_means() -> None:
    assert [f.name for f in fields(Settings) if not f.metadata.get("doc")] == []


def test_every_option_and_error_is_in_the_api_doc() -> None:
    text = (ROOT / "docs" / "API.md").read_text()
    for code in re.findall(
        r'code = "([a-z_]+)"', (ROOT / "chalicelib" / "core" / "errors.py").read_text()
    ):
        assert f"`{code}`" in text, code


def test_the_readme_links_lead_to_files() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)", readme):
        assert (ROOT / target).exists(), target


def test_the_options_example_in_the_api_doc_is_valid() -> None:
    from chalicelib.media.options import parse_options

    text = (ROOT / "docs" / "API.md").read_text()
    example = re.search(r'```json\n(\{\n  "renditions".*?)```', text, re.DOTALL)
    assert example is not None
    options = parse_options(example.group(1))
    assert {r.gravity for r in options.renditions} >= {"auto", "focus"}
