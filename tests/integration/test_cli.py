"""The command line (``media-jobs``, from the client package) as a user runs it, against the
live stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from media_jobs_client import DIRECT_UPLOAD_LIMIT
from scripts.devstack.processes import ROOT, free_port
from scripts.devstack.stack import DevStack
from tests.support.imagegen import rotated_jpeg
from tests.support.stack_fixtures import TEST_LIMITS, stack_env

MiB = 1024 * 1024
# The command the client package installs beside this interpreter (make installs it).
MEDIA_JOBS = Path(sys.executable).parent / "media-jobs"


def run_cli(*args: str, api: str | None = None, stdin: str | None = None, timeout: float = 300):
    """Run the CLI in a child process, as a user would; its environment has no MEDIA_API_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIA_API_")}
    argv = [str(MEDIA_JOBS), *args]
    if api is not None:
        argv[1:1] = ["--api", api]
    return subprocess.run(
        argv, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def noise_jpeg(path: Path, width: int, height: int, quality: int = 95) -> Path:
    """Random noise barely compresses, so the file is as large as a camera photo of that size."""
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(
        path, "JPEG", quality=quality
    )
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "lake.jpg"
    path.write_bytes(rotated_jpeg(640, 480))
    return path


def test_submit_wait_status_delete(api: str, photo: Path) -> None:
    submitted = run_cli("submit", str(photo), "Hello from the lake.", "--wait", api=api)
    assert submitted.returncode == 0, submitted.stderr
    body = json.loads(submitted.stdout)
    assert body["status"] == "completed" and body["progress"] == 100, body
    assert f"Job {body['job_id']} accepted." in submitted.stderr
    assert body["error"] is None
    assert body["result"]["image"]["width"] == 480  # upright: the EXIF orientation was applied
    assert body["result"]["text"]["characters"] == len("Hello from the lake.")
    assert {output["name"] for output in body["result"]["outputs"]} >= {"thumbnail"}
    job_id = body["job_id"]

    status = run_cli("status", job_id, api=api)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "completed"

    deleted = run_cli("delete", job_id, api=api)
    assert deleted.returncode == 0, deleted.stderr

    gone = run_cli("status", job_id, api=api)
    assert gone.returncode == 2
    assert "job_not_found" in gone.stderr and "404" in gone.stderr
    assert gone.stdout == ""


def test_list_wait_and_download(api: str, photo: Path, tmp_path: Path) -> None:
    first = json.loads(run_cli("submit", str(photo), "First.", "--wait", api=api).stdout)
    second = json.loads(run_cli("submit", str(photo), "Second.", api=api).stdout)
    waited = run_cli("wait", second["job_id"], api=api)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["status"] == "completed"

    listed = run_cli("list", "--limit", "2", api=api)
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert [job["job_id"] for job in page["jobs"]] == [second["job_id"], first["job_id"]]
    completed = json.loads(run_cli("list", "--status", "completed", "--all", api=api).stdout)
    assert {first["job_id"], second["job_id"]} <= {job["job_id"] for job in completed["jobs"]}

    saved = run_cli("download", first["job_id"], "--to", str(tmp_path / "out"), api=api)
    assert saved.returncode == 0, saved.stderr
    paths = [Path(line) for line in saved.stdout.splitlines()]
    assert {p.name for p in paths} >= {f"{first['job_id']}-thumbnail.jpg"}
    for path in paths:
        with Image.open(path) as image:
            image.verify()


def test_submit_without_wait_prints_the_accepted_job(api: str, photo: Path) -> None:
    result = run_cli("submit", str(photo), "", api=api)  # --api after the subcommand works too
    assert result.returncode == 0, result.stderr
    accepted = json.loads(result.stdout)
    assert accepted["status"] == "pending"
    assert accepted["status_url"] == f"/api/status/{accepted['job_id']}"


def test_text_from_standard_input_and_from_a_file(api: str, photo: Path, tmp_path: Path) -> None:
    text = "Première ligne.\nSecond line, from a pipe."
    piped = run_cli("submit", str(photo), "-", "--wait", api=api, stdin=text)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["result"]["text"]["characters"] == len(text)

    text_file = tmp_path / "caption.txt"
    text_file.write_text("Read from a file.", encoding="utf-8")
    from_file = run_cli("submit", str(photo), f"@{text_file}", "--wait", api=api)
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout)["result"]["text"]["words"] == 4


