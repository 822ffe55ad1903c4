"""End to end on the local stack: latency of a job, throughput of workers, against bare Celery.

- Latency: a job is submitted over HTTP to ``chalice local`` (multipart, as a
  client does) and timed until its record in Redis says ``completed`` (polled
  every 2 ms, directly, so status polling adds no delay of its own); one job at
  a time with two workers running. A tiny 640x480 photo and the 12 MP JPEG.
- The 12 MP JPEG against pyvips: in turns, a job with a text (so a third,
  captioned output), a job of the same text with the caption off (the default
  thumbnail and preview only), and pyvips making those two renditions from the
  same bytes (``bench.pipeline.vips``, in a process of its own, timed in it).
- Throughput: N 12 MP jobs are queued (in-process ``JobService``, before any
  worker runs), then one (or two) workers start; jobs/s is counted between the
  first and the last completion, so worker start-up is left out.
- Reference: a bare Celery no-op task (``bench.noop_app``) on the same Redis,
  one worker: its round trip (send to result) and its throughput.
- Worker memory: the peak RSS (and the final PSS) of the Celery pool processes
  while they run the 12 MP jobs, sampled every 20 ms.

Run: ``.venv/bin/python -m bench.e2e``.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from bench import images
from bench.api import percentile
from bench.images import tiny_jpeg
from bench.stack import bench_stack, stack_environ
from scripts.devstack.processes import BIN, ManagedProcess, free_port, wait_for
from scripts.devstack.stack import DevStack

TEXT = "Morning light over the lake, first swim of the summer."
# The default renditions only: what the pyvips reference makes.
NO_CAPTION = json.dumps({"caption": {"enabled": False}})


class PoolMemory:
    """Samples the RSS of every child of the given worker processes in a thread."""

    def __init__(self, workers: list[ManagedProcess]):
        self.pids = [w.pid for w in workers]
        self.peak_rss = 0
        self.pss: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _children(self) -> list[psutil.Process]:
        found = []
        for pid in self.pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                found += psutil.Process(pid).children(recursive=True)
        return found

    def _run(self) -> None:
        while not self._stop.is_set():
            for child in self._children():
                with contextlib.suppress(psutil.Error):
                    self.peak_rss = max(self.peak_rss, child.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PoolMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        for child in self._children():
            with contextlib.suppress(psutil.Error):
                self.pss.append(child.memory_full_info().pss)


def _status(redis: Any, key: str) -> str | None:
    value = redis.hget(key, "status")
    return value.decode() if isinstance(value, bytes) else value


def _wait_completed(redis: Any, key: str, timeout: float = 120, poll: float = 0.002) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(redis, key)
        if status == "completed":
            return time.perf_counter()
        if status == "failed":
            raise RuntimeError(f"{key} failed: {redis.hgetall(key)}")
        time.sleep(poll)
    raise TimeoutError(key)


class JobClock:
    """Submits jobs over HTTP, as a client does, and times each until it is completed."""

    def __init__(self, stack: DevStack):
        from chalicelib.core.redis_client import make_redis_client
        from chalicelib.core.settings import Settings

        self._url = f"{stack.api_url}/api/process"
        self._redis = make_redis_client(Settings.from_env(stack.env))
        self._http = requests.Session()

    def time_job(self, image: bytes, options: str | None = None) -> float:
        """Milliseconds from the start of the upload to the record saying ``completed``."""
        started = time.perf_counter()
        response = self._http.post(
            self._url,
            files={"image": ("photo.jpg", image, "image/jpeg")},
            data={"text": TEXT, **({"options": options} if options else {})},
            timeout=30,
        )
        response.raise_for_status()
        done = _wait_completed(self._redis, f"job:{response.json()['job_id']}")
        return (done - started) * 1000


def _figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 95),
        "n": len(samples),
    }


def latency(stack: DevStack, image: bytes, count: int) -> dict[str, float]:
    clock = JobClock(stack)
    # The first two warm the API and both pool processes.
    return _figures([clock.time_job(image) for _ in range(count + 2)][2:])


VIPS_CHILD = """
import sys, time
from bench import images
from bench.pipeline import vips
data = images.get(sys.argv[1]).read()
vips(data)  # warm: libvips start-up
for _ in sys.stdin:
    started, cpu = time.perf_counter(), time.process_time()
    vips(data)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(wall * 1000, cpu * 1000, flush=True)
