"""The one Redis client factory, and the mapping of Redis faults to ``ServiceUnavailable``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from chalicelib.core.errors import ServiceUnavailable
from chalicelib.core.settings import Settings

log = logging.getLogger(__name__)


def make_redis_client(settings: Settings, url: str | None = None) -> redis.Redis:
    """A Redis client with short timeouts, so an outage is a quick 503, not a hang.

    ``url`` defaults to ``REDIS_URL``; the broker's inspection passes the broker's.
    """
    return redis.Redis.from_url(
        url or settings.redis_url,
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        health_check_interval=30,
        decode_responses=True,
    )


@contextmanager
def redis_errors() -> Iterator[None]:
    """Turn Redis connection faults into ``ServiceUnavailable``."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("Redis unreachable: %s: %s", type(exc).__name__, exc)
        raise ServiceUnavailable("The job store is unavailable; try again shortly.") from exc
    except redis.ResponseError as exc:
        # LOADING (restarting with AOF), READONLY (failover), OOM: all pass. The
        # server's own words go to the log, not to clients.
        log.warning("Redis refused a request: %s", exc)
        raise ServiceUnavailable("The job store refused the request; try again shortly.") from exc
