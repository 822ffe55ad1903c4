"""Redis "restarts" at each point of a job's life: no job is left pending or processing.

A proxy in front of the stack's own Redis (``tests/support/redis_proxy.py``) drops every
connection and refuses new ones for a while, at a chosen command, as a restart with
the data kept does: before a worker takes the task, as it takes it, while it runs,
while it reports progress, while the final status is written (before and after Redis
applied it, and again at the retry), and as the task is acknowledged. Every job must
end ``completed`` within the visibility timeout plus the reconciler's grace, with the
reconciler running as the deployment runs it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from chalicelib.core.settings import Settings
from scripts.devstack.processes import free_port
from scripts.devstack.stack import DevStack
from tests.reliability.fragile import SHORT_TIMINGS
from tests.reliability.test_redis_restart import OwnRedis
from tests.support.imagegen import jpeg
from tests.support.redis_proxy import Command, Cut, RedisProxy
from tests.support.stack_fixtures import ApiClient, stack_env

JOBS_PER_CASE = 3
# Each point is restarted at this many times (BROKER_RESTART_ROUNDS=10 for a long run).
ROUNDS = int(os.environ.get("BROKER_RESTART_ROUNDS", "2"))
# How often the reconciler runs here (the deployment runs it every minute).
RECONCILE_EVERY = 1.0


def _transition_to(status: bytes) -> Callable[[Command], bool]:
    # The job store's transition script:
    # EVALSHA sha 3 job:<id> <active index> <webhook outbox> <target> ...
    def matches(command: Command) -> bool:
        return (
            command[0] in (b"EVALSHA", b"EVAL")
            and len(command) > 6
            and command[2] == b"3"
            and command[3].startswith(b"job:")
            and command[6] == status
        )

    return matches


def _progress_write(command: Command) -> bool:
    # update_while: EVALSHA sha 1 job:<id> processing progress ...
    return (
        command[0] in (b"EVALSHA", b"EVAL")
        and len(command) > 4
        and command[2] == b"1"
        and command[3].startswith(b"job:")
        and b"progress" in command[5:]
    )


def _named(verb: bytes, key: bytes) -> Callable[[Command], bool]:
    return lambda command: command[0] == verb and len(command) > 1 and command[1] == key


def _brpop(command: Command) -> bool:
    return command[0] == b"BRPOP"


def _sweep_lock(command: Command) -> bool:
    # kombu's workers take this lock to put back tasks unacknowledged for too long.
    return command[0] == b"SET" and len(command) > 1 and command[1] == b"unacked_mutex"


def _final_then(second: Callable[[Command], bool], when: str) -> list[Cut]:
    """A cut at the final status write (the running task is lost with its connection),
    then a second one, once the first has fired, at ``second``."""
    first = Cut("completed", _transition_to(b"completed"), "before", down_for=2)
    return [first, Cut("then", second, when, down_for=2, after=first)]


@dataclass(frozen=True)
class Point:
    name: str
    cuts: Callable[[], list[Cut]]
    # Submit the jobs before arming the cut (the cut must find them queued).
    queue_first: bool = False


def _one(*args: Any, **kwargs: Any) -> Callable[[], list[Cut]]:
    return lambda: [Cut(*args, **kwargs)]


POINTS = [
    Point(
        "queued, before a worker takes it",
        _one("brpop", _brpop, "before", down_for=3),
        queue_first=True,
    ),
    Point(
        "taken, before it is recorded as delivered",
        _one("deliver", _named(b"ZADD", b"unacked_index"), "before", down_for=3),
    ),
    Point(
        "the move to processing, applied, reply lost",
        _one("processing", _transition_to(b"processing"), "after", down_for=3),
    ),
    Point(
        "a progress write while it runs",
        _one("progress", _progress_write, "before", down_for=3),
    ),
    Point(
        "the final status, before Redis applies it",
        _one("completed", _transition_to(b"completed"), "before", down_for=3),
    ),
    Point(
        "the final status, applied, reply lost",
        _one("completed", _transition_to(b"completed"), "after", down_for=3),
    ),
    Point(
        "the final status, and again at its retry",
        _one("completed", _transition_to(b"completed"), "before", down_for=1.5, times=2),
    ),
    Point(
        "a long outage at the final status (past the first backoff steps)",
        _one("completed", _transition_to(b"completed"), "before", down_for=9),
    ),
    Point(
        "the final status, then as the redelivered task is taken",
        lambda: _final_then(_named(b"ZADD", b"unacked_index"), "after"),
    ),
    Point(
        "the final status, then while a worker holds the lock that puts back lost tasks",
        lambda: _final_then(_sweep_lock, "after"),
    ),
    Point(
        "the acknowledgement",
        _one("ack", _named(b"ZREM", b"unacked_index"), "before", down_for=3),
    ),
]


@dataclass
class BrokerRig:
    stack: DevStack
    proxy: RedisProxy
    direct: redis.Redis
    client: ApiClient
    settings: Settings

    def status(self, job_id: str) -> str:
        return str(self.direct.hget(f"job:{job_id}", "status") or "")


@pytest.fixture(scope="module")
def rig(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerRig]:
    own = OwnRedis(tmp_path_factory.mktemp("broker-redis"))
    own.start()
    proxy = RedisProxy(own.port)
    url = proxy.start()
    local = DevStack(
        stack_env(url, AWS_ENDPOINT_URL=stack.env["AWS_ENDPOINT_URL"], **SHORT_TIMINGS),
        log_dir=tmp_path_factory.mktemp("broker-restart-logs"),
    )
    stop = threading.Event()

    def reconcile_forever() -> None:
        while not stop.wait(RECONCILE_EVERY):
            local.reconcile()

    try:
        local.start_all(worker_count=2, api_port=free_port())
        threading.Thread(target=reconcile_forever, daemon=True).start()
        yield BrokerRig(
            local,
            proxy,
            redis.Redis.from_url(own.url, decode_responses=True),
            ApiClient(local.api_url),
            Settings.from_env(local.env),
        )
    finally:
        stop.set()
        local.stop()
        proxy.stop()
        own.kill()


def _submit(rig: BrokerRig, image: bytes, count: int, label: str) -> list[str]:
    """Submit ``count`` jobs as a client would: a 503 while Redis is away is tried again."""
    accepted = []
    for i in range(count):
        deadline = time.monotonic() + 30
        while True:
            response = rig.client.submit(image, f"{label} {i}")
            if response.status_code == 202:
                accepted.append(response.json()["job_id"])
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, f"still refused after 30 s: {response.text}"
            time.sleep(0.5)
    return accepted


@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_a_broker_restart_at_this_point_strands_no_job(rig: BrokerRig, point: Point) -> None:
    for round_ in range(1, ROUNDS + 1):
        _restart_at(rig, point, f"{point.name}, round {round_}")


def _restart_at(rig: BrokerRig, point: Point, label: str) -> None:
    settings = rig.settings
    image = jpeg(160, 120)
    rig.proxy.disarm()
    cuts = point.cuts()
    if point.queue_first:
        # Enough work that tasks still wait when a worker next asks for one.
        job_ids = _submit(rig, jpeg(1600, 1200), 2 * JOBS_PER_CASE, label)
        rig.proxy.arm(*cuts)
        deadline = time.monotonic() + 30
        while not all(cut.fired for cut in cuts) and time.monotonic() < deadline:
            time.sleep(0.05)
        waiting = sum(rig.status(j) == "pending" for j in job_ids)
        print(f"\n{label}: {waiting} of {len(job_ids)} jobs still pending at the cut")
    else:
        rig.proxy.arm(*cuts)
        job_ids = _submit(rig, image, JOBS_PER_CASE, label)
    started = time.monotonic()
    # What the promise allows: a lost worker's task returns within the visibility
    # timeout; a job whose task is lost is queued again by the reconciler once its
    # lease lapses or, pending, after the pending grace; plus the outage itself.
    allowed = (
        settings.visibility_timeout
        + settings.processing_lease_seconds
        + settings.reconcile_pending_grace
        + sum(cut.down_for * cut.times for cut in cuts)
        + 4 * RECONCILE_EVERY
        + 10  # a tiny job's own time, twice, on a busy machine
    )
    while time.monotonic() - started < allowed:
        if all(rig.status(j) == "completed" for j in job_ids):
            break
        time.sleep(0.2)
    took = time.monotonic() - started
    statuses = {j: rig.status(j) for j in job_ids}
    rig.proxy.disarm()
    fired = [len(cut.fired) for cut in cuts]
    print(f"\n{label}: cuts fired {fired}, all ended in {took:.1f} s: {statuses}")
    assert all(fired), f"a cut at {label!r} never fired: {fired}"
    assert all(s == "completed" for s in statuses.values()), (
        f"{label}: after {took:.0f} s (allowed {allowed:.0f} s): {statuses}"
    )


def test_a_worker_ends_a_warm_shutdown_promptly_after_a_broker_restart(rig: BrokerRig) -> None:
    """The compose stack's workers once hung in warm shutdown after a Redis restart until
    the container's grace period killed them."""
    image = jpeg(160, 120)
    rig.proxy.disarm()
    # The restart comes while the worker runs a job (at its final status write).
    rig.proxy.arm(Cut("completed", _transition_to(b"completed"), "before", down_for=3))
    [before] = _submit(rig, image, 1, "before the restart")
    time.sleep(4)
    [after] = _submit(rig, image, 1, "after the restart")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and {rig.status(before), rig.status(after)} != {"completed"}:
        time.sleep(0.2)
    assert {rig.status(before), rig.status(after)} == {"completed"}
    worker = rig.stack.workers[-1]
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    while worker.poll() is None and time.monotonic() - started < 60:
        time.sleep(0.1)
    took = time.monotonic() - started
    print(f"\nwarm shutdown after a broker restart: {took:.1f} s")
    assert worker.poll() is not None, "the worker still runs 60 s after SIGTERM"
    assert took < 20, f"warm shutdown took {took:.0f} s"


