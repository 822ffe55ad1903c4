"""Presigned links point where clients reach S3, which may not be where the service does."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from chalicelib.core.settings import Settings
from chalicelib.jobs.storage import S3ObjectStore

INSIDE = "http://localstack:4566"
OUTSIDE = "http://127.0.0.1:14566"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Signing is local: any credentials do, and nothing is sent.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def store(**env: str) -> S3ObjectStore:
    return S3ObjectStore.from_settings(
        Settings.from_env({"AWS_ENDPOINT_URL": INSIDE, "S3_BUCKET": "media", **env})
    )


def test_links_use_the_public_endpoint_when_set() -> None:
    objects = store(S3_PUBLIC_ENDPOINT_URL=OUTSIDE)
    get = urlparse(objects.presigned_get("results/x/thumbnail.jpg", 60))
    assert (get.scheme, get.netloc, get.path) == (
        "http",
        "127.0.0.1:14566",
        "/media/results/x/thumbnail.jpg",
    )
    post = objects.presigned_post("uploads/x/source", "image/jpeg", 1000, 60)
    assert urlparse(post["url"]).netloc == "127.0.0.1:14566"


def test_links_use_the_service_endpoint_by_default() -> None:
    objects = store()
    assert urlparse(objects.presigned_get("k", 60)).netloc == "localstack:4566"
    assert (
        urlparse(objects.presigned_post("k", "image/png", 10, 60)["url"]).netloc
        == "localstack:4566"
    )
