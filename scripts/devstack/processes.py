"""Child processes and ports for the local stack: start, wait for, stop; nothing service-specific.

The local stack (``scripts.devstack.stack``), the tests' fixtures and the benchmarks
start their servers with these.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class StackError(RuntimeError):
    """A component of the local stack could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_holder(port: int, host: str = "127.0.0.1") -> str | None:
    """Who listens on ``port``: ``"pid 123 (python3 -m scripts.devserver …)"``, ``"another
    process"`` when its owner cannot be read, or None when the port is free."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        if sock.connect_ex((host, port)) != 0:
            return None
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    break
                command = " ".join(psutil.Process(conn.pid).cmdline())[:120]
                return f"pid {conn.pid} ({command})"
    except Exception:  # psutil missing, or no right to read other processes' sockets
        pass
    return "another process"


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
