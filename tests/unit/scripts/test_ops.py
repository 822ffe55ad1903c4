"""Operator commands: limits given as name=number, a tenant's webhook secret, and output
that ends quietly on a closed pipe."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from chalicelib.core.settings import Settings
from chalicelib.webhooks.signature import verify_webhook, webhook_headers
from scripts.devstack.processes import ROOT
from scripts.ops import _limits, tenants
from tests.support.fakes import fake_world


def test_limits_are_name_number_pairs() -> None:
    assert _limits(["jobs_in_flight=5", " burst = 10"]) == {"jobs_in_flight": 5.0, "burst": 10.0}
    for bad in ("jobs_in_flight", "burst=many"):
        with pytest.raises(SystemExit, match="a limit is name=number"):
            _limits([bad])


def test_a_reader_that_stops_early_ends_the_output_quietly() -> None:
    script = "from scripts.ops import write_json; raise SystemExit(write_json(list(range(10**5))))"
    shell = f"{sys.executable} -c '{script}' | head -n 1"
    done = subprocess.run(
        ["bash", "-c", shell], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "[\n"
    assert done.stderr == ""


def test_the_webhook_secret_shown_for_an_api_keys_tenant_verifies_its_webhooks() -> None:
    settings = Settings.from_env({"API_KEYS": "k1,k2", "WEBHOOK_SECRET": "service-secret"})
    backends = fake_world(settings).backends
    first, second = (backends.tenants.authenticate(k) for k in ("k1", "k2"))
    shown = tenants(backends, argparse.Namespace(action="webhook-secret", tenant=first.tenant_id))
    assert shown["tenant"] == first.tenant_id
    body = b'{"job_id":"j"}'
    # What the worker signs a first-tenant webhook with: verified with the shown secret,
    # refused with the service's secret and with the other tenant's.
    headers = webhook_headers(first.webhook_secrets(settings), body, "delivery-1")
    assert verify_webhook(shown["webhook_secrets"][0], headers, body) == {"job_id": "j"}
    other = tenants(backends, argparse.Namespace(action="webhook-secret", tenant=second.tenant_id))
    for wrong in ("service-secret", other["webhook_secrets"][0]):
        with pytest.raises(ValueError):
            verify_webhook(wrong, headers, body)
    with pytest.raises(SystemExit, match="no tenant"):
        tenants(backends, argparse.Namespace(action="webhook-secret", tenant="nobody"))
