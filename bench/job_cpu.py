"""A 12 MP job, whole: the workers' CPU per job and the client-seen time, against pyvips.

Issue 27's two job-level targets, measured in one run on the local stack (the
benchmarks' own redis-server and moto S3 server, ``chalice local`` behind the
development server):

- **the workers' CPU per job**: every process of the worker (Celery's main process
  and its pool process, every thread) from just before the job is submitted to a
  moment after it is ``completed`` (so the acknowledgement and the task's clean-up
  count), less the worker's idle CPU over that time; for a 12 MP JPEG job with its
  text (three outputs, facts, text analysis), against the CPU pyvips spends making the
  two default renditions of the same bytes (``bench.pipeline.vips`` in a process of
  its own, ``time.process_time`` around the call);
- **client-seen time**: from the start of the multipart upload to the record saying
  ``completed`` (polled every 2 ms in Redis), for the job with its text and for the
  same job with the caption off (pyvips' two renditions), against pyvips' wall time.

The worker is a Celery worker of the development venv (its engine: Pillow 13), or with
``--docker`` the worker image (``media-jobs-worker:local``, which ``make test-compose``
builds: Pillow-SIMD) run on the host's network against the same stack; its CPU is then
its container's (the cgroup's ``cpu.stat`` or ``cpuacct.usage``: to the microsecond),
the venv worker's is read from ``/proc`` (10 ms ticks: hence the mean over every round
beside best and median).
One worker process, concurrency 1; the rounds are interleaved (the job with its text,
the job without caption, pyvips, in turns), after two warm-up rounds.

    .venv/bin/python -m bench.job_cpu               # the venv's worker
    .venv/bin/python -m bench.job_cpu --docker      # the worker image's
    .venv/bin/python -m bench.job_cpu --docker --sse4   # its SSE4 build
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import host, images
from bench.e2e import NO_CAPTION, JobClock, VipsReference
from bench.engine import WORKER_IMAGE, docker_ready
from bench.stack import bench_stack
from scripts.devstack.processes import wait_for
from scripts.devstack.stack import DevStack

# The workers' CPU target: per job, at most this times pyvips' CPU for the two renditions;
# and the client-seen target: the job with its text at most this times pyvips' wall time.
CPU_TARGET = 1.2
CLIENT_TARGET = 2.0
# After ``completed``: the acknowledgement, the task's post-run hooks (memory given back).
SETTLE_SECONDS = 0.3


@dataclass(frozen=True)
class WorkerCpu:
    """How to read the seconds of CPU a worker has used so far (all its processes and
    threads), and what the worker is."""

    read: Callable[[], float]
    describe: str


def _tree_cpu(pid: int) -> float:
    """CPU seconds of the process ``pid`` and its descendants (10 ms ticks)."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def venv_worker(stack: DevStack) -> tuple[WorkerCpu, Callable[[], None]]:
    worker = stack.start_worker(concurrency=1)

    def read() -> float:
        return _tree_cpu(worker.pid)

    return WorkerCpu(read, "Celery worker of the development venv"), worker.stop