def test_a_stale_pubsub_readiness_never_blocks_the_consumer_loop(redis_url: str) -> None:
    """The hang behind slow warm shutdowns: kombu reads a pub/sub message whenever its
    poller says the socket is readable, and redis-py 8 waits for it with no timeout.
    After a Redis restart the readiness could be stale; nothing arrived, and the
    worker's event loop (consuming and shutting down alike) waited for ever."""
    from kombu import Connection

    from worker.broker.transport import PoisonSafeRedisTransport

    connection = Connection(redis_url, transport=PoisonSafeRedisTransport)
    channel = connection.channel()
    try:
        subclient = channel.subclient
        subclient.subscribe("media-jobs-probe")
        subclient.parse_response()  # the subscription's confirmation
        outcome: list[BaseException | None] = []

        def read() -> None:
            try:
                channel._receive_one(subclient)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        reader = threading.Thread(target=read, daemon=True)
        started = time.monotonic()
        reader.start()
        reader.join(timeout=15)
        assert not reader.is_alive(), "the pub/sub read still blocks after 15 s"
        assert isinstance(outcome[0], redis.ConnectionError), outcome
        print(f"\nstale pub/sub readiness: read given up after {time.monotonic() - started:.1f} s")
    finally:
        channel.close()
        connection.release()
