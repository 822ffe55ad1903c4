"""The compose stack, run for real: builds, starts, scales over three workers, survives.

``make test-compose`` runs this (never ``make test``: it builds images and takes
minutes). It runs the README's own command under a project name and loopback
ports of its own, then drives the stack through the published API port, and
always ends with ``docker compose down -v``. Figures are printed, not asserted.
"""

from __future__ import annotations

import platform
import re
import shlex
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

from scripts.standin_images import ensure_images
from tests.compose.compose_stack import (
    REPO,
    TEST_SETTINGS,
    ComposeStack,
    photo,
    record,
    wait_until,
)

pytestmark = [pytest.mark.compose, pytest.mark.timeout(2400)]

README = REPO / "README.md"
# The README's compose command, word for word (test_readme_names_this_command checks it).
README_COMMAND = [
    "docker",
    "compose",
    "-f",
    "docker-compose.localstack.yml",
    "up",
    "--build",
    "--scale",
    "worker=3",
    "--wait",
]
LONG_RUNNING = {"localstack", "redis", "api", "worker", "flower"}
VISIBILITY_TIMEOUT = float(TEST_SETTINGS["VISIBILITY_TIMEOUT"])


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def test_readme_names_this_command() -> None:
    commands = [
        shlex.split(line)
        for line in README.read_text().splitlines()
        if line.startswith("docker compose -f docker-compose.localstack.yml up")
    ]
    assert README_COMMAND in commands, f"the README's compose commands: {commands}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    """Images (official or stand-ins), then the README's command; always `down -v` after."""
    started = time.monotonic()
    images = ensure_images()
    record(
        "base images",
        ", ".join(sorted(set(images.values())))
        + f" (ready in {seconds(time.monotonic() - started)})",
    )
    tmp = tmp_path_factory.mktemp("compose")
    compose = ComposeStack(images, tmp / "settings.env", REPO / ".local" / "compose-test")
    record("project", f"{compose.project}, API {compose.api_url}")
    try:
        started = time.monotonic()
        compose.compose("build", "api", "worker")
        record("build of the api and worker images", seconds(time.monotonic() - started))
        started = time.monotonic()
        compose.run(README_COMMAND)
        record(
            "up --build --scale worker=3 --wait (to healthy)", seconds(time.monotonic() - started)
        )
        # Thirty jobs at once and six heavy ones are over the default tenant limits
        # (20 jobs, 2 heavy jobs in flight; polling them is over 20 requests a second),
        # which a small team's stack keeps.
        compose.act_as_tenant(
            "compose-test",
            jobs_in_flight=100,
            heavy_jobs_in_flight=20,
            requests_per_second=500,
            burst=1000,
        )
        yield compose
    finally:
        compose.down()
        print(f"\n  compose logs: {compose.logs_saved}", flush=True)


def test_every_container_is_healthy_and_not_root(stack: ComposeStack) -> None:
    rows = stack.containers()
    services = Counter(row["Service"] for row in rows if row["State"] == "running")
    assert services == {
        "localstack": 1,
        "redis": 1,
        "api": 1,
        "worker": 3,
        "webhooks": 1,
        "flower": 1,
    }, rows
    users = {}
    for row in rows:
        if row["Service"] == "create-bucket":
            assert row["State"] == "exited" and row["ExitCode"] == 0, row
            continue
        assert row["Health"] == "healthy", row
        processes = stack.process_uids(row["Name"])
        assert processes, f"{row['Name']} runs nothing"
        root = [command for uid, command in processes if uid == 0]
        assert not root, f"{row['Name']} runs as root: {root}"
        users[row["Service"]] = sorted({uid for uid, _ in processes})
    record("uids of the running containers", ", ".join(f"{k} {v}" for k, v in users.items()))


def test_the_workers_map_the_language_model_the_image_carries(stack: ComposeStack) -> None:
    """The worker image converts the language model at build time; a worker, running
    as its non-root user on the image's files, memory-maps it instead of converting."""
    probe = (
        "import numpy; from worker.text import analysis as text; "
        "model = text._language_identifier(); "
        "print(text.model_cache_dir(), isinstance(model._keys, numpy.memmap))"
    )
    done = stack.compose("exec", "-T", "worker", "python", "-c", probe, timeout=120)
    assert done.stdout.split() == ["/opt/models", "True"], done.stdout + done.stderr


