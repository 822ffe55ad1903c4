"""A 60-photo batch against 60 separate jobs, each timed from the first byte sent to its
webhook, on a private local stack (its own redis-server, moto, two image workers, the
webhook worker and the API over HTTP).

- Batch: the 60 photos go to S3 through presigned POSTs (a multipart batch holds at most
  50), then one ``POST /api/batches`` names them with a callback; timed until its one
  webhook arrives.
- Separate, multipart: 60 ``POST /api/process`` with the image in the request, each
  with the callback; timed until the 60th webhook arrives.
- Separate, uploads: each photo through a presigned POST, then ``POST /api/process``
  naming it (the batch's own route to S3, one job at a time).

Over the tenant's jobs in flight a separate submit is answered 429 and the client waits
``Retry-After``, as a polite client does. Beside the time to the (last) webhook, the time
to the (last) 202: what the client waits before it can go.

Both run under the default tenant limits (20 jobs in flight: a batch fills 16 and feeds
the rest as they end) and again with the limit out of the way (1000), in interleaved
rounds (batch, separate, batch, …), so that a drift of the shared machine's load falls
on both alike. CPU time is the stack's processes' (and their children's) user + system
over the round, and this client's own, beside the wall time.

Run: ``.venv/bin/python -m bench.batches [--rounds N]``.
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import os
import platform
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import requests

from bench.e2e import cpu_seconds
from bench.images import photo
from scripts.devstack.processes import free_port, isolated_env
from scripts.devstack.stack import DevStack

PHOTOS = 60
SIZE = (1024, 768)
OPTIONS = {
    "renditions": [
        {"name": "thumbnail", "width": 320},
        {"name": "web", "width": 1024, "format": "webp"},
    ],
    "caption": {"enabled": False},
}


class Hooks(http.server.BaseHTTPRequestHandler):
    """Records when each webhook arrives, by the id it names."""

    arrivals: ClassVar[dict[str, float]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            type(self).arrivals[body.get("batch_id") or body["job_id"]] = time.monotonic()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def photos() -> list[bytes]:
    found = []
    for seed in range(PHOTOS):
        buffer = io.BytesIO()
        photo(*SIZE, seed=seed).save(buffer, "JPEG", quality=88)
        found.append(buffer.getvalue())
    return found


def wait_for_hooks(ids: list[str], timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Hooks.lock:
            if all(i in Hooks.arrivals for i in ids):
                return max(Hooks.arrivals[i] for i in ids)
        time.sleep(0.005)
    raise RuntimeError(f"{sum(i in Hooks.arrivals for i in ids)} of {len(ids)} webhooks came")


def upload(api: str, image: bytes, http: requests.Session) -> str:
    form = http.post(
        f"{api}/api/uploads",
        json={"filename": "a.jpg", "content_type": "image/jpeg", "size": len(image)},
        timeout=30,
    ).json()
    posted = requests.post(
        form["url"], data=form["fields"], files={"file": ("a.jpg", image)}, timeout=60
    )
    posted.raise_for_status()
    return str(form["upload_id"])


def politely(send: Any) -> requests.Response:
    """``send()`` again after ``Retry-After`` while it is answered 429."""
    while True:
        answer = send()
        if answer.status_code != 429:
            assert answer.status_code == 202, answer.text
            return answer
        time.sleep(int(answer.headers.get("Retry-After", "1")))


def as_batch(
    api: str, images: list[bytes], hook: str, http: requests.Session
) -> tuple[float, float]:
    started = time.monotonic()
    items = [{"upload_id": upload(api, image, http), "text": "Summer"} for image in images]
    answer = http.post(
        f"{api}/api/batches",
        json={"items": items, "options": OPTIONS, "callback_url": hook},
        timeout=120,
    )
    assert answer.status_code == 202, answer.text
    accepted = time.monotonic()
    return accepted - started, wait_for_hooks([answer.json()["batch_id"]]) - started


def as_jobs(
    api: str, images: list[bytes], hook: str, http: requests.Session
) -> tuple[float, float]:
    started = time.monotonic()
    ids = []
    for image in images:
        answer = politely(
            lambda image=image: http.post(
                f"{api}/api/process",
                files={"image": ("a.jpg", image)},
                data={"text": "Summer", "options": json.dumps(OPTIONS), "callback_url": hook},
                timeout=60,
            )
        )
        ids.append(answer.json()["job_id"])
    accepted = time.monotonic()
    return accepted - started, wait_for_hooks(ids) - started


def as_uploaded_jobs(
    api: str, images: list[bytes], hook: str, http: requests.Session
) -> tuple[float, float]:
    started = time.monotonic()
    ids = []
    for image in images:
        upload_id = upload(api, image, http)
        body: dict[str, Any] = {
            "upload_id": upload_id,
            "text": "Summer",
            "options": OPTIONS,
            "callback_url": hook,
        }
        answer = politely(lambda body=body: http.post(f"{api}/api/process", json=body, timeout=60))
        ids.append(answer.json()["job_id"])
    accepted = time.monotonic()
    return accepted - started, wait_for_hooks(ids) - started


WAYS = {
    "batch": ("one batch of 60 uploads", as_batch),
    "jobs": ("60 separate jobs, multipart", as_jobs),
    "uploaded": ("60 separate jobs, uploads", as_uploaded_jobs),
}


def measure(stack: DevStack, hook: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    images = photos()
    http = requests.Session()
    found: dict[str, dict[str, list[float]]] = {
        way: {"accepted": [], "wall": [], "stack_cpu": [], "client_cpu": []} for way in WAYS
    }
    for _ in range(rounds):
        for way, (_, run) in WAYS.items():
            before, client = cpu_seconds(stack), time.process_time()
            accepted, wall = run(stack.api_url, images, hook, http)
            time.sleep(1)  # the last deliveries' bookkeeping ends
            after = cpu_seconds(stack)
            found[way]["accepted"].append(accepted)
            found[way]["wall"].append(wall)
            found[way]["stack_cpu"].append(sum(after.values()) - sum(before.values()))
            found[way]["client_cpu"].append(time.process_time() - client)
    return found


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor()
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs"


def run(rounds: int) -> dict[str, Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    report: dict[str, Any] = {"cpu": cpu_model(), "load_before": os.getloadavg()[0]}
    for label, in_flight in (("limit 20", "20"), ("limit 1000", "1000")):
        env = isolated_env(
            f"redis://127.0.0.1:{free_port()}/0",
            "bench",
            TENANT_JOBS_IN_FLIGHT=in_flight,
            TENANT_WORK_SECONDS_PER_HOUR="100000",
            TENANT_REQUESTS_PER_SECOND="1000",
            TENANT_BURST="2000",
            WEBHOOK_SECRET="bench-secret",
            ALLOW_PRIVATE_CALLBACKS="true",
            WEBHOOK_PORTS="any",
        )
        env.pop("REDIS_PASSWORD", None)
        stack = DevStack(env, log_dir=Path(f"/tmp/bench-batches-{free_port()}"))
        try:
            stack.start_all(worker_count=2, api_port=free_port())
            report[label] = measure(stack, hook, rounds)
        finally:
            stack.stop()
    report["load_after"] = os.getloadavg()[0]
    server.shutdown()
    return report


def table(report: dict[str, Any]) -> str:
    lines = [
        "| tenant limit | way | to the (last) 202, p50 | to the (last) webhook, p50 "
        "| webhook min-max | stack CPU p50 | client CPU p50 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label in ("limit 20", "limit 1000"):
        for way, (name, _) in WAYS.items():
            f = report[label][way]
            lines.append(
                f"| {label.split()[1]} jobs in flight | {name} | "
                f"{statistics.median(f['accepted']):.2f} s | "
                f"{statistics.median(f['wall']):.2f} s | "
                f"{min(f['wall']):.2f}-{max(f['wall']):.2f} s | "
                f"{statistics.median(f['stack_cpu']):.2f} s | "
                f"{statistics.median(f['client_cpu']):.2f} s |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report = run(args.rounds)
    print(json.dumps(report, indent=1))
    print(
        f"\nCPU: {report['cpu']}; load average before/after: "
        f"{report['load_before']:.2f} / {report['load_after']:.2f}\n"
    )
    print(table(report))


if __name__ == "__main__":
    main()