"""


class VipsReference:
    """pyvips making the default renditions of an image, in a process of its own, on request."""

    def __init__(self, key: str):
        self._child = subprocess.Popen(
            [sys.executable, "-c", VIPS_CHILD, key], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def time_once(self) -> float:
        return self.time_with_cpu()[0]

    def time_with_cpu(self) -> tuple[float, float]:
        """(wall ms, CPU ms of every thread of the child) of one run."""
        assert self._child.stdin is not None and self._child.stdout is not None
        self._child.stdin.write(b"\n")
        self._child.stdin.flush()
        wall, cpu = self._child.stdout.readline().split()
        return float(wall), float(cpu)

    def close(self) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()
        self._child.wait(timeout=30)


def against_vips(stack: DevStack, image: bytes, count: int) -> dict[str, dict[str, float]]:
    """The job with a text (so a captioned output too), the same job with the caption
    off (the default renditions only), and pyvips making those from the same bytes.

    One of each per round, so the other load of a shared machine falls on all three.
    """
    clock = JobClock(stack)
    vips = VipsReference("jpeg12")
    kinds = {"with_caption": None, "renditions_only": NO_CAPTION}
    samples: dict[str, list[float]] = {"with_caption": [], "renditions_only": [], "vips": []}
    try:
        for i in range(count + 2):
            one = {kind: clock.time_job(image, options) for kind, options in kinds.items()}
            one["vips"] = vips.time_once()
            if i >= 2:  # the first two rounds warm the API, the pool processes and libvips
                for kind, ms in one.items():
                    samples[kind].append(ms)
    finally:
        vips.close()
    return {kind: _figures(values) for kind, values in samples.items()}


def print_against_vips(figures: dict[str, dict[str, float]]) -> None:
    vips = figures["vips"]["p50_ms"]
    rows = (
        ("job, default renditions (thumbnail + preview)", figures["renditions_only"]),
        ("job with a text: + captioned 1280 px output", figures["with_caption"]),
        ("pyvips, the same two renditions, same bytes", figures["vips"]),
    )
    print("12 MP JPEG, submit to completed    p50      p95   p50 / pyvips p50", flush=True)
    for label, row in rows:
        print(
            f"  {label:46} {row['p50_ms']:5.0f} ms {row['p95_ms']:5.0f} ms"
            f"   {row['p50_ms'] / vips:.2f}x",
            flush=True,
        )


def throughput(stack: DevStack, workers: int, count: int) -> dict[str, Any]:
    import app as api_app
    from chalicelib.tenancy.tenants import ANONYMOUS, Tenant

    data = images.get("jpeg12").read()
    with stack_environ(stack):
        api_app._settings.cache_clear()
        api_app._service.cache_clear()
        api_app._backends.cache_clear()
        service = api_app._service()
        tenant = Tenant(ANONYMOUS, "anonymous (local)")
        ids = [
            service.submit(service.validate(data, TEXT, None), tenant).job_id for _ in range(count)
        ]
        redis = service.store._redis
    started = [stack.start_worker(wait=False) for _ in range(workers)]
    for worker in started:
        wait_for(lambda w=worker: " ready." in w.log_text(), worker.name, 60, worker)
    with PoolMemory(started) as memory:
        # CPU is counted from the first completion, like the rate: start-up and the
        # pool's warm-up stay out. Polling is slow here so this process stays idle.
        while not any(_status(redis, f"job:{job_id}") == "completed" for job_id in ids):
            time.sleep(0.02)
        cpu_before = cpu_seconds(stack)
        for job_id in ids:
            _wait_completed(redis, f"job:{job_id}", timeout=300, poll=0.05)
    cpu = {name: after - cpu_before.get(name, 0.0) for name, after in cpu_seconds(stack).items()}
    # Completion order is not submission order with two workers; use the real times.
    finished = sorted(float(redis.hget(f"job:{job_id}", "updated_at")) for job_id in ids)
    stages: dict[str, list[float]] = {}
    for job_id in ids:
        timings = json.loads(redis.hget(f"job:{job_id}", "result"))["timings_ms"]
        for stage, ms in timings.items():
            stages.setdefault(stage, []).append(ms)
    for worker in started:
        worker.stop()
        stack.processes.remove(worker)
        stack.workers.remove(worker)
    span = finished[-1] - finished[0]
    return {
        "jobs_per_s": (count - 1) / span,
        "jobs": count,
        "cpu_seconds_per_job": {name: round(v / (count - 1), 4) for name, v in cpu.items()},
        "stage_ms": {stage: round(statistics.median(v), 1) for stage, v in stages.items()},
        "peak_pool_rss_bytes": memory.peak_rss,
        "pool_pss_bytes": max(memory.pss) if memory.pss else None,
    }


def cpu_seconds(stack: DevStack) -> dict[str, float]:
    """CPU time (user + system) used so far by each process of the stack and its children."""
    used: dict[str, float] = {}
    for process in stack.processes:
        name = "worker" if process.name.startswith("worker") else process.name
        try:
            root = psutil.Process(process.pid)
            for p in [root, *root.children(recursive=True)]:
                t = p.cpu_times()
                used[name] = used.get(name, 0.0) + t.user + t.system
        except psutil.Error:
            pass
    return used


def noop_reference(stack: DevStack, count: int) -> dict[str, Any]:
    import os

    queue = f"bench-noop-{free_port()}"
    worker = stack._start(
        "noop-worker",
        [
            str(BIN / "celery"),
            "-A",
            "bench.noop_app:app",
            "worker",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ],
    )
    saved = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = stack.env["REDIS_URL"]
    try:
        from bench.noop_app import noop

        deadline = time.monotonic() + 60
        while True:
            try:
                noop.apply_async(queue=queue).get(timeout=5)
                break
            except Exception:
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise
        samples = []
        for _ in range(count):
            t = time.perf_counter()
            noop.apply_async(queue=queue).get(timeout=10)
            samples.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        pending = [noop.apply_async(queue=queue) for _ in range(count)]
        for result in pending:
            result.get(timeout=30)
        rate = count / (time.perf_counter() - t)
    finally:
        if saved is None:
            os.environ.pop("REDIS_URL", None)
        else:
            os.environ["REDIS_URL"] = saved
        worker.stop()
        stack.processes.remove(worker)
    return {
        "p50_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 95),
        "tasks_per_s": rate,
    }


def run(quick: bool = False) -> dict[str, Any]:
    tiny = tiny_jpeg()
    big = images.get("jpeg12").read()
    result: dict[str, Any] = {}
    with bench_stack() as stack:
        result["noop"] = noop_reference(stack, 100 if quick else 200)
        print(f"bare Celery no-op: {json.dumps(result['noop'])}", flush=True)
        stack.start_api(free_port())
        workers = [stack.start_worker(wait=False) for _ in range(2)]
        for worker in workers:
            wait_for(lambda w=worker: " ready." in w.log_text(), worker.name, 60, worker)
        result["latency_tiny"] = latency(stack, tiny, 10 if quick else 20)
        print(f"latency tiny: {json.dumps(result['latency_tiny'])}", flush=True)
        against = against_vips(stack, big, 6 if quick else 12)
        result["latency_12mp"] = against["with_caption"]
        result["latency_12mp_renditions"] = against["renditions_only"]
        result["vips_12mp"] = against["vips"]
        print_against_vips(against)
        for worker in workers:
            worker.stop()
            stack.processes.remove(worker)
            stack.workers.remove(worker)
        jobs = 10 if quick else 16
        result["throughput_1"] = throughput(stack, 1, jobs)
        print(f"throughput 1 worker: {json.dumps(result['throughput_1'])}", flush=True)
        result["throughput_2"] = throughput(stack, 2, jobs * 2)
        print(f"throughput 2 workers: {json.dumps(result['throughput_2'])}", flush=True)
        result["log_dir"] = str(Path(stack.log_dir))
    scaling = result["throughput_2"]["jobs_per_s"] / result["throughput_1"]["jobs_per_s"]
    print(f"two workers / one: x{scaling:.2f}", flush=True)
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
