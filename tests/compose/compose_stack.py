"""Drives one compose project of docker-compose.localstack.yml for the compose test."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests
from PIL import Image, ImageChops

from chalicelib.core.settings import Settings
from chalicelib.tenancy.tenants import TenantStore
from scripts.devstack.processes import free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = "docker-compose.localstack.yml"

# Settings of the test's stack (an ENV_FILE over .env.example): time limits short
# enough that a task lost with a killed worker comes back within a minute
# (the visibility timeout) instead of five.
#: What the compose test measured, in the order it measured it.
FIGURES: dict[str, str] = {}


def record(name: str, value: str) -> None:
    FIGURES[name] = value
    print(f"\n  [figure] {name}: {value}", flush=True)


TEST_SETTINGS = {
    # Six 12 MP jobs at once on two shared cores took over 40 s each at a load average
    # of 12-14 (the kill test's jobs then failed with `timeout`); a killed worker's job
    # comes back sooner than the visibility timeout anyway, once its lease lapses.
    "TASK_SOFT_TIME_LIMIT": "100",
    "TASK_HARD_TIME_LIMIT": "110",
    "VISIBILITY_TIMEOUT": "120",
    "JOB_TTL_SECONDS": "3600",
}


def photo(width: int, height: int, seed: int = 0) -> bytes:
    """A JPEG that compresses like a photo: smooth colour fields with a little grain."""
    bands = [
        Image.effect_noise((max(8, width // 64), max(6, height // 64)), 60 + seed % 30).resize(
            (width, height), Image.Resampling.BICUBIC
        )
        for _ in range(3)
    ]
    grain = Image.effect_noise((width, height), 12).convert("RGB")
    image = ImageChops.add(Image.merge("RGB", bands), grain, scale=1.0, offset=-60)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def wait_until(check: Callable[[], Any], what: str, timeout: float, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


@dataclass
class ComposeStack:
    """A compose project with a unique name and free loopback ports of its own."""

    images: dict[str, str]
    settings_file: Path
    log_dir: Path
    project: str = field(default_factory=lambda: f"mjtest-{uuid.uuid4().hex[:8]}")
    ports: dict[str, int] = field(
        default_factory=lambda: {
            name: free_port()
            for name in ("API_PORT", "FLOWER_PORT", "LOCALSTACK_PORT", "REDIS_PORT")
        }
    )

    def __post_init__(self) -> None:
        self.settings_file.write_text("".join(f"{k}={v}\n" for k, v in TEST_SETTINGS.items()))
        # The command line stays the README's: the project name, ports, images and
        # settings file go through the environment.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        self.env = {
            **inherited,
            **self.images,
            **{name: str(port) for name, port in self.ports.items()},
            "COMPOSE_PROJECT_NAME": self.project,
            "ENV_FILE": str(self.settings_file),
            "WORKER_COUNT": "2",
        }
        self.api_url = f"http://127.0.0.1:{self.ports['API_PORT']}"
        self.flower_url = f"http://127.0.0.1:{self.ports['FLOWER_PORT']}"
        self.http = requests.Session()
        self._redis: redis.Redis | None = None
        self.logs_saved: Path | None = None
        self.last_to_stop = ""  # "<seconds> s <container> exit <code>", set by down()

    # --- docker -------------------------------------------------------------------

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """``docker compose -f docker-compose.localstack.yml ARGS`` in the repository."""
        return self.run(["docker", "compose", "-f", COMPOSE_FILE, *args], timeout=timeout)

    def run(self, argv: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            argv,
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited with {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
            )
        return done

    def containers(self) -> list[dict[str, Any]]:
        """``docker compose ps -a`` as dicts (Service, Name, State, Health, ExitCode, ...)."""
        out = self.compose("ps", "-a", "--format", "json").stdout
        rows: list[dict[str, Any]] = []
        for line in out.splitlines():
            line = line.strip()
            if line:
                parsed = json.loads(line)
                rows.extend(parsed if isinstance(parsed, list) else [parsed])
        return rows

    def worker_nodes(self) -> dict[str, str]:
        """Celery node name (``worker@<container hostname>``) -> container name, running ones."""
        nodes = {}
        for row in self.containers():
            if row["Service"] == "worker" and row["State"] == "running":
                hostname = self.run(
                    ["docker", "inspect", "--format", "{{.Config.Hostname}}", row["Name"]]
                ).stdout.strip()
                nodes[f"worker@{hostname}"] = row["Name"]
        return nodes

    def process_uids(self, container: str) -> list[tuple[int, str]]:
        """(uid, command) of every process in ``container``."""
        out = self.run(["docker", "top", container, "-eo", "pid,uid,comm"]).stdout
        rows = []
        for line in out.splitlines()[1:]:
            parts = line.split(None, 2)
            if len(parts) == 3:
                rows.append((int(parts[1]), parts[2]))
        return rows

    def save_logs(self) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / f"{self.project}.log"
        done = subprocess.run(
            ["docker", "compose", "-f", COMPOSE_FILE, "logs", "--no-color", "--timestamps"],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        path.write_text(done.stdout + done.stderr)
        return path

    def down(self) -> None:
        """``down -v``; the first time, ``stop`` first and keep the logs with the shutdown."""
        if not self.logs_saved:
            # When each container ends, so that a slow stop names the one that held it.
            events = subprocess.Popen(
                [
                    "docker",
                    "events",
                    "--filter",
                    f"label=com.docker.compose.project={self.project}",
                    "--filter",
                    "event=die",
                    "--format",
                    "{{.TimeNano}} {{.Actor.Attributes.name}} exit {{.Actor.Attributes.exitCode}}",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            started, since = time.monotonic(), time.time()
            try:
                stopped = self.compose("stop", timeout=300)
            finally:
                time.sleep(1)  # the last events still on their way
                events.terminate()
                lines = events.communicate(timeout=30)[0].splitlines()
            ended = "".join(
                f"{int(nano) / 1e9 - since:6.1f} s {rest}\n"
                for nano, _, rest in (line.partition(" ") for line in lines)
                if nano.isdigit()
            )
            self.last_to_stop = ended.splitlines()[-1].strip() if ended else ""
            self.logs_saved = self.save_logs()
            with self.logs_saved.open("a") as log:
                log.write(f"\n== docker compose stop\n{stopped.stdout}{stopped.stderr}")
                log.write(
                    f"\n== containers ended ({time.monotonic() - started:.1f} s in all)\n{ended}"
                )
        self.compose("down", "-v", "--remove-orphans", timeout=300)

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks still labelled with this project."""
        label = f"label=com.docker.compose.project={self.project}"
        return {
            kind: self.run(["docker", *command, "--filter", label]).stdout.split()
            for kind, command in {
                "containers": ["ps", "-a", "-q"],
                "volumes": ["volume", "ls", "-q"],
                "networks": ["network", "ls", "-q"],
            }.items()
        }

    # --- the service ----------------------------------------------------------------

    @property
    def redis(self) -> redis.Redis:
        """The stack's Redis through its published loopback port."""
        if self._redis is None:
            self._redis = redis.Redis(
                port=self.ports["REDIS_PORT"], decode_responses=True, socket_timeout=5
            )
        return self._redis

    def act_as_tenant(self, tenant_id: str, **limits: float) -> None:
        """Send every later request with the API key of a new tenant with these limits,
        stored in the stack's Redis as ``scripts.ops tenants create`` would."""
        settings = Settings.from_env({"REDIS_URL": f"redis://127.0.0.1:{self.ports['REDIS_PORT']}"})
        _, key = TenantStore(self.redis, settings).create(tenant_id, tenant_id, limits)
        self.http.headers["X-Api-Key"] = key

    def submit(self, image: bytes, text: str, options: dict[str, Any] | None = None) -> str:
        data = {"text": text}
        if options is not None:
            data["options"] = json.dumps(options)
        answer = self.http.post(
            f"{self.api_url}/api/process",
            files={"image": ("photo.jpg", image, "image/jpeg")},
            data=data,
            timeout=60,
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["job_id"])

    def status(self, job_id: str, http: requests.Session | None = None) -> dict[str, Any]:
        answer = (http or self.http).get(f"{self.api_url}/api/status/{job_id}", timeout=30)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def record(self, job_id: str) -> dict[str, str]:
        """The job's Redis record (it names the worker node that took the job last)."""
        record: dict[str, str] = self.redis.hgetall(f"job:{job_id}")  # type: ignore[assignment]
        return record

    def wait_finished(
        self, job_ids: list[str], timeout: float, http: requests.Session | None = None
    ) -> dict[str, dict[str, Any]]:
        """Every job's final status answer (asked with ``http``, the stack's tenant by
        default); fails naming the jobs still unfinished."""
        finished: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(finished) < len(job_ids):
            for job_id in job_ids:
                if job_id not in finished:
                    body = self.status(job_id, http)
                    if body["status"] in ("completed", "failed"):
                        finished[job_id] = body
            time.sleep(0.3)
        missing = [job_id for job_id in job_ids if job_id not in finished]
        assert not missing, f"{len(missing)} jobs unfinished after {timeout:.0f} s: {missing}"
        return finished
