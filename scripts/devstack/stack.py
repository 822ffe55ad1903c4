"""Runs the whole service on this machine: Redis, an S3 endpoint, the bucket, workers, the API.

``make dev`` runs ``python -m scripts.devstack``; the integration tests use the
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
workers would take its jobs and fail them (they read another S3). Both are
stable for a checkout and an API port, so tenants and keys made under one run
are there in the next. It also warns when workers it did not start consume its
queue.

``make dev`` writes its effective settings to ``.local/dev.env`` (``STACK_FILE``);
``scripts.ops`` and the client read it, so a second shell reaches the same
Redis keys, queue and API without copying anything.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from scripts.devstack.processes import (
    BIN,
    ROOT,
    ManagedProcess,
    StackError,
    free_port,
    http_answers,
    port_holder,
    redis_answers,
    redis_server_argv,
    wait_for,
)

# Credentials for a local S3 endpoint only: moto and LocalStack accept any.
LOCAL_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYTHONUNBUFFERED": "1",
}
# The effective settings of the running `make dev` (see the module's docstring).
STACK_FILE = ROOT / ".local" / "dev.env"
# What the stack file holds: what another shell needs to reach this stack.
STACK_FILE_KEYS = (
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "CELERY_QUEUE",
    "CELERY_BROKER_URL",
    "AWS_ENDPOINT_URL",
    "S3_BUCKET",
    "API_PORT",
    "MEDIA_API_URL",
)


class DevStack:
    """Starts and stops the local stack's components for ``env`` (the service's settings)."""

    def __init__(self, env: Mapping[str, str], log_dir: Path | None = None):
        self.env: dict[str, str] = {**LOCAL_DEFAULTS, **env}
        # A directory per run: a second run never truncates or mixes into a first's logs.
        run = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
        self.log_dir = log_dir or ROOT / ".local" / "logs" / run
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # The redis-server this stack started, if it started one (the banner says so).
        self.own_redis: ManagedProcess | None = None
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
        parsed = urlparse(url)
        port = parsed.port or 6379
        if parsed.hostname not in ("127.0.0.1", "localhost") or port_holder(port) is not None:
            port = free_port()
        data_dir = ROOT / ".local" / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        # Kept on disk (an append-only file): tenants and keys survive a restart.
        redis_process = self._start("redis", redis_server_argv(server, port, data_dir, aof=True))
        # The database the user asked for, on the server started in its place.
        url = f"redis://127.0.0.1:{port}{parsed.path or '/0'}"
        wait_for(lambda: redis_answers(url), "redis-server", 20, redis_process)
        self.own_redis = redis_process
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
        stack_id = self.stack_id()
        self.env["CELERY_QUEUE"] = f"{default_queue}-{stack_id}"
        if not self.env.get("REDIS_KEY_PREFIX"):
            self.env["REDIS_KEY_PREFIX"] = f"{stack_id}:"

    def stack_id(self) -> str:
        """``dev-<8 hex>``: the same for this checkout and API port on every run."""
        where = f"{ROOT}:{self.env.get('API_PORT', '8000')}"
        return f"dev-{hashlib.sha256(where.encode()).hexdigest()[:8]}"

    def check_port_free(self, port: int) -> None:
        """Refuse to start when something listens on the API's port, naming it."""
        holder = port_holder(port)
        if holder is not None:
            raise StackError(
                f"port {port} is taken by {holder}; stop it, or run on another port "
                f"(API_PORT={port + 1} make dev)"
            )

    def write_stack_file(self, path: Path = STACK_FILE) -> Path:
        """Write the settings another shell needs to reach this stack (``KEY=value``)."""
        values = {**self.env, "MEDIA_API_URL": self.api_url}
        lines = [
            "# Written by `make dev` at start: the running local stack's settings.",
            "# scripts.ops and the client read it, unless the environment sets one of these.",
            *(f"{key}={values[key]}" for key in STACK_FILE_KEYS if values.get(key)),
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

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
        # An answer from a server that took the port first is not this API's.
        if self.api.poll() is not None:
            raise StackError(f"the API exited with {self.api.poll()}; see {self.api.log_path}")
        return self.api_url

    def start_all(self, worker_count: int, api_port: int, schedules: bool = False) -> str:
        self.check_port_free(api_port)
        # The stack's id (its queue and key prefix) follows the port it serves on.
        self.env["API_PORT"] = str(api_port)
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
        from chalicelib.jobs.batch_feed import reconcile_batches
        from chalicelib.jobs.reconcile import reconcile_stuck_jobs

        backends = Backends.from_settings(Settings.from_env(self.env))
        try:
            report = reconcile_stuck_jobs(
                backends.store,
                backends.queue,
                backends.inspector,
                backends.settings,
                backends.batches,
            )
            reconcile_batches(backends.batch_feeder())
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


def load_env(stack_file: Path | None = None) -> dict[str, str]:
    """The process environment over ``stack_file`` (if given and present, and the
    environment names none of its stores: Redis, prefix, queue, S3) over ``.env`` (if
    present) over
    ``.env.example``'s safe values.

    ``make dev`` reads no stack file (it writes one); the tools that talk to a running
    stack (``scripts.ops``, the client) read ``STACK_FILE``.
    """
    from dotenv import dotenv_values

    env: dict[str, str] = {}
    paths = [ROOT / ".env.example", ROOT / ".env"]
    # All or nothing: an environment that names a stack setting itself (a test's stack,
    # another Redis) is about another stack, and half of this one's would mislead it.
    where = [key for key in STACK_FILE_KEYS if key not in ("API_PORT", "MEDIA_API_URL")]
    if stack_file is not None and not any(key in os.environ for key in where):
        paths.append(stack_file)
    for path in paths:
        env.update({k: v for k, v in dotenv_values(path).items() if v})
    env.update(os.environ)
    return env
