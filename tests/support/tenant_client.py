"""The live API as one tenant sees it, and tenants made with the production limits."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import requests

from chalicelib.backends import Backends
from chalicelib.core.settings import Settings
from chalicelib.tenancy.limits import TenantLimits

# The service's own defaults, not the test stack's raised ones.
PRODUCTION = TenantLimits.from_settings(Settings.from_env({})).to_dict()


class TenantClient:
    """Multipart submits, direct uploads and status polls with one tenant's key."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["X-Api-Key"] = key

    def submit(
        self,
        image: bytes,
        options: dict[str, Any] | None = None,
        text: str = "fair",
        callback_url: str | None = None,
    ) -> requests.Response:
        data = {"text": text}
        if options is not None:
            data["options"] = json.dumps(options)
        if callback_url is not None:
            data["callback_url"] = callback_url
        return self.http.post(
            f"{self.base}/api/process", files={"image": ("a.jpg", image)}, data=data, timeout=30
        )

    def submit_upload(
        self, image: bytes, content_type: str, text: str = "fair"
    ) -> requests.Response:
        """Uploads ``image`` with a presigned POST, then submits the upload."""
        form = self.http.post(
            f"{self.base}/api/uploads",
            json={"filename": "a.bin", "content_type": content_type, "size": len(image)},
            timeout=10,
        )
        assert form.status_code == 201, form.text
        upload = form.json()
        posted = requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": ("a.bin", image, content_type)},
            timeout=30,
        )
        assert posted.status_code < 300, posted.text
        return self.http.post(
            f"{self.base}/api/process",
            json={"upload_id": upload["upload_id"], "text": text},
            timeout=60,
        )

    def status(self, job_id: str) -> dict[str, Any]:
        answer = self.http.get(f"{self.base}/api/status/{job_id}", timeout=30)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def wait(self, job_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.status(job_id)
            if body["status"] in ("completed", "failed"):
                return body
            time.sleep(0.05)
        raise AssertionError(f"{job_id} did not end within {timeout} s")


def make_tenant(api_url: str, backends: Backends, name: str, **limits: float) -> TenantClient:
    """A new tenant with the production default limits and ``limits`` over them."""
    record, key = backends.tenants.create(f"{name}-{uuid.uuid4().hex[:6]}", name)
    backends.tenants.set_limits(record.tenant_id, {**PRODUCTION, **limits})
    return TenantClient(api_url, key)
