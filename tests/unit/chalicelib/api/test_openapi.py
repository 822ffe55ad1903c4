"""The OpenAPI document as SDK generators read it: ids, tags, security, named schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.openapi import openapi_document
from chalicelib.core import errors
from chalicelib.core.settings import Settings
from chalicelib.core.version import VERSION


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document(Settings(), "https://api.example.com/prod")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, methods in document["paths"].items() for m, op in methods.items()]


def test_every_operation_has_a_unique_id_and_a_declared_tag(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)) and all(i.isidentifier() for i in ids)
    tags = {tag["name"] for tag in document["tags"]}
    for _, _, op in operations(document):
        assert len(op["tags"]) == 1 and op["tags"][0] in tags


def test_the_key_is_a_security_scheme_not_a_parameter(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert {"ApiKey": []} in document["security"]
    for path, method, op in operations(document):
        names = [p.get("name", "").lower() for p in op.get("parameters", [])]
        assert "x-api-key" not in names, (path, method)
    open_ones = {(p, m) for p, m, op in operations(document) if op.get("security") == []}
    assert open_ones == {("/api/health", "get"), ("/api/openapi.json", "get")}


def test_servers_and_version(document: dict[str, Any]) -> None:
    assert document["servers"][0]["url"] == "https://api.example.com/prod"
    assert openapi_document(Settings())["servers"][0]["url"] == "/"
    assert document["info"]["version"] == VERSION


def test_the_shapes_have_names(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    named = {"Job", "Result", "Rendition", "Output", "Exif", "Language", "Sentiment"}
    named |= {"Readability", "Error", "ErrorCode", "JobList", "Caption", "ImageFacts"}
    assert named <= set(schemas)
    # No inline object with properties left where a named schema exists for it.
    text = json.dumps(schemas["Result"]) + json.dumps(schemas["Job"])
    assert '"exif": {"type": ["object", "null"]}' not in text


def test_every_error_code_is_in_the_enum_with_limit_and_retry_after(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    codes = set(schemas["ErrorCode"]["enum"])
    classes = [errors.ServiceError]
    while classes:
        cls = classes.pop()
        assert cls.code in codes
        classes.extend(cls.__subclasses__())
    detail = schemas["ErrorDetail"]["properties"]
    assert detail["retry_after"]["type"] == "integer"
    assert "requests_per_second" in detail["limit"]["enum"]