def test_the_workers_name_their_imaging_engine(stack: ComposeStack) -> None:
    """Each worker's start line names its imaging engine, and /api/health lists what the
    workers reported: Pillow-SIMD on x86-64 (docker/pillow-simd/), Pillow elsewhere."""
    logs = stack.compose("logs", "--no-color", "worker", timeout=120).stdout
    started = re.findall(r"worker ready: imaging engine (\S+ \S+(?: \(\w+\))?)", logs)
    assert len(started) >= 3, logs[-3000:]
    health = requests.get(f"{stack.api_url}/api/health", timeout=30).json()
    engines = health["workers"]["imaging_engines"]
    assert sorted(set(started)) == engines, (started, health)
    expected = "pillow-simd" if platform.machine() in ("x86_64", "AMD64") else "pillow"
    assert all(engine.split()[0] == expected for engine in engines), engines
    record("imaging engine of the workers", ", ".join(engines))


def test_the_api_is_the_guarded_server(stack: ComposeStack) -> None:
    """The compose API answers as the local stack's: JSON errors for any method, and
    a body over the limit refused from its Content-Length before it is read."""
    trace = requests.request("TRACE", f"{stack.api_url}/api/health", timeout=30)
    assert trace.status_code == 405, trace.text
    assert trace.json()["error"]["code"] == "method_not_allowed"
    with socket.create_connection(("127.0.0.1", int(stack.ports["API_PORT"])), 30) as raw:
        raw.sendall(
            b"POST /api/process HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            b"boundary=b\r\nContent-Length: 300000000\r\n\r\n"
        )
        answer = raw.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413") or answer.startswith("HTTP/1.0 413"), answer


def test_the_readme_curl_example(stack: ComposeStack, tmp_path: Path) -> None:
    example = next(
        line
        for line in README.read_text().splitlines()
        if line.startswith("curl -s -F image=@docs/photo.jpg") and "/api/process" in line
    )
    # From the checkout's root, with the sample photo the README names.
    argv = [word.replace("http://127.0.0.1:8000", stack.api_url) for word in shlex.split(example)]
    answer = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True)
    job_id = re.search(r'"job_id":\s*"([0-9a-f]{32})"', answer.stdout)
    assert job_id, answer.stdout
    # The README's curl sends no key: the job is the anonymous tenant's, and only a
    # request without a key sees it.
    anonymous = requests.Session()
    final = stack.wait_finished([job_id.group(1)], timeout=120, http=anonymous)[job_id.group(1)]
    assert final["status"] == "completed", final
    outputs = {o["name"]: o for o in final["result"]["outputs"]}
    assert set(outputs) == {"thumbnail", "preview", "captioned"}
    assert final["result"]["text"]["language"]["code"] == "en"
    # The output links work from the host, as the README says: `curl -o thumbnail.jpg "<url>"`.
    subprocess.run(
        ["curl", "-sf", "-o", "thumbnail.jpg", outputs["thumbnail"]["url"]],
        cwd=tmp_path,
        check=True,
    )
    with Image.open(tmp_path / "thumbnail.jpg") as thumbnail:
        assert (thumbnail.format, max(thumbnail.size)) == ("JPEG", 512)


def test_a_12_megapixel_job(stack: ComposeStack) -> None:
    started = time.monotonic()
    job_id = stack.submit(photo(4032, 3024), "Twelve megapixels from a phone")
    final = stack.wait_finished([job_id], timeout=180)[job_id]
    assert final["status"] == "completed", final
    assert (final["result"]["image"]["width"], final["result"]["image"]["height"]) == (4032, 3024)
    record(
        "12 MP job",
        f"{seconds(time.monotonic() - started)} submit to completed, "
        f"{final['result']['timings_ms']['total'] / 1000:.1f} s in the worker",
    )


def test_thirty_jobs_spread_over_the_three_workers(stack: ComposeStack) -> None:
    nodes = stack.worker_nodes()
    assert len(nodes) == 3, nodes
    sources = [photo(1600, 1200, seed) for seed in range(5)]
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        job_ids = list(
            pool.map(
                lambda i: stack.submit(sources[i % 5], f"Job {i} of thirty, by the lake"), range(30)
            )
        )
    finals = stack.wait_finished(job_ids, timeout=300)
    elapsed = time.monotonic() - started
    assert all(body["status"] == "completed" for body in finals.values()), finals
    per_worker = Counter(stack.record(job_id)["worker"] for job_id in job_ids)
    assert set(per_worker) == set(nodes), f"jobs per worker {dict(per_worker)}, workers {nodes}"
    record(
        "30 jobs",
        f"{seconds(elapsed)}; per worker: "
        + ", ".join(f"{nodes[node]} {count}" for node, count in sorted(per_worker.items())),
    )


def test_flower_answers_and_sees_the_workers(stack: ComposeStack) -> None:
    assert stack.http.get(f"{stack.flower_url}/healthcheck", timeout=10).text == "OK"
    assert stack.http.get(f"{stack.flower_url}/workers", timeout=10).status_code == 200
    nodes = stack.worker_nodes()

    def online() -> set[str]:
        metrics = stack.http.get(f"{stack.flower_url}/metrics", timeout=10).text
        return set(re.findall(r'flower_worker_online\{worker="([^"]+)"\} 1\.0', metrics))

    wait_until(lambda: set(nodes) <= online(), "Flower lists every worker online", 60, every=2)


