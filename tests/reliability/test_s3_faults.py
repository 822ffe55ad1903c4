"""S3 failing: passing faults are retried until jobs complete; a refusal fails the job."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.reliability.fragile import Fragile
from tests.support.faults import Fault
from tests.support.imagegen import jpeg


def test_transient_s3_errors_are_retried_until_jobs_complete(faults: Fragile) -> None:
    # More failures than boto3's own three attempts absorb, so Celery's retries
    # with backoff are exercised too; plus a dropped connection.
    faults.proxy.add(Fault("GET", r"/uploads/.*/source", status=503, times=5))
    faults.proxy.add(Fault("PUT", r"/results/.*/thumbnail", status=500, times=4))
    faults.proxy.add(Fault("PUT", r"/results/.*/result.json", drop=True, times=2))
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(lambda i: faults.client.submit(jpeg(300, 200), f"job {i}"), range(6))
        )
    assert all(r.status_code == 202 for r in responses)
    bodies = [faults.client.wait(r.json()["job_id"], timeout=90) for r in responses]
    assert [b["status"] for b in bodies] == ["completed"] * 6, bodies
    assert all(f.hits == f.times for f in faults.proxy.faults)
    for body in bodies:
        for output in body["result"]["outputs"]:
            assert requests.get(output["url"], timeout=10).status_code == 200


def test_a_slow_s3_answer_is_waited_for(faults: Fragile) -> None:
    faults.proxy.add(Fault("PUT", r"/results/.*/preview", delay=2, times=1))
    job_id = faults.client.submit(jpeg(300, 200), "slow").json()["job_id"]
    body = faults.client.wait(job_id, timeout=60)
    assert body["status"] == "completed"
    # Outputs upload side by side; completed means every one of them is stored.
    for output in body["result"]["outputs"]:
        assert requests.get(output["url"], timeout=10).status_code == 200


def test_one_of_several_uploads_refused_fails_the_job_once_the_others_end(
    faults: Fragile, s3
) -> None:
    # The thumbnail is still on its way (held 1 s) when the preview's upload is refused.
    held = faults.proxy.add(Fault("PUT", r"/results/.*/thumbnail", delay=1, times=1))
    denied = faults.proxy.add(Fault("PUT", r"/results/.*/preview", status=403, times=1))
    job_id = faults.client.submit(jpeg(1600, 1200), "three outputs").json()["job_id"]
    body = faults.client.wait(job_id, timeout=30)
    assert body["status"] == "failed" and body["error"]["code"] == "storage_error", body
    assert denied.hits == 1, "refused once, not retried"
    # The job failed only once the upload under way had ended: what it stored is there
    # (docs/RELIABILITY.md: outputs may exist, the status is the truth).
    assert held.hits == 1
    bucket = faults.stack.env["S3_BUCKET"]
    s3.head_object(Bucket=bucket, Key=f"results/{job_id}/thumbnail.jpg")
    # Nothing was left running in the workers: the next jobs complete.
    ids = [faults.client.submit(jpeg(300, 200), f"next {i}").json()["job_id"] for i in range(4)]
    assert [faults.client.wait(i, timeout=30)["status"] for i in ids] == ["completed"] * 4


def test_a_permanent_s3_refusal_fails_the_job_with_a_code(faults: Fragile) -> None:
    # The API reads an upload's first bytes at its incoming key and copies it to the
    # job's own key; the first read of a job's source is the worker's, and it is refused.
    image = jpeg(100, 80)
    upload = faults.client.http.post(
        f"{faults.client.base_url}/api/uploads",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(image)},
        timeout=10,
    ).json()
    posted = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("a.jpg", image, "image/jpeg")},
        timeout=10,
    )
    assert posted.status_code in (200, 204)
    denied = faults.proxy.add(Fault("GET", r"/uploads/[0-9a-f]{32}/source$", status=403))
    response = faults.client.http.post(
        f"{faults.client.base_url}/api/process",
        json={"upload_id": upload["upload_id"], "text": "x"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    body = faults.client.wait(response.json()["job_id"], timeout=30)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "storage_error"
    assert denied.hits == 1, "refused at once, not retried"
