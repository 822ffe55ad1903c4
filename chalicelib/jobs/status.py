"""The status answer of a job: its record plus presigned links to its outputs."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.jobs import model as jobs
from chalicelib.jobs.model import Job
from chalicelib.jobs.storage import ObjectStore


def status_body(job: Job, objects: ObjectStore, url_ttl: int) -> dict[str, Any]:
    """``{job_id, status, message, progress, created_at, updated_at, preset, batch_id,
    result, error}``."""
    return {
        **_state(job),
        "result": _result_with_links(job, objects, url_ttl)
        if job.status == jobs.COMPLETED
        else None,
        "error": job.error,
    }


def summary_body(job: Job) -> dict[str, Any]:
    """One job of a listing (``GET /api/jobs``): no result; its status URL has it."""
    return {**_state(job), "status_url": f"/api/status/{job.job_id}"}


def _state(job: Job) -> dict[str, Any]:
    """Where the job is: what a status answer and a listing both begin with."""
    return {
        "job_id": job.job_id,
        "status": job.status,
        "message": job.message,
        "progress": job.progress,
        "created_at": iso_time(job.created_at),
        "updated_at": iso_time(job.updated_at),
        "preset": job.preset or None,
        "batch_id": job.batch_id or None,
    }


def _result_with_links(job: Job, objects: ObjectStore, url_ttl: int) -> dict[str, Any] | None:
    # The record holds a copy of result.json; read S3 only for records without one.
    result = job.result
    if result is None and job.result_key:
        result = objects.get_json(job.result_key)
    if result is None:
        return None
    outputs = []
    for output in result.get("outputs", []):
        linked = {k: v for k, v in output.items() if k != "key"}
        linked["url"] = objects.presigned_get(output["key"], url_ttl)
        outputs.append(linked)
    return {**result, "outputs": outputs, "links_expire_in": url_ttl}


def iso_time(timestamp: float) -> str:
    """UTC ISO 8601 with milliseconds, e.g. ``2026-11-28T12:00:01.120Z``."""
    millis = int(timestamp % 1 * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{millis:03d}Z"