def test_a_worker_killed_mid_job_loses_no_job(stack: ComposeStack) -> None:
    """``docker kill`` of a worker while it processes: its tasks were not acknowledged
    (late acks), so Redis hands them out again after the visibility timeout."""
    nodes = stack.worker_nodes()
    # Heavy jobs (a 12 MP PNG rendition) keep each worker busy for seconds.
    options = {"renditions": [{"name": "full", "width": 4032, "format": "png"}]}
    source = photo(4032, 3024, seed=7)
    job_ids = [stack.submit(source, f"Killed worker, job {i}", options) for i in range(6)]

    def busy_node() -> str | None:
        for job_id in job_ids:
            fields = stack.record(job_id)
            if fields.get("status") == "processing" and fields.get("worker") in nodes:
                return fields["worker"]
        return None

    victim = wait_until(busy_node, "a job being processed", 120, every=0.05)
    stack.run(["docker", "kill", nodes[victim]])
    killed_at = time.monotonic()
    # What the dead worker still held is what it was processing when it died.
    interrupted = [
        job_id
        for job_id in job_ids
        if stack.record(job_id).get("status") == "processing"
        and stack.record(job_id).get("worker") == victim
    ]
    assert interrupted, "the job finished before the kill; nothing was interrupted"
    try:
        finals = stack.wait_finished(interrupted, timeout=VISIBILITY_TIMEOUT + 180)
    except AssertionError as exc:
        # What kombu still holds for the dead worker, to tell a lost message from a
        # restore that never ran (its mutex, say).
        r = stack.redis
        raise AssertionError(
            f"{exc}\nunacked: {r.hlen('unacked')}, index: {r.zrange('unacked_index', 0, -1)}, "
            f"mutex ttl: {r.ttl('unacked_mutex')}, queue: {r.llen('images')}, "
            f"records: {[stack.record(job_id) for job_id in interrupted]}"
        ) from exc
    recovery = time.monotonic() - killed_at
    finals.update(stack.wait_finished(job_ids, timeout=120))
    assert all(body["status"] == "completed" for body in finals.values()), finals
    for job_id in interrupted:
        fields = stack.record(job_id)
        assert fields["worker"] != victim and int(fields["attempts"]) >= 2, fields
    record(
        "worker kill",
        f"{nodes[victim]} killed with {len(interrupted)} jobs in hand; all {len(job_ids)} "
        f"completed; recovery {seconds(recovery)} (visibility timeout {VISIBILITY_TIMEOUT:.0f} s)",
    )
    # Back to three workers for what follows.
    stack.run(["docker", "start", nodes[victim]])


def test_a_redis_restart_loses_no_job(stack: ComposeStack) -> None:
    """``docker compose restart redis`` with jobs queued and running: the AOF keeps the
    queue and the records, the workers reconnect, every job completes."""
    sources = [photo(2400, 1800, seed) for seed in range(4)]
    job_ids = [stack.submit(sources[i % 4], f"Redis restart, job {i}") for i in range(16)]
    wait_until(
        lambda: any(stack.record(j).get("status") == "processing" for j in job_ids),
        "a job being processed",
        60,
        every=0.05,
    )
    queued = int(stack.redis.llen("images"))
    started = time.monotonic()
    stack.compose("restart", "redis", timeout=120)
    wait_until(lambda: stack.redis.ping(), "Redis answering again", 60)
    back = time.monotonic() - started
    finals = stack.wait_finished(job_ids, timeout=VISIBILITY_TIMEOUT + 240)
    done = time.monotonic() - started
    lost = [job_id for job_id, body in finals.items() if body["status"] != "completed"]
    assert not lost, {job_id: finals[job_id] for job_id in lost}
    # And the stack takes new work.
    after = stack.submit(sources[0], "After the restart")
    assert stack.wait_finished([after], timeout=120)[after]["status"] == "completed"
    record(
        "redis restart",
        f"{len(job_ids)} jobs ({queued} still queued at the restart); Redis back after "
        f"{seconds(back)}; all completed {seconds(done)} after the restart; jobs lost: {len(lost)}",
    )


def test_down_leaves_nothing_running(stack: ComposeStack) -> None:
    started = time.monotonic()
    stack.down()
    record(
        "stop, then down -v",
        f"{seconds(time.monotonic() - started)} (last to stop: {stack.last_to_stop})",
    )
    assert stack.leftovers() == {"containers": [], "volumes": [], "networks": []}
