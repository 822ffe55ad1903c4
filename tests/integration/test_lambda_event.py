"""The app under API Gateway's proxy integration: a base64-encoded multipart event."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from scripts.devstack.stack import DevStack
from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import ApiClient


@pytest.fixture()
def lambda_app(stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``app.app`` configured from the live stack's settings, as a Lambda would be."""
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    import app as app_module

    app_module._settings.cache_clear()
    app_module._service.cache_clear()
    app_module._backends.cache_clear()
    yield app_module.app
    app_module._settings.cache_clear()
    app_module._service.cache_clear()
    app_module._backends.cache_clear()


def multipart(fields: dict[str, tuple[str | None, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, (filename, data) in fields.items():
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        parts.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def proxy_event(
    method: str,
    resource: str,
    path: str,
    body: bytes | None,
    content_type: str | None,
    path_parameters: dict | None = None,
) -> dict:
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com"}
    if content_type:
        headers["Content-Type"] = content_type
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "stage": "api",
            "path": f"/api{path}",
            "requestId": uuid.uuid4().hex,
        },
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def test_base64_multipart_event_creates_a_job_that_completes(
    lambda_app: Any, client: ApiClient
) -> None:
    body, content_type = multipart(
        {"image": ("p.jpg", jpeg(320, 240)), "text": (None, "Ünïcode über alles".encode())}
    )
    event = proxy_event("POST", "/api/process", "/api/process", body, content_type)
    response = lambda_app(event, None)
    assert response["statusCode"] == 202, response
    accepted = json.loads(response["body"])
    assert response["headers"]["Location"] == accepted["status_url"]

    status_event = proxy_event(
        "GET",
        "/api/status/{job_id}",
        accepted["status_url"],
        None,
        None,
        {"job_id": accepted["job_id"]},
    )
    status = json.loads(lambda_app(status_event, None)["body"])
    assert status["job_id"] == accepted["job_id"]
    assert status["status"] in ("pending", "processing", "completed")

    final = client.wait(accepted["job_id"])
    assert final["status"] == "completed"
    assert final["result"]["text"]["characters"] == len("Ünïcode über alles")


def test_base64_event_with_a_non_image_is_415(lambda_app: Any) -> None:
    body, content_type = multipart(
        {"image": ("p.jpg", b"not an image at all"), "text": (None, b"t")}
    )
    response = lambda_app(
        proxy_event("POST", "/api/process", "/api/process", body, content_type), None
    )
    assert response["statusCode"] == 415
    assert json.loads(response["body"])["error"]["code"] == "unsupported_image"
