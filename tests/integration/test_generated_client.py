"""A client generated from the live OpenAPI document by a third-party generator
(openapi-python-client) submits a job, follows it and lists it, with the key set once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from chalicelib.backends import Backends
from chalicelib.core.settings import Settings
from scripts.devstack.stack import DevStack
from tests.support.imagegen import jpeg

BIN = Path(sys.executable).parent

DRIVE = """
import sys, time
from media_jobs_sdk import AuthenticatedClient
from media_jobs_sdk.api.jobs import get_job, list_jobs, submit_job
from media_jobs_sdk.models import JobStatus
from media_jobs_sdk.models import SubmitJobFilesBody
from media_jobs_sdk.types import File

base, key, photo = sys.argv[1:4]
client = AuthenticatedClient(base_url=base, token=key, prefix="", auth_header_name="X-Api-Key")
with open(photo, "rb") as image:
    body = SubmitJobFilesBody(
        image=File(payload=image, file_name="photo.jpg", mime_type="image/jpeg"),
        text="The quick brown fox jumps over the lazy dog by the river this morning.",
    )
    accepted = submit_job.sync(client=client, body=body)
job_id = accepted.job_id
deadline = time.monotonic() + 60
job = get_job.sync(job_id, client=client)
while job.status not in (JobStatus.COMPLETED, JobStatus.FAILED) and time.monotonic() < deadline:
    time.sleep(0.2)
    job = get_job.sync(job_id, client=client)
assert job.status == JobStatus.COMPLETED, job
names = [output.name for output in job.result.outputs]
assert names[:2] == ["thumbnail", "preview"], names
assert job.result.text.language.code == "en", job.result.text.language
page = list_jobs.sync(client=client, status=JobStatus.COMPLETED)
assert [summary.job_id for summary in page.jobs] == [job_id], page
print("completed", job_id)
"""


def test_a_generated_client_drives_a_job(stack: DevStack, tmp_path: Path) -> None:
    backends = Backends.from_settings(Settings.from_env(stack.env))
    _, key = backends.tenants.create(f"sdk-{uuid.uuid4().hex[:6]}", "SDK")
    config = tmp_path / "config.yaml"
    config.write_text("package_name_override: media_jobs_sdk\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--url",
            f"{stack.api_url}/api/openapi.json",
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "media_jobs_sdk"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # Every schema became a class: no piece of the document was beyond the generator.
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(640, 480))
    driven = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DRIVE), stack.api_url, key, str(photo)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert driven.returncode == 0, driven.stdout + driven.stderr
    assert driven.stdout.startswith("completed ")
