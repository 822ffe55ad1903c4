"""Client JSON parsed strictly: depth, lone surrogates, NaN, encodings; whole numbers."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import InvalidOptions, InvalidRequest
from chalicelib.core.parsing import parse_json, whole_number


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 40 + b"]" * 40,
        b'{"a":' * 33 + b"1" + b"}" * 33,
        b"[" * 100_000 + b"]" * 100_000,  # past the parser's own recursion limit
        b'"\\ud800"',
        b'{"\\udfff": 1}',
        b'["ok", {"x": "\\ud83d"}]',
        '{"text": "x"}'.encode("utf-16"),
        b'{"text": "\xff"}',
        b"NaN",
        b"[Infinity]",
        b"",
        b"{",
    ],
)
def test_client_json_is_parsed_strictly(raw: bytes) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json(raw)
    assert caught.value.status == 400


def test_client_json_within_the_rules_is_parsed() -> None:
    assert parse_json(b'{"text": "\\ud83d\\ude00 ok", "n": [[1]]}') == {"text": "😀 ok", "n": [[1]]}
    assert parse_json(b"[" * 32 + b"]" * 32) is not None


def test_json_errors_take_the_callers_class() -> None:
    with pytest.raises(InvalidOptions):
        parse_json('{"a": "\\ud800"}', InvalidOptions, "options")


@pytest.mark.parametrize(
    ("value", "expected"), [(12.0, 12), (12, 12), (1.5, 1.5), (True, True), ("3", "3")]
)
def test_whole_numbers_written_as_floats_become_ints(value: object, expected: object) -> None:
    result = whole_number(value)
    assert result == expected and type(result) is type(expected)