def test_a_missing_file_is_a_usage_error(api: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    result = run_cli("submit", str(missing), "hello", api=api)
    assert result.returncode == 2
    assert f"no such file: {missing}" in result.stderr
    assert result.stdout == ""


def test_bad_options_json_fails_before_any_upload(photo: Path) -> None:
    result = run_cli("submit", str(photo), "hi", "--options", "{not json")
    assert result.returncode == 2
    assert "--options is not valid JSON" in result.stderr


def test_an_api_error_is_printed_with_its_code(api: str, photo: Path) -> None:
    result = run_cli("submit", str(photo), "hi", "--options", '{"renditions": 3}', api=api)
    assert result.returncode == 2
    assert "invalid_options" in result.stderr and "HTTP 422" in result.stderr


def test_an_unreachable_api_is_named(photo: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = run_cli("status", "0" * 32, api=nowhere)
    assert result.returncode == 2
    assert f"Cannot reach the API at {nowhere}" in result.stderr


def test_a_failed_job_exits_1_with_its_error(api: str, tmp_path: Path) -> None:
    # A valid JPEG header over garbage passes the API's sniffing but not the decoder.
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(rotated_jpeg(640, 480)[:600] + b"\0" * 2000)
    result = run_cli("submit", str(broken), "hi", "--wait", api=api)
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "failed" and body["error"]["code"]
    assert f"The job failed: {body['error']['code']}" in result.stderr


@pytest.fixture(scope="module")
def camera_api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A stack of its own that takes sources as large as production's (the session's is small)."""
    local = DevStack(
        stack_env(redis_url, MAX_SOURCE_BYTES=str(50 * MiB)),
        log_dir=tmp_path_factory.mktemp("camera-stack-logs"),
    )
    try:
        yield local.start_all(worker_count=1, api_port=free_port())
    finally:
        local.stop()


def test_a_12_mb_photo_goes_through_the_presigned_path(camera_api: str, tmp_path: Path) -> None:
    photo = noise_jpeg(tmp_path / "camera.jpg", 4000, 3000)
    assert photo.stat().st_size >= 12 * 1000 * 1000, photo.stat().st_size

    result = run_cli("submit", str(photo), "A 12 MB photo from a camera.", "--wait", api=camera_api)

    assert result.returncode == 0, result.stderr
    assert "straight to storage (presigned POST)" in result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "completed", body
    assert (body["result"]["image"]["width"], body["result"]["image"]["height"]) == (4000, 3000)


def test_a_file_the_api_refuses_as_too_large_is_retried_through_storage(
    api: str, tmp_path: Path
) -> None:
    # Between the stack's MAX_UPLOAD_BYTES and the CLI's own limit: the CLI tries the
    # request body first, gets 413 upload_too_large, and uploads to S3 instead.
    server_limit = int(TEST_LIMITS["MAX_UPLOAD_BYTES"])
    photo = noise_jpeg(tmp_path / "medium.jpg", 2000, 1600)
    assert server_limit + 100_000 < photo.stat().st_size <= DIRECT_UPLOAD_LIMIT

    result = run_cli("submit", str(photo), "Medium.", "--wait", api=api)

    assert result.returncode == 0, result.stderr
    assert "refused the file in the request (upload_too_large)" in result.stderr
    assert json.loads(result.stdout)["status"] == "completed"


def test_presets_and_a_batch_with_one_progress(api: str, tmp_path: Path) -> None:
    photos = []
    for index in range(3):
        path = tmp_path / f"photo{index}.jpg"
        path.write_bytes(rotated_jpeg(320 + 40 * index, 240))
        photos.append(str(path))
    options = '{"renditions": [{"name": "web", "width": 200, "format": "webp"}]}'
    made = run_cli("preset", "put", "web", options, api=api)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["name"] == "web"
    listed = json.loads(run_cli("preset", "list", api=api).stdout)
    assert "web" in [p["name"] for p in listed["presets"]]

    batch = run_cli("batch", *photos, "--preset", "web", "--text", "Summer", "--wait", api=api)
    assert batch.returncode == 0, batch.stderr
    body = json.loads(batch.stdout)
    assert body["status"] == "completed" and body["counts"]["completed"] == 3
    assert body["preset"] == "web" and len(body["jobs"]) == 3
    assert f"Batch {body['batch_id']} of 3 jobs accepted." in batch.stderr
    job = json.loads(run_cli("status", body["jobs"][0]["job_id"], api=api).stdout)
    assert [o["name"] for o in job["result"]["outputs"]] == ["web", "captioned"]

    status = run_cli("batch-status", body["batch_id"], "--all", api=api)
    assert status.returncode == 0 and json.loads(status.stdout)["total"] == 3
    deleted = run_cli("batch-delete", body["batch_id"], api=api)
    assert deleted.returncode == 0, deleted.stderr
    gone = run_cli("status", body["jobs"][0]["job_id"], api=api)
    assert gone.returncode == 2 and "job_not_found" in gone.stderr
    unknown = run_cli("batch", photos[0], "--preset", "nope", api=api)
    assert unknown.returncode == 2 and "unknown_preset" in unknown.stderr
    assert run_cli("preset", "delete", "web", api=api).returncode == 0
    missing = run_cli("preset", "get", "web", api=api)
    assert missing.returncode == 2 and "preset_not_found" in missing.stderr