def cgroup_cpu_reader(pid: int) -> Callable[[], float] | None:
    """A reader of the CPU seconds used by the cgroup of process ``pid`` (its container),
    from cgroup v2's ``cpu.stat`` or v1's ``cpuacct.usage``; None if neither is there."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if hierarchy == "0":
            stat = Path("/sys/fs/cgroup") / relative / "cpu.stat"
            if stat.exists():
                return lambda: _usage_usec(stat) / 1e6
        elif "cpuacct" in controllers.split(","):
            for mount in (controllers, "cpuacct", "cpu,cpuacct"):
                usage = Path("/sys/fs/cgroup") / mount / relative / "cpuacct.usage"
                if usage.exists():
                    return lambda: int(usage.read_text()) / 1e9
    return None


def _usage_usec(stat: Path) -> int:
    for line in stat.read_text().splitlines():
        name, value = line.split()
        if name == "usage_usec":
            return int(value)
    raise SystemExit(f"no usage_usec in {stat}")


def docker_worker(stack: DevStack, sse4: bool = False) -> tuple[WorkerCpu, Callable[[], None]]:
    passed = ("AWS_", "REDIS_", "S3_", "CELERY_", "TENANT_")
    argv = ["docker", "run", "-d", "--rm", "--network", "host", "-e", "WORKER_COUNT=1"]
    if sse4:
        argv += ["-e", "PILLOW_SIMD_LEVEL=sse4"]
    for name, value in stack.env.items():
        if name.startswith(passed):
            argv += ["-e", f"{name}={value}"]
    container = subprocess.run(
        [*argv, WORKER_IMAGE], capture_output=True, text=True, check=True
    ).stdout.strip()

    def stop() -> None:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)

    def logs() -> str:
        done = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
        return done.stdout + done.stderr

    try:
        wait_for(lambda: " ready." in logs(), "the worker container", 90)
        pid = int(
            subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Pid}}", container],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    except BaseException:
        sys.stderr.write(logs()[-3000:])
        stop()
        raise
    read = cgroup_cpu_reader(pid) or (lambda: _tree_cpu(pid))

    return WorkerCpu(read, f"worker image {WORKER_IMAGE} ({_engine_named(logs())})"), stop


def _engine_named(logs: str) -> str:
    """The imaging engine the worker's start line names (its logs are JSON lines)."""
    for line in logs.splitlines():
        with contextlib.suppress(ValueError):
            facts = json.loads(line).get("imaging_engine")
            if facts:
                return " ".join(str(facts.get(k, "")) for k in ("engine", "version", "simd"))
    return "engine not named"


@contextlib.contextmanager
def measured_worker(stack: DevStack, docker: bool, sse4: bool) -> Iterator[WorkerCpu]:
    cpu, stop = docker_worker(stack, sse4) if docker else venv_worker(stack)
    try:
        yield cpu
    finally:
        stop()


def idle_rate(cpu: WorkerCpu, seconds: float = 3.0) -> float:
    """The worker's CPU per second while it waits for work (Celery's own timers, polls)."""
    before = cpu.read()
    time.sleep(seconds)
    return (cpu.read() - before) / seconds


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "best": min(values),
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
    }


def measure(rounds: int = 10, docker: bool = False, sse4: bool = False) -> dict[str, Any]:
    data = images.get("jpeg12").read()
    samples: dict[str, list[float]] = {
        "job_cpu_ms": [],
        "job_renditions_cpu_ms": [],
        "job_ms": [],
        "job_renditions_ms": [],
        "vips_cpu_ms": [],
        "vips_ms": [],
    }
    with bench_stack() as stack:
        stack.start_api()
        with measured_worker(stack, docker, sse4) as cpu:
            clock = JobClock(stack)
            vips = VipsReference("jpeg12")
            try:
                for _ in range(2):  # warm: the API, the pool process, libvips
                    clock.time_job(data)
                    vips.time_once()
                time.sleep(SETTLE_SECONDS)
                idle = idle_rate(cpu)

                def job(options: str | None) -> tuple[float, float]:
                    before, started = cpu.read(), time.perf_counter()
                    wall = clock.time_job(data, options)
                    time.sleep(SETTLE_SECONDS)
                    used = cpu.read() - before - idle * (time.perf_counter() - started)
                    return wall, used * 1000

                for round_ in range(rounds):
                    steps = ["text", "renditions", "vips"]
                    shift = round_ % 3
                    for step in steps[shift:] + steps[:shift]:
                        if step == "vips":
                            wall, used = vips.time_with_cpu()
                            samples["vips_ms"].append(wall)
                            samples["vips_cpu_ms"].append(used)
                        elif step == "text":
                            wall, used = job(None)
                            samples["job_ms"].append(wall)
                            samples["job_cpu_ms"].append(used)
                        else:
                            wall, used = job(NO_CAPTION)
                            samples["job_renditions_ms"].append(wall)
                            samples["job_renditions_cpu_ms"].append(used)
            finally:
                vips.close()
            worker = cpu.describe
    figures = {name: _stats(values) for name, values in samples.items()}
    return {
        "worker": worker,
        "cpu": f"{os.cpu_count()} x {host.cpu_model()}",
        "rounds": rounds,
        "idle_cpu_ms_per_s": round(idle * 1000, 2),
        "figures": figures,
        "cpu_ratio": {
            kind: figures["job_cpu_ms"][kind] / figures["vips_cpu_ms"][kind]
            for kind in ("best", "median", "mean")
        },
        "client_ratio": figures["job_ms"]["median"] / figures["vips_ms"]["median"],
        "client_renditions_ratio": (
            figures["job_renditions_ms"]["median"] / figures["vips_ms"]["median"]
        ),
    }


