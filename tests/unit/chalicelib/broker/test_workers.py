"""The workers' facts in Redis: recorded by hostname, read as engines, stale ones dropped."""

from __future__ import annotations

import fakeredis
import pytest

from chalicelib.broker.workers import MAX_AGE_SECONDS, WorkerFacts
from chalicelib.core.errors import ServiceUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_engines_are_named_once_each_with_their_simd_level() -> None:
    client, clock = fakeredis.FakeRedis(decode_responses=True), Clock()
    facts = WorkerFacts(client, clock=clock)
    simd = {"engine": "pillow-simd", "version": "12.1.1.post0", "simd": "avx2"}
    facts.record("worker@a", simd)
    facts.record("worker@b", simd)
    facts.record("worker@c", {"engine": "pillow", "version": "13.0.0", "simd": ""})
    assert facts.engines() == ["pillow 13.0.0", "pillow-simd 12.1.1.post0 (avx2)"]


def test_a_worker_not_heard_of_for_a_day_is_dropped() -> None:
    client, clock = fakeredis.FakeRedis(decode_responses=True), Clock()
    facts = WorkerFacts(client, key="ns:workers:facts", clock=clock)
    facts.record("worker@old", {"engine": "pillow", "version": "12.0.0", "simd": ""})
    clock.now += MAX_AGE_SECONDS / 2
    facts.record("worker@new", {"engine": "pillow", "version": "13.0.0", "simd": ""})
    client.hset("ns:workers:facts", "worker@garbled", "{not json")
    clock.now += MAX_AGE_SECONDS / 2 + 1
    assert facts.engines() == ["pillow 13.0.0"]
    assert set(client.hkeys("ns:workers:facts")) == {"worker@new"}
    assert 0 < client.ttl("ns:workers:facts") <= MAX_AGE_SECONDS


def test_redis_away_is_service_unavailable() -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    facts = WorkerFacts(fakeredis.FakeRedis(server=server))
    with pytest.raises(ServiceUnavailable):
        facts.engines()
    with pytest.raises(ServiceUnavailable):
        facts.record("worker@a", {"engine": "pillow", "version": "13.0.0", "simd": ""})
