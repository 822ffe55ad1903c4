"""Runs the whole service on this machine: Redis, an S3 endpoint, the bucket, workers, the API.

``make dev`` runs ``python -m scripts.stack``; the integration tests use the
same ``DevStack`` class, so what a developer runs is what the tests run. Under
``make dev`` the API server also runs the app's schedules (``watch_queue``: queue
metrics and the reconciler), as EventBridge does in the cloud.
Existing services are reused: Redis at ``REDIS_URL`` if it answers, the S3
endpoint at ``AWS_ENDPOINT_URL`` if set (LocalStack, say); otherwise this
starts ``redis-server`` and moto's server itself. SIGINT or SIGTERM stops
everything it started.

A stack that starts its own moto server keeps apart from other stacks on the
same Redis: unless ``CELERY_QUEUE`` names another queue than the default, it
takes a queue and a ``REDIS_KEY_PREFIX`` of its own, since another stack's
workers would take its jobs and fail them (they read another S3). It also
warns when workers it did not start consume its queue.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# How often `make dev` looks for workers it did not start on its queue.
CHECK_EVERY = 30.0

# Credentials for a local S3 endpoint only: moto and LocalStack accept any.
LOCAL_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYTHONUNBUFFERED": "1",
}


class StackError(RuntimeError):
    """A component of the local stack could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    import redis

    try:
        return bool(
            redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout).ping()
        )
    except (redis.RedisError, OSError):
        return False


def http_answers(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status ``url`` answers with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def redis_server_argv(server: str, port: int, data_dir: Path, aof: bool = False) -> list[str]:
    """The one way this project starts a redis-server of its own: loopback only, and
    nothing kept on disk unless ``aof`` (an append-only file, synced every second)."""
    persistence = ["yes", "--appendfsync", "everysec"] if aof else ["no"]
    return [
        server,
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)),
        *("--save", "", "--appendonly", *persistence),
    ]


def isolated_env(redis_url: str, name: str, **overrides: str) -> dict[str, str]:
    """This process's environment for a stack of its own: the given Redis, and a bucket
    and queue named ``<name>-<random>`` that no other stack uses (no AWS_, CELERY_ or
    S3_ settings inherited)."""
    run = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CELERY_", "S3_"))}
    env.update(
        REDIS_URL=redis_url, S3_BUCKET=f"{name}-media-{run}", CELERY_QUEUE=f"images-{name}-{run}"
    )
    env.update(overrides)
    return env


