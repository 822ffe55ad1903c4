"""Large uploads through presigned POST, idempotency keys, deletion and webhooks, live."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import requests

from chalicelib.backends import Backends
from chalicelib.core.settings import Settings
from chalicelib.jobs.contract import webhook_delivery_id
from chalicelib.webhooks.signature import verify_webhook
from scripts.devstack.stack import DevStack
from tests.support.helpers import assert_error
from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import ApiClient


def presigned_upload(
    client: ApiClient, data: bytes, content_type: str = "image/jpeg", size: int | None = None
) -> dict[str, Any]:
    response = client.http.post(
        f"{client.base_url}/api/uploads",
        json={
            "filename": "camera.jpg",
            "content_type": content_type,
            "size": len(data) if size is None else size,
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    upload = response.json()
    posted = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("camera.jpg", data, content_type)},
        timeout=30,
    )
    upload["post_status"] = posted.status_code
    return upload


def process_upload(
    client: ApiClient, upload_id: str, text: str = "t", **extra: Any
) -> requests.Response:
    return client.http.post(
        f"{client.base_url}/api/process",
        json={"upload_id": upload_id, "text": text, **extra},
        timeout=10,
    )


class TestPresignedUploads:
    def test_an_image_bigger_than_the_api_limit_goes_straight_to_s3(
        self, client: ApiClient
    ) -> None:
        # The test stack's MAX_UPLOAD_BYTES is 3 MiB: this could not be a multipart body.
        import io
        import os

        from PIL import Image

        noise = Image.frombytes("RGB", (1600, 1100), os.urandom(1600 * 1100 * 3))
        buffer = io.BytesIO()
        noise.save(buffer, "JPEG", quality=100)
        data = buffer.getvalue()
        assert len(data) > 3 * 1024 * 1024
        upload = presigned_upload(client, data)
        assert upload["post_status"] in (200, 201, 204)
        assert set(upload) >= {"upload_id", "url", "fields", "expires_in"}
        response = process_upload(client, upload["upload_id"], "large one")
        assert response.status_code == 202, response.text
        body = client.wait(response.json()["job_id"], timeout=60)
        assert body["status"] == "completed", body
        assert body["result"]["image"]["width"] == 1600

    def test_the_policy_caps_size_and_type(self, client: ApiClient) -> None:
        import base64

        response = client.http.post(
            f"{client.base_url}/api/uploads",
            json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 10},
            timeout=10,
        )
        upload = response.json()
        policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
        assert ["content-length-range", 10, 10] in policy["conditions"]
        assert {"Content-Type": "image/jpeg"} in policy["conditions"]
        assert {"key": f"uploads/incoming/{upload['upload_id']}"} in policy["conditions"]

    def test_the_api_checks_the_real_size_again(self, client: ApiClient) -> None:
        # moto does not enforce the policy; the API's own check is the second gate
        # (S3 itself refuses such a POST with 400 EntityTooLarge).
        upload = presigned_upload(client, b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024), size=10)
        assert_error(process_upload(client, upload["upload_id"]), 413, "upload_too_large")
        short = presigned_upload(client, jpeg(200, 100), size=10**6)
        assert_error(process_upload(client, short["upload_id"]), 400, "invalid_request")

    def test_declared_size_over_the_limit_is_413(self, client: ApiClient) -> None:
        response = client.http.post(
            f"{client.base_url}/api/uploads",
            json={"filename": "a.jpg", "content_type": "image/jpeg", "size": 10**12},
            timeout=10,
        )
        assert_error(response, 413, "upload_too_large")

    def test_a_non_image_type_is_415(self, client: ApiClient) -> None:
        response = client.http.post(
            f"{client.base_url}/api/uploads",
            json={"filename": "a.svg", "content_type": "image/svg+xml", "size": 10},
            timeout=10,
        )
        assert_error(response, 415, "unsupported_image")

    def test_nothing_uploaded_is_422(self, client: ApiClient) -> None:
        assert_error(process_upload(client, "0" * 32), 422, "upload_not_found")
        assert_error(process_upload(client, "../../etc"), 422, "upload_not_found")

    def test_uploaded_bytes_that_are_not_an_image_are_415(self, client: ApiClient) -> None:
        upload = presigned_upload(client, b"%PDF-1.7 this is no image")
        assert_error(process_upload(client, upload["upload_id"]), 415, "unsupported_image")

    def test_an_upload_starts_one_job_only(self, client: ApiClient) -> None:
        upload = presigned_upload(client, jpeg(200, 100))
        assert process_upload(client, upload["upload_id"]).status_code == 202
        assert_error(process_upload(client, upload["upload_id"]), 409, "upload_already_used")


class TestIdempotency:
    def test_a_repeat_gives_the_same_job(self, client: ApiClient) -> None:
        image, key = jpeg(120, 90), f"order-{uuid.uuid4()}"
        first = client.submit(image, "same", headers={"Idempotency-Key": key})
        second = client.submit(image, "same", headers={"Idempotency-Key": key})
        assert first.status_code == second.status_code == 202
        assert first.json()["job_id"] == second.json()["job_id"]
        assert second.headers.get("Idempotent-Replayed") == "true"

    def test_the_same_key_with_another_request_is_409(self, client: ApiClient) -> None:
        image, key = jpeg(120, 90), f"k-{uuid.uuid4()}"
        assert client.submit(image, "one", headers={"Idempotency-Key": key}).status_code == 202
        response = client.submit(image, "two", headers={"Idempotency-Key": key})
        assert_error(response, 409, "idempotency_conflict")

    def test_without_a_key_every_submit_is_a_new_job(self, client: ApiClient) -> None:
        image = jpeg(120, 90)
        assert (
            client.submit(image, "x").json()["job_id"] != client.submit(image, "x").json()["job_id"]
        )


class TestDeletion:
    def test_delete_removes_record_source_and_outputs(
        self, client: ApiClient, s3, bucket: str
    ) -> None:
        job_id = client.submit(jpeg(300, 200), "bye").json()["job_id"]
        url = client.wait(job_id)["result"]["outputs"][0]["url"]
        assert requests.get(url, timeout=10).status_code == 200
        response = client.http.delete(f"{client.base_url}/api/jobs/{job_id}", timeout=10)
        assert response.status_code == 204
        assert_error(client.status(job_id), 404, "job_not_found")
        assert requests.get(url, timeout=10).status_code in (403, 404)
        for prefix in (f"uploads/{job_id}/", f"results/{job_id}/"):
            assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) == 0

    def test_delete_unknown_and_malformed(self, client: ApiClient) -> None:
        assert_error(
            client.http.delete(f"{client.base_url}/api/jobs/{'0' * 32}", timeout=10),
            404,
            "job_not_found",
        )
        assert_error(
            client.http.delete(f"{client.base_url}/api/jobs/nope", timeout=10),
            400,
            "invalid_job_id",
        )


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records webhook calls; answers 500 to the first ``fail_first`` of them."""

    calls: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append((dict(self.headers), body))
        failing = len(type(self).calls) <= type(self).fail_first
        self.send_response(500 if failing else 200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    Receiver.calls = []
    Receiver.fail_first = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", Receiver
    finally:
        server.shutdown()


def wait_for_calls(handler: type[Receiver], count: int, timeout: float = 40) -> None:
    import time

    deadline = time.monotonic() + timeout
    while len(handler.calls) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(handler.calls) >= count, f"{len(handler.calls)} webhook calls, wanted {count}"


class TestWebhooks:
    def test_the_final_status_is_posted_signed(
        self, client: ApiClient, receiver, stack: DevStack
    ) -> None:
        url, handler = receiver
        response = client.http.post(
            f"{client.base_url}/api/process",
            files={"image": ("a.jpg", jpeg(200, 150), "image/jpeg")},
            data={"text": "hook", "callback_url": url},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        wait_for_calls(handler, 1)
        headers, body = handler.calls[0]
        payload = verify_webhook("test-webhook-secret", headers, body)
        assert payload["job_id"] == job_id and payload["status"] == "completed"
        assert payload == {**client.status(job_id).json(), "result": payload["result"]}
        # The job's own delivery id: the same if the reconciler ever sends it again.
        assert headers["Webhook-Id"] == webhook_delivery_id(job_id)
        # Delivered: out of the outbox the final status put it in.
        backends = Backends.from_settings(Settings.from_env(stack.env))
        deadline = time.monotonic() + 10
        while job_id in backends.store.webhooks_due(float("inf")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job_id not in backends.store.webhooks_due(float("inf"))

    def test_a_failing_receiver_is_retried(self, client: ApiClient, receiver) -> None:
        url, handler = receiver
        handler.fail_first = 1
        upload = presigned_upload(client, jpeg(100, 100))
        response = process_upload(client, upload["upload_id"], callback_url=url)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        wait_for_calls(handler, 2)
        for headers, body in handler.calls:
            assert verify_webhook("test-webhook-secret", headers, body)["job_id"] == job_id
        # One delivery, retried: the same delivery id both times.
        assert len({headers["Webhook-Id"] for headers, _ in handler.calls}) == 1

    @pytest.mark.parametrize(
        "url",
        [
            "ftp://example.com/x",
            "not a url",
            "http://user:pw@example.com/",
            "http://no-such-host.invalid/",
        ],
    )
    def test_bad_callback_urls_are_refused(self, client: ApiClient, url: str) -> None:
        response = client.http.post(
            f"{client.base_url}/api/process",
            files={"image": ("a.jpg", jpeg(50, 50), "image/jpeg")},
            data={"text": "x", "callback_url": url},
            timeout=10,
        )
        assert_error(response, 422, "invalid_callback_url")
