"""Every bad request gets the JSON error shape with a stable code and the right status."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from chalicelib.core.version import VERSION
from tests.support.helpers import assert_error
from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import ApiClient


def test_missing_image(client: ApiClient) -> None:
    multipart = requests.post(
        f"{client.base_url}/api/process", files={"text": (None, "text only")}, timeout=10
    )
    assert "image" in assert_error(multipart, 400, "missing_field")["message"]
    urlencoded = client.submit(None, "text only")
    assert "image" in assert_error(urlencoded, 400, "missing_field")["message"]


def test_missing_text(client: ApiClient) -> None:
    error = assert_error(client.submit(jpeg(64, 64), None), 400, "missing_field")
    assert "text" in error["message"]


def test_empty_text_is_accepted(client: ApiClient) -> None:
    assert client.submit(jpeg(64, 64), "").status_code == 202


@pytest.mark.parametrize(
    "payload, filename",
    [
        (b"just some text, not an image", "a.jpg"),
        (b"%PDF-1.7\n1 0 obj << >> endobj\n", "photo.jpg"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image.png"),
        (b"\x00" * 100, "zeros.png"),
    ],
)
def test_not_an_image_is_decided_from_the_bytes(
    client: ApiClient, payload: bytes, filename: str
) -> None:
    assert_error(client.submit(payload, "t", filename=filename), 415, "unsupported_image")


def test_a_real_image_with_a_misleading_name_and_type_is_accepted(client: ApiClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, "PNG")
    files = {"image": ("notes.txt", buffer.getvalue(), "text/plain")}
    response = requests.post(
        f"{client.base_url}/api/process", files=files, data={"text": "x"}, timeout=10
    )
    assert response.status_code == 202


def test_empty_file_is_a_missing_image(client: ApiClient) -> None:
    assert_error(client.submit(b"", "t"), 400, "missing_field")


def test_body_over_the_limit(client: ApiClient) -> None:
    assert_error(
        client.submit(b"\xff\xd8\xff" + b"\0" * (3 * 1024 * 1024), "t"), 413, "upload_too_large"
    )


def test_text_over_the_limit(client: ApiClient) -> None:
    assert_error(client.submit(jpeg(64, 64), "a" * 2001), 413, "text_too_long")


def test_text_that_is_not_utf8(client: ApiClient) -> None:
    files = {
        "image": ("a.jpg", jpeg(64, 64), "image/jpeg"),
        "text": (None, b"caf\xe9", "text/plain"),
    }
    response = requests.post(f"{client.base_url}/api/process", files=files, timeout=10)
    assert_error(response, 400, "invalid_text")


def test_unknown_job_id(client: ApiClient) -> None:
    assert_error(client.status("0" * 32), 404, "job_not_found")


@pytest.mark.parametrize("job_id", ["abc", "0" * 31, "Z" * 32, "0" * 32 + "0", "..%2F..%2Fetc"])
def test_malformed_job_id(client: ApiClient, job_id: str) -> None:
    assert_error(client.status(job_id), 400, "invalid_job_id")


def test_wrong_content_type(client: ApiClient) -> None:
    response = requests.post(
        f"{client.base_url}/api/process",
        data="hello",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert_error(response, 415, "unsupported_media_type")


def test_multipart_without_boundary(client: ApiClient) -> None:
    response = requests.post(
        f"{client.base_url}/api/process",
        data=b"--x\r\n",
        headers={"Content-Type": "multipart/form-data"},
        timeout=10,
    )
    assert_error(response, 400, "invalid_request")


def test_duplicate_fields(client: ApiClient) -> None:
    files = [
        ("image", ("a.jpg", jpeg(64, 64), "image/jpeg")),
        ("text", (None, b"one")),
        ("text", (None, b"two")),
    ]
    response = requests.post(f"{client.base_url}/api/process", files=files, timeout=10)
    assert_error(response, 400, "invalid_request")


def test_health(client: ApiClient) -> None:
    response = requests.get(f"{client.base_url}/api/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    # The imaging engines the workers reported (none yet, or this venv's).
    engines = body.pop("workers")["imaging_engines"]
    assert all(engine.split()[0] in ("pillow", "pillow-simd") for engine in engines), engines
    assert body == {
        "status": "ok",
        "version": VERSION,
        "checks": {"redis": "ok", "s3": "ok"},
    }
