"""Nothing in the service's logs carries a secret or a presigned URL's signature."""

from __future__ import annotations

import http.server
import threading
from typing import Any

import requests

from scripts.devstack.processes import wait_for
from scripts.devstack.stack import DevStack
from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import TEST_LIMITS, ApiClient


class _Sink(http.server.BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_logs_hold_no_signature_and_no_secret(stack: DevStack, client: ApiClient) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response = requests.post(
            f"{client.base_url}/api/process",
            files={"image": ("a.jpg", jpeg(300, 200), "image/jpeg")},
            data={
                "text": "logged?",
                "callback_url": f"http://127.0.0.1:{server.server_address[1]}/",
            },
            timeout=10,
        )
        job_id = response.json()["job_id"]
        body = client.wait(job_id)
        assert body["status"] == "completed"
        wait_for(lambda: _Sink.calls >= 1, "the webhook", 30)
    finally:
        server.shutdown()
    signatures = [o["url"].split("X-Amz-Signature=")[1] for o in body["result"]["outputs"]]
    # The service's own logs: the API and the workers (moto's access log plays S3's part,
    # and S3 sees its own presigned URLs).
    logs = "\n".join(p.log_text() for p in stack.processes if p.name != "moto")
    assert job_id in logs, "the logs do carry the job id"
    for secret in [
        *signatures,
        TEST_LIMITS["WEBHOOK_SECRET"],
        "X-Amz-Signature=",
    ]:
        assert secret not in logs
