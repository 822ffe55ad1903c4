"""Fixtures of the fault tests: a stack of their own (tests/reliability/fragile.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from chalicelib.backends import Backends
from chalicelib.core.settings import Settings
from scripts.devstack.processes import free_port
from scripts.devstack.stack import DevStack
from tests.reliability.fragile import SHORT_TIMINGS, Fragile
from tests.support.faults import FaultyProxy
from tests.support.stack_fixtures import ApiClient, stack_env
from tests.support.tenant_client import TenantClient, make_tenant


@pytest.fixture(scope="module")
def fragile(
    stack: DevStack, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fragile]:
    proxy = FaultyProxy(stack.env["AWS_ENDPOINT_URL"])
    endpoint = proxy.start()
    local = DevStack(
        stack_env(redis_url, AWS_ENDPOINT_URL=endpoint, **SHORT_TIMINGS),
        log_dir=tmp_path_factory.mktemp("fragile-logs"),
    )
    try:
        local.start_all(worker_count=2, api_port=free_port())
        yield Fragile(local, proxy, ApiClient(local.api_url))
    finally:
        local.stop()
        proxy.stop()


@pytest.fixture()
def faults(fragile: Fragile) -> Iterator[Fragile]:
    """The fragile stack, with two live workers and no faults left over from another test."""
    fragile.proxy.clear()
    fragile.respawn_workers()
    yield fragile
    fragile.proxy.clear()


@pytest.fixture(scope="module")
def backends(stack: DevStack) -> Backends:
    return Backends.from_settings(Settings.from_env(stack.env))


@pytest.fixture()
def tenant(stack: DevStack, backends: Backends) -> Callable[..., TenantClient]:
    """Makes tenants of the shared stack with the production default limits and the
    given overrides."""

    def make(name: str, **limits: float) -> TenantClient:
        return make_tenant(stack.api_url, backends, name, **limits)

    return make