def markdown(result: dict[str, Any]) -> str:
    f = result["figures"]

    def row(label: str, key: str) -> str:
        s = f[key]
        return f"| {label} | {s['best']:.1f} | {s['median']:.1f} | {s['mean']:.1f} |"

    cpu, client = result["cpu_ratio"], result["client_ratio"]
    lines = [
        f"{result['worker']}; {result.get('cpu', 'CPU not named')}; {result['rounds']} rounds;"
        " the worker idle: "
        f"{result['idle_cpu_ms_per_s']} ms of CPU per second (taken off)",
        "",
        "| 12 MP JPEG | best ms | median ms | mean ms |",
        "| --- | ---: | ---: | ---: |",
        row("workers' CPU, job with its text (3 outputs)", "job_cpu_ms"),
        row("workers' CPU, job without caption (2 renditions)", "job_renditions_cpu_ms"),
        row("pyvips CPU, the 2 renditions", "vips_cpu_ms"),
        row("client-seen, job with its text", "job_ms"),
        row("client-seen, job without caption", "job_renditions_ms"),
        row("pyvips wall, the 2 renditions", "vips_ms"),
        "",
        f"workers' CPU per job / pyvips CPU: best {cpu['best']:.2f}x, median "
        f"{cpu['median']:.2f}x, mean {cpu['mean']:.2f}x (target <= {CPU_TARGET}x: "
        f"{'met' if cpu['median'] <= CPU_TARGET else 'missed'} at the median)",
        f"client-seen job with its text / pyvips wall, medians: {client:.2f}x (without "
        f"caption {result['client_renditions_ratio']:.2f}x; target <= {CLIENT_TARGET}x: "
        f"{'met' if client <= CLIENT_TARGET else 'missed'})",
    ]
    return "\n".join(lines)


def run(quick: bool = False) -> dict[str, Any]:
    """The section of ``make bench``: the venv's worker, then the worker image's when a
    Docker engine answers and the image is built."""
    rounds = 6 if quick else 10
    results: dict[str, Any] = {"venv": None, "image": None}
    with contextlib.redirect_stdout(sys.stderr):
        results["venv"] = measure(rounds)
    print(markdown(results["venv"]), flush=True)
    why = docker_ready()
    if why is not None:
        results["image_skipped"] = why
        print(f"worker image not measured: {why}", flush=True)
        return results
    with contextlib.redirect_stdout(sys.stderr):
        results["image"] = measure(rounds, docker=True)
    print(markdown(results["image"]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--docker", action="store_true", help="the worker image's worker")
    parser.add_argument(
        "--sse4", action="store_true", help="with --docker: its SSE4 build (PILLOW_SIMD_LEVEL)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.docker:
        why = docker_ready()
        if why is not None:
            raise SystemExit(f"worker image not measured: {why}")
    with contextlib.redirect_stdout(sys.stderr):
        result = measure(args.rounds, args.docker, args.sse4)
    print(json.dumps(result, indent=2) if args.json else markdown(result))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
