"""Runs one job's stages: fetch the source, analyse, render, store; records timings and progress."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib import jobs
from chalicelib.backends import Backends
from chalicelib.formats import OUTPUT_FORMATS
from chalicelib.jobs import Job
from worker.deadline import Deadline
from worker.imaging import ImageLimits, process_image
from worker.text import analyze_text


class StageTimer:
    """Collects wall-clock milliseconds per named stage; checks the deadline between them."""

    def __init__(self, deadline: Deadline | None = None) -> None:
        self.timings_ms: dict[str, float] = {}
        self._deadline = deadline

    def _check(self) -> None:
        if self._deadline is not None:
            self._deadline.check()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._check()
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.timings_ms[name] = round(self.timings_ms.get(name, 0.0) + elapsed, 1)
        self._check()


def run_job(ctx: Backends, job: Job, deadline: Deadline | None = None) -> dict[str, Any]:
    """Process ``job`` (already ``processing``) and store its outputs and result.json.

    Output keys depend only on the job id and output names, so a second run of
    the same job overwrites the same objects: processing is idempotent.
    """
    settings = ctx.settings
    timer = StageTimer(deadline)
    started = time.perf_counter()

    def progress(percent: int, message: str) -> None:
        ctx.store.update_while(job.job_id, jobs.PROCESSING, progress=percent, message=message)

    with timer.stage("download"):
        source = ctx.objects.get(job.source_key, max_bytes=settings.max_source_bytes)
    progress(20, "Analysing the text.")
    with timer.stage("text"):
        text_report = analyze_text(job.text)
    progress(30, "Processing the image.")
    limits = ImageLimits(
        max_pixels=settings.max_image_pixels,
        max_dimension=settings.max_image_dimension,
        max_frames=settings.max_image_frames,
        max_decode_bytes=settings.max_decode_bytes,
        max_work_ms=settings.max_job_work_ms,
    )
    report = process_image(source, job.text, job.options, limits, timer.stage)
    del source
    progress(85, "Storing the outputs.")
    outputs = []
    with timer.stage("upload"):
        for output in report.outputs:
            key = ctx.objects.output_key(
                job.job_id, f"{output.name}.{OUTPUT_FORMATS[output.format].extension}"
            )
            ctx.objects.put(key, output.data, output.content_type)
            outputs.append(
                {
                    "name": output.name,
                    "key": key,
                    "width": output.width,
                    "height": output.height,
                    "format": output.format,
                    "bytes": len(output.data),
                    "crop": dict(zip(("left", "top", "width", "height"), output.crop, strict=True)),
                }
            )
    timer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 1)
    result = {
        "image": report.facts,
        "text": text_report,
        "outputs": outputs,
        "timings_ms": timer.timings_ms,
    }
    ctx.objects.put_json(ctx.objects.output_key(job.job_id, "result.json"), result)
    return result