def wait_for(check: Any, what: str, timeout: float, process: ManagedProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with {process.poll()}; see {process.log_path}")
        time.sleep(0.1)
    raise StackError(
        f"{what} was not ready within {timeout:.0f} s"
        + (f"; see {process.log_path}" if process else "")
    )


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the launcher dies, and own a process group."""
    os.setsid()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # Not Linux: the launcher's own shutdown still stops children.


class ManagedProcess:
    """A child process in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path):
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``timeout``."""
        if self.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Also reap grandchildren (Celery's pool) that outlived their parent.
        _signal_group(self.pid, signal.SIGKILL)
        if self.poll() is None:
            self.process.wait(5)
        self._log.close()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


class DevStack:
    """Starts and stops the local stack's components for ``env`` (the service's settings)."""

    def __init__(self, env: Mapping[str, str], log_dir: Path | None = None):
        self.env: dict[str, str] = {**LOCAL_DEFAULTS, **env}
        self.log_dir = log_dir or ROOT / ".local" / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: list[ManagedProcess] = []
        self.workers: list[ManagedProcess] = []
        # Celery node names of this stack's workers, to tell them from other stacks'.
        self.worker_nodes: list[str] = []
        self._foreign_warned: list[str] = []
        self.api: ManagedProcess | None = None
        self.api_url = ""

    def _start(self, name: str, argv: list[str]) -> ManagedProcess:
        process = ManagedProcess(name, argv, self.env, self.log_dir)
        self.processes.append(process)
        return process

    def ensure_redis(self) -> str:
        url = self.env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        if redis_answers(url):
            self.env["REDIS_URL"] = url
            return url
        server = shutil.which("redis-server")
        if server is None:
            raise StackError(
                f"No Redis answers at {url} and redis-server is not installed "
                "(apt-get install redis-server, or set REDIS_URL)."
            )
        port = urlparse(url).port or free_port()
        if urlparse(url).hostname not in ("127.0.0.1", "localhost"):
            port = free_port()
        data_dir = ROOT / ".local" / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        redis_process = self._start("redis", redis_server_argv(server, port, data_dir))
        url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: redis_answers(url), "redis-server", 20, redis_process)
        self.env["REDIS_URL"] = url
        # A broker URL pointing at the Redis that did not answer would be wrong too.
        if self.env.get("CELERY_BROKER_URL"):
            self.env["CELERY_BROKER_URL"] = url
        return url

    def ensure_s3(self) -> str:
        endpoint = self.env.get("AWS_ENDPOINT_URL", "")
        if endpoint:
            wait_for(lambda: http_answers(endpoint) is not None, f"S3 endpoint {endpoint}", 30)
            return endpoint
        port = free_port()
        moto = self._start("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_answers(endpoint) is not None, "moto server", 30, moto)
        self.env["AWS_ENDPOINT_URL"] = endpoint
        self.keep_apart()
        return endpoint

    def keep_apart(self) -> None:
        """Give a stack with an S3 of its own a queue and a key prefix of its own.

        No other stack can read this S3, so any other stack's worker taking a job
        from the shared default queue would fail it with ``source_missing``, and
        another stack's reconciler would queue this stack's jobs. A queue other
        than the default, set by the user, is kept as it is (with the prefix set).
        """
        from chalicelib.core.settings import Settings

        default_queue = Settings.celery_queue
        if self.env.get("CELERY_QUEUE", default_queue) != default_queue:
            return
        stack_id = f"dev-{uuid.uuid4().hex[:8]}"
        self.env["CELERY_QUEUE"] = f"{default_queue}-{stack_id}"
        if not self.env.get("REDIS_KEY_PREFIX"):
            self.env["REDIS_KEY_PREFIX"] = f"{stack_id}:"

    def foreign_consumers(self, timeout: float = 2.0) -> list[str]:
        """Celery nodes consuming this stack's queue on its broker that it did not start.

        Asks every worker on the broker for its queues (a broadcast, as ``celery
        inspect active_queues`` does); a node with one of this stack's names that
        answers twice is another process under the same name.
        """
        from celery import Celery

        from chalicelib.core.settings import Settings

        settings = Settings.from_env(self.env)
        app = Celery("media-jobs-stack-check", set_as_current=False)
        app.conf.update(broker_url=settings.broker_url, broker_connection_retry_on_startup=False)
        try:
            replies = app.control.broadcast("active_queues", reply=True, timeout=timeout)
        except Exception:  # a broker that does not answer: nothing to warn about here
            return []
        finally:
            app.close()
        answers: Counter[str] = Counter()
        for reply in replies or []:
            for node, queues in reply.items():
                if any(q.get("name") == settings.celery_queue for q in queues or []):
                    answers[node] += 1
        return sorted(
            node for node, count in answers.items() if node not in self.worker_nodes or count > 1
        )

    def warn_of_foreign_consumers(self) -> None:
        """Say so on standard error when the set of foreign consumers changes to a non-empty one."""
        foreign = self.foreign_consumers()
        if foreign == self._foreign_warned:
            return
        self._foreign_warned = foreign
        if foreign:
            print(
                f"Warning: {len(foreign)} Celery worker(s) that this stack did not start consume "
                f"its queue {self.env.get('CELERY_QUEUE', 'images')!r} on "
                f"{self.env.get('CELERY_BROKER_URL') or self.env['REDIS_URL']}: "
                f"{', '.join(foreign)}. They take this stack's jobs (and fail them if they "
                "read another S3). Stop them, or set another CELERY_QUEUE.",
                file=sys.stderr,
                flush=True,
            )

    def s3_client(self) -> Any:
        """An S3 client with this stack's settings and credentials (not this process's)."""
        import boto3

        from chalicelib.core.settings import Settings
        from chalicelib.jobs.storage import make_s3_client

        session = boto3.Session(
            aws_access_key_id=self.env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=self.env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=self.env.get("AWS_SESSION_TOKEN"),
        )
        return make_s3_client(Settings.from_env(self.env), session)

    def ensure_bucket(self) -> str:
        from chalicelib.core.settings import Settings

        settings = Settings.from_env(self.env)
        s3 = self.s3_client()
        try:
            s3.head_bucket(Bucket=settings.s3_bucket)
        except Exception:
            s3.create_bucket(Bucket=settings.s3_bucket)
        # Private by default, as in the cloud; moto and LocalStack accept this.
        s3.put_public_access_block(
            Bucket=settings.s3_bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        return settings.s3_bucket

    def _celery_worker(
        self, name: str, queue: str, pool: str, concurrency: int, extra: list[str]
    ) -> ManagedProcess:
        # foreign_consumers() tells this stack's workers from others' by these names.
        node = f"{queue.split(',')[0]}-{name}"
        self.worker_nodes.append(f"{node}@{socket.gethostname()}")
        return self._start(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "worker.celery_app:app",
                "worker",
                "--loglevel",
                "INFO",
                "--pool",
                pool,
                "--concurrency",
                str(concurrency),
                "-n",
                f"{node}@%h",
                "-Q",
                queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                *extra,
            ],
        )

    def start_worker(
        self,
        index: int | None = None,
        concurrency: int = 1,
        wait: bool = True,
        extra: list[str] | None = None,
        light_only: bool = False,
    ) -> ManagedProcess:
        """An image worker on the light and heavy queues, or on the light one only (so
        light jobs never wait behind heavy ones for every worker)."""
        from chalicelib.core.settings import Settings

        settings = Settings.from_env(self.env)
        index = len(self.workers) + 1 if index is None else index
        queues = settings.celery_queue
        if not light_only:
            queues += f",{settings.heavy_queue}"
        name = f"worker{index}"
        worker = self._celery_worker(name, queues, "prefork", concurrency, extra or [])
        self.workers.append(worker)
        if wait:
            wait_for(lambda: " ready." in worker.log_text(), worker.name, 60, worker)
        return worker

    def start_webhook_worker(self, wait: bool = True) -> ManagedProcess:
        """The worker of the webhooks queue: threads, since deliveries wait on the network."""
        from chalicelib.core.settings import Settings

        settings = Settings.from_env(self.env)
        worker = self._celery_worker(
            "webhooks", settings.webhooks_queue, "threads", settings.webhook_concurrency, []
        )
        if wait:
            wait_for(lambda: " ready." in worker.log_text(), worker.name, 60, worker)
        return worker

    def start_api(
        self, port: int | None = None, healthy: bool = True, schedules: bool = False
    ) -> str:
        """Start the API (``scripts.devserver``, chalice local behind guards).

        Waits until its health is 200, or with ``healthy`` false until it answers
        at all (a test of the API with a backend down). With ``schedules`` it runs
        the app's schedules as the cloud does (``watch_queue``: metrics and the
        reconciler, every minute).
        """
        port = port or int(self.env.get("API_PORT", "8000"))
        self.api = self._start(
            "api",
            [
                sys.executable,
                "-m",
                "scripts.devserver",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--stage",
                "local",
                *(["--run-schedules"] if schedules else []),
            ],
        )
        self.api_url = f"http://127.0.0.1:{port}"
        health = f"{self.api_url}/api/health"
        if healthy:
            wait_for(lambda: http_answers(health) == 200, "the API", 60, self.api)
        else:
            wait_for(lambda: http_answers(health, timeout=5) is not None, "the API", 60, self.api)
        return self.api_url

    def start_all(self, worker_count: int, api_port: int, schedules: bool = False) -> str:
        self.ensure_redis()
        self.ensure_s3()
        self.ensure_bucket()
        # With two or more workers, one serves light jobs only: a flood of heavy jobs
        # never holds every worker (docs/RELIABILITY.md, limits and fairness).
        for index in range(worker_count):
            self.start_worker(wait=False, light_only=worker_count > 1 and index == 0)
        webhooks = self.start_webhook_worker(wait=False)
        for worker in [*self.workers, webhooks]:
            wait_for(lambda w=worker: " ready." in w.log_text(), worker.name, 60, worker)
        return self.start_api(api_port, schedules=schedules)

    def reconcile(self) -> None:
        """Queue again jobs stuck without a task now, as ``watch_queue`` does every minute
        (a test's pass by hand; ``make dev`` runs the schedule itself)."""
        from chalicelib.backends import Backends
        from chalicelib.core.errors import ServiceError
        from chalicelib.core.settings import Settings
        from chalicelib.jobs.reconcile import reconcile_stuck_jobs

        backends = Backends.from_settings(Settings.from_env(self.env))
        try:
            report = reconcile_stuck_jobs(
                backends.store, backends.queue, backends.inspector, backends.settings
            )
        except ServiceError as exc:
            print(f"reconcile skipped: {exc.message}", file=sys.stderr)
            return
        if report.requeued:
            print(f"reconcile: queued {len(report.requeued)} stuck jobs again", flush=True)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self.workers.clear()
        self.worker_nodes.clear()


def load_env() -> dict[str, str]:
    """The process environment over ``.env`` (if present) over ``.env.example``'s safe values."""
    from dotenv import dotenv_values

    env: dict[str, str] = {}
    for name in (".env.example", ".env"):
        env.update({k: v for k, v in dotenv_values(ROOT / name).items() if v})
    env.update(os.environ)
    return env


def main() -> int:
    env = load_env()
    from chalicelib.core.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"Invalid setting: {exc}", file=sys.stderr)
        return 2
    stack = DevStack(env)
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        print("Starting the local stack…", flush=True)
        api_url = stack.start_all(settings.worker_count, settings.api_port, schedules=True)
        prefix = stack.env.get("REDIS_KEY_PREFIX")
        print(
            f"""
Ready: API {api_url}  ·  Redis {stack.env["REDIS_URL"]}  ·  S3 {stack.env["AWS_ENDPOINT_URL"]}
       bucket {settings.s3_bucket}  ·  {settings.worker_count} workers  ·  logs in {stack.log_dir}
       queue {stack.env.get("CELERY_QUEUE", "images")}  ·  key prefix {prefix or "(none)"}

Try it:
  curl -s -F image=@photo.jpg -F text='Hello' {api_url}/api/process
  curl -s {api_url}/api/status/<job_id>

Ctrl-C stops everything.""",
            flush=True,
        )
        stack.warn_of_foreign_consumers()
        next_check = time.monotonic() + CHECK_EVERY
        while True:
            for process in stack.processes:
                if process.poll() is not None:
                    print(
                        f"{process.name} exited with {process.poll()}; see {process.log_path}",
                        file=sys.stderr,
                    )
                    return 1
            if time.monotonic() >= next_check:
                stack.warn_of_foreign_consumers()
                next_check = time.monotonic() + CHECK_EVERY
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except StackError as exc:
        print(f"Could not start the stack: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Stopping…", flush=True)
        stack.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
