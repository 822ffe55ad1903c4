"""A real job through the whole path: HTTP submit, S3, Redis, Celery worker, status, download."""

from __future__ import annotations

import io
import json

import requests
from PIL import Image

from tests.support.imagegen import jpeg
from tests.support.stack_fixtures import ApiClient


def test_a_jpeg_and_a_text_end_completed_with_a_downloadable_thumbnail(
    client: ApiClient, s3, bucket: str
) -> None:
    response = client.submit(jpeg(1600, 1200), "Hello world.\nSecond line here.")
    assert response.status_code == 202, response.text
    accepted = response.json()
    job_id = accepted["job_id"]
    assert accepted == {
        "job_id": job_id,
        "status": "pending",
        "status_url": f"/api/status/{job_id}",
    }
    assert response.headers["Location"] == f"/api/status/{job_id}"

    body = client.wait(job_id)
    assert body["status"] == "completed", body
    assert set(body) == {
        "job_id",
        "status",
        "message",
        "progress",
        "created_at",
        "updated_at",
        "preset",
        "batch_id",
        "result",
        "error",
    }
    assert body["preset"] is None and body["batch_id"] is None
    assert body["error"] is None and body["progress"] == 100
    result = body["result"]
    assert result["image"]["width"] == 1600 and result["image"]["height"] == 1200
    assert result["image"]["format"] == "jpeg"
    assert result["text"]["characters"] == len("Hello world.\nSecond line here.")
    assert result["text"]["words"] == 5 and result["text"]["lines"] == 2
    assert result["timings_ms"]

    thumbnail = next(o for o in result["outputs"] if o["name"] == "thumbnail")
    assert thumbnail["format"] == "jpeg" and max(thumbnail["width"], thumbnail["height"]) <= 512
    download = requests.get(thumbnail["url"], timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "image/jpeg"
    assert len(download.content) == thumbnail["bytes"]
    with Image.open(io.BytesIO(download.content)) as image:
        assert image.format == "JPEG"
        assert image.size == (thumbnail["width"], thumbnail["height"])

    # The source is stored under the job id, never the client's file name.
    source = s3.get_object(Bucket=bucket, Key=f"uploads/{job_id}/source")
    assert source["ContentType"] == "image/jpeg"
    stored = json.loads(
        s3.get_object(Bucket=bucket, Key=f"results/{job_id}/result.json")["Body"].read()
    )
    assert stored["image"] == result["image"]
    assert [o["name"] for o in stored["outputs"]] == [o["name"] for o in result["outputs"]]
    assert all("url" not in o for o in stored["outputs"])


def test_output_links_are_presigned_with_the_configured_expiry(client: ApiClient) -> None:
    # moto does not enforce signatures or expiry, so the link itself is checked here:
    # SigV4-signed, expiring after RESULT_URL_TTL (120 s in the test stack), dated now.
    from datetime import UTC, datetime
    from urllib.parse import parse_qs, urlsplit

    job_id = client.submit(jpeg(640, 480), "x").json()["job_id"]
    body = client.wait(job_id)
    assert body["result"]["links_expire_in"] == 120
    for output in body["result"]["outputs"]:
        query = parse_qs(urlsplit(output["url"]).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == ["120"]
        assert len(query["X-Amz-Signature"][0]) == 64
        signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
        age = datetime.now(UTC).replace(tzinfo=None) - signed_at
        assert abs(age.total_seconds()) < 60


def test_an_undecodable_image_fails_at_once_with_a_code(client: ApiClient) -> None:
    good = jpeg(800, 600)
    truncated = good[: len(good) // 3]
    response = client.submit(truncated, "broken")
    assert response.status_code == 202
    body = client.wait(response.json()["job_id"], timeout=30)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "corrupt_image"
    assert body["result"] is None


def test_peer_corpus_files_through_the_live_api(client: ApiClient) -> None:
    """A few files of tests/corpus through the real stack: BigTIFF is accepted at submit
    (it was a 415), damaged PNG data fails (it used to complete half black), a valid
    variant this build cannot decode is named."""
    from tests.corpus.test_corpus import CORPUS

    cases = {
        "pillow/hopper_bigtiff.tif": ("completed", None),
        "pillow/broken_data_stream.png": ("failed", "corrupt_image"),
        "pillow/hopper_webp.tif": ("failed", "unsupported_image"),
    }
    for name, (status, code) in cases.items():
        response = client.submit((CORPUS / name).read_bytes(), "peer corpus")
        assert response.status_code == 202, (name, response.text)
        body = client.wait(response.json()["job_id"], timeout=30)
        assert body["status"] == status, (name, body)
        if code is None:
            assert body["result"]["image"]["format"] == "tiff"
        else:
            assert body["error"]["code"] == code, (name, body)
    assert "WebP" in body["error"]["message"]


def test_gravity_auto_crops_around_the_subject_and_the_status_tells_where(
    client: ApiClient, s3, bucket: str
) -> None:
    """The walker of tests/corpus/subjects: a man's head at the top of a tall picture,
    which a centred 3:1 banner cuts off entirely; `auto` keeps it, and the status
    answer (and result.json) say which window of the source each output shows."""
    from tests.support.subjects import KEEP, kept_share, load_subjects

    walker = next(s for s in load_subjects() if s.file == "walker.jpg")
    options = {
        "renditions": [
            {"name": "banner", "width": 600, "height": 200, "fit": "cover", "gravity": "auto"},
            {"name": "middle", "width": 600, "height": 200, "fit": "cover"},
            {"name": "small", "width": 100, "height": 100},
        ]
    }
    response = client.submit(walker.path.read_bytes(), "", options=options)
    assert response.status_code == 202, response.text
    body = client.wait(response.json()["job_id"])
    assert body["status"] == "completed", body
    result = body["result"]
    width, height = result["image"]["width"], result["image"]["height"]
    crops = {o["name"]: o["crop"] for o in result["outputs"]}
    assert crops["small"] == {"left": 0, "top": 0, "width": width, "height": height}
    banner, middle = crops["banner"], crops["middle"]
    assert banner["width"] == middle["width"] == width
    assert banner["height"] == middle["height"] == round(width / 3)
    window = (banner["left"], banner["top"], banner["width"], banner["height"])
    assert kept_share(window, walker.box) >= KEEP
    centred = (middle["left"], middle["top"], middle["width"], middle["height"])
    assert kept_share(centred, walker.box) < KEEP
    assert "attention" in result["timings_ms"]

    stored = json.loads(
        s3.get_object(Bucket=bucket, Key=f"results/{body['job_id']}/result.json")["Body"].read()
    )
    assert [o["crop"] for o in stored["outputs"]] == [o["crop"] for o in result["outputs"]]

    refused = client.submit(
        walker.path.read_bytes(),
        "",
        options={"renditions": [{"name": "a", "width": 99, "height": 99, "gravity": "auto"}]},
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "renditions[0].gravity"
