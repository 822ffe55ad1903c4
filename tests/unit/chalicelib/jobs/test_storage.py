"""The S3 object store: presigned links point where clients reach S3, and one suite that
the real store (on moto's in-process S3) and the fast tier's fake both pass."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from moto import mock_aws

from chalicelib.core.errors import SourceMissing, UploadTooLarge
from chalicelib.core.settings import Settings
from chalicelib.jobs.storage import ObjectStore, S3ObjectStore, make_s3_client
from tests.support.fakes import InMemoryObjectStore

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


# -- One suite, two stores: S3ObjectStore on moto's in-process S3 (no network), and the
# fast tier's InMemoryObjectStore, which must behave the same wherever the code relies on it.


@pytest.fixture(params=["s3", "memory"])
def objects(request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    settings = Settings.from_env({"S3_BUCKET": "contract", "AWS_REGION": "us-east-1"})
    if request.param == "memory":
        yield InMemoryObjectStore(settings)
        return
    with mock_aws():
        client = make_s3_client(settings)
        client.create_bucket(Bucket=settings.s3_bucket)
        yield S3ObjectStore.from_settings(settings, client)


def test_an_object_reads_back_with_its_type(objects: ObjectStore) -> None:
    objects.put("a/b.jpg", b"\xff\xd8 bytes", "image/jpeg")
    assert objects.get("a/b.jpg") == b"\xff\xd8 bytes"
    assert objects.head("a/b.jpg") == {"bytes": 8, "content_type": "image/jpeg"}
    assert objects.get_head_bytes("a/b.jpg", 2) == b"\xff\xd8"


def test_a_missing_object_is_source_missing(objects: ObjectStore) -> None:
    for read in (objects.get, objects.head, lambda key: objects.copy(key, "elsewhere")):
        with pytest.raises(SourceMissing):
            read("nothing/here")


def test_a_read_over_its_limit_is_refused(objects: ObjectStore) -> None:
    objects.put("big", b"x" * 100, "application/octet-stream")
    with pytest.raises(UploadTooLarge):
        objects.get("big", max_bytes=99)
    assert objects.get("big", max_bytes=100) == b"x" * 100


def test_json_is_stored_compact_with_sorted_keys(objects: ObjectStore) -> None:
    objects.put_json("r.json", {"b": 1, "a": [1, 2]})
    assert objects.get("r.json") == b'{"a":[1,2],"b":1}'
    assert objects.get_json("r.json") == {"a": [1, 2], "b": 1}
    assert objects.head("r.json")["content_type"] == "application/json"


def test_copy_keeps_the_bytes_and_the_type(objects: ObjectStore) -> None:
    objects.put(objects.incoming_key("u1"), b"png", "image/png")
    objects.copy(objects.incoming_key("u1"), objects.source_key("j1"))
    assert objects.get(objects.source_key("j1")) == b"png"
    assert objects.head(objects.source_key("j1"))["content_type"] == "image/png"


def test_deleting_a_prefix_takes_only_what_is_under_it(objects: ObjectStore) -> None:
    for name in ("a.jpg", "b.png", "result.json"):
        objects.put(objects.output_key("j1", name), b"1", "application/octet-stream")
    objects.put(objects.output_key("j2", "a.jpg"), b"2", "image/jpeg")
    assert objects.delete_prefix(objects.result_prefix("j1")) == 3
    assert objects.get(objects.output_key("j2", "a.jpg")) == b"2"
    objects.delete(objects.output_key("j2", "a.jpg"))
    objects.delete(objects.output_key("j2", "a.jpg"))  # deleting again is no error
    with pytest.raises(SourceMissing):
        objects.get(objects.output_key("j2", "a.jpg"))
