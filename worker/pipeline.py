"""Runs one job's stages: fetch the source, analyse, render, store; records timings and progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from contextlib import contextmanager
from typing import Any

from chalicelib.backends import Backends
from chalicelib.jobs import model as jobs
from chalicelib.jobs.model import Job
from chalicelib.media.formats import OUTPUT_FORMATS
from chalicelib.media.options import parse_options
from worker.deadline import Deadline
from worker.imaging.process import ImageLimits, RenderedOutput, process_image
from worker.text.analysis import analyze_text
from worker.threadpools import PerProcessPool

# Upload threads per process: a job's default outputs and its result.json at once.
_uploads = PerProcessPool(4, "upload")


class Uploads:
    """A job's uploads on the upload threads; ``close`` makes sure none outlives the job."""

    def __init__(self) -> None:
        self._futures: list[Future[Any]] = []

    def start(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future = _uploads.get().submit(fn, *args)
        self._futures.append(future)
        return future

    def wait(self) -> None:
        """Wait until all is done or one fails; raise the first failure (in start order)."""
        wait(self._futures, return_when=FIRST_EXCEPTION)
        for future in self._futures:
            error = future.exception() if future.done() else None
            if error is not None:
                raise error

    def close(self) -> None:
        """Cancel what has not started and wait for what has (a no-op once all is done)."""
        for future in self._futures:
            future.cancel()
        wait(self._futures)


class StageTimer:
    """Collects wall-clock milliseconds per named stage; checks the deadline between them,
    and the run's other ``checks`` (its work limit, whether it was deleted)."""

    def __init__(
        self, deadline: Deadline | None = None, checks: Sequence[Callable[[], None]] = ()
    ) -> None:
        self.timings_ms: dict[str, float] = {}
        self._deadline = deadline
        self._checks = checks

    def _check(self) -> None:
        if self._deadline is not None:
            self._deadline.check()
        for check in self._checks:
            check()

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


# Where each image stage starts, in per cent; the outputs' uploads then move from the
# last of these to STORED, one step per output, and result.json takes the rest.
STAGE_PROGRESS = {
    "probe": 30,
    "decode": 35,
    "attention": 45,
    "resize": 50,
    "caption": 55,
    "facts": 58,
    "animation": 60,
    "encode": 62,
}
STORED = 95


class Progress:
    """The job's progress and message, written to its record as the stages and the
    outputs' uploads go by (never backwards: uploads end in any order, on other threads)."""

    def __init__(self, ctx: Backends, job: Job, outputs: int) -> None:
        self._ctx = ctx
        self._job_id = job.job_id
        self._outputs = max(outputs, 1)
        self._stored = 0
        self._at = 0
        self._lock = threading.Lock()

    def _write(self, percent: int, message: str) -> None:
        with self._lock:
            if percent <= self._at:
                return
            self._at = percent
            self._ctx.store.update_while(
                self._job_id, jobs.PROCESSING, progress=percent, message=message
            )

    def stage(self, name: str) -> None:
        if name in STAGE_PROGRESS:
            self._write(STAGE_PROGRESS[name], f"Image: {name}.")

    def stored(self, name: str) -> None:
        with self._lock:
            self._stored += 1
            done = self._stored
        span = STORED - STAGE_PROGRESS["encode"]
        percent = STAGE_PROGRESS["encode"] + span * done // self._outputs
        self._write(percent, f"Stored {name} ({done} of {self._outputs}).")


def run_job(
    ctx: Backends,
    job: Job,
    deadline: Deadline | None = None,
    checks: Sequence[Callable[[], None]] = (),
) -> dict[str, Any]:
    """Process ``job`` (already ``processing``) and store its outputs and result.json.

    Each output uploads as soon as it is encoded and result.json as soon as the last
    one is; this returns once every upload has finished (or raises the first upload
    error once none is running any more). result.json's ``timings_ms`` end with the
    encoding; the returned result's add ``upload`` (the wait for the uploads after
    it) and a ``total`` that includes it.

    Output keys depend only on the job id and output names, so a second run of
    the same job overwrites the same objects: processing is idempotent. ``checks``
    run with the deadline's at every stage boundary; each raises to stop the job.
    """
    uploads = Uploads()
    try:
        return _run(ctx, job, StageTimer(deadline, checks), uploads)
    finally:
        uploads.close()


def _run(ctx: Backends, job: Job, timer: StageTimer, uploads: Uploads) -> dict[str, Any]:
    settings = ctx.settings
    started = time.perf_counter()

    def key(output: RenderedOutput) -> str:
        extension = OUTPUT_FORMATS[output.format].extension
        return ctx.objects.output_key(job.job_id, f"{output.name}.{extension}")

    opts = parse_options(job.options)
    captioned = opts.caption.enabled and bool(job.text.strip())
    progress = Progress(ctx, job, len(opts.renditions) + captioned)

    def put_and_report(output: RenderedOutput) -> None:
        ctx.objects.put(key(output), output.data, output.content_type)
        progress.stored(output.name)

    def store(output: RenderedOutput) -> None:
        # Called by process_image as each output is encoded (maybe from another thread).
        uploads.start(put_and_report, output)

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        progress.stage(name)
        with timer.stage(name):
            yield

    with timer.stage("download"):
        source = ctx.objects.get(job.source_key, max_bytes=settings.max_source_bytes)
    ctx.store.update_while(job.job_id, jobs.PROCESSING, progress=15, message="Text analysis.")
    with timer.stage("text"):
        text_report = analyze_text(job.text)
    limits = ImageLimits(
        max_pixels=settings.max_image_pixels,
        max_dimension=settings.max_image_dimension,
        max_frames=settings.max_image_frames,
        max_decode_bytes=settings.max_decode_bytes,
        max_work_ms=settings.max_job_work_ms,
    )
    report = process_image(source, job.text, opts, limits, stage, on_output=store)
    del source
    # The encoders' own time, not the stage's wait for the last of them.
    timer.timings_ms["encode"] = round(report.encode_ms, 1)
    outputs = [
        {
            "name": output.name,
            "key": key(output),
            "width": output.width,
            "height": output.height,
            "format": output.format,
            "bytes": len(output.data),
            "crop": dict(zip(("left", "top", "width", "height"), output.crop, strict=True)),
        }
        for output in report.outputs
    ]
    timings = {**timer.timings_ms, "total": round((time.perf_counter() - started) * 1000, 1)}
    result = {"image": report.facts, "text": text_report, "outputs": outputs, "timings_ms": timings}
    del report
    # Everything in result.json is known now: it uploads beside the last outputs.
    result_key = ctx.objects.output_key(job.job_id, "result.json")
    uploads.start(ctx.objects.put_json, result_key, result)
    with timer.stage("upload"):
        uploads.wait()
    timings = {**timer.timings_ms, "total": round((time.perf_counter() - started) * 1000, 1)}
    return {**result, "timings_ms": timings}
