"""Tenants: keys stored hashed, found from the key, revoked; anonymous only where allowed."""

from __future__ import annotations

import fakeredis
import pytest

from chalicelib.core.errors import InvalidRequest, Unauthorized
from chalicelib.core.settings import Settings
from chalicelib.tenancy.tenants import ANONYMOUS, TenantStore, digest


def store(**env: str) -> tuple[TenantStore, fakeredis.FakeRedis]:
    client = fakeredis.FakeRedis(decode_responses=True)
    return TenantStore(client, Settings.from_env(env), prefix="p:"), client


def test_a_created_key_finds_its_tenant_and_only_its_digest_is_kept() -> None:
    tenants, client = store()
    tenant, key = tenants.create("acme", "Acme Ltd", {"jobs_in_flight": 3})
    assert tenants.authenticate(key).tenant_id == "acme"
    dump = "".join(str(client.dump(k)) for k in client.keys("*"))
    assert key not in dump and digest(key) in "".join(client.keys("*"))
    assert tenant.limits_from(tenants._settings).jobs_in_flight == 3


@pytest.mark.parametrize("key", ["", "mj_00000000_" + "x" * 43, "not-a-key", "mj_"])
def test_a_wrong_key_is_unauthorized_outside_a_local_stage(key: str) -> None:
    tenants, _ = store(STAGE="prod", WEBHOOK_SECRET="s")
    with pytest.raises(Unauthorized):
        tenants.authenticate(key or None)


def test_no_key_is_the_anonymous_tenant_only_where_allowed() -> None:
    assert store()[0].authenticate(None).tenant_id == ANONYMOUS  # local, no API_KEYS
    with pytest.raises(Unauthorized):
        store(API_KEYS="k1")[0].authenticate(None)
    with pytest.raises(Unauthorized):
        store(STAGE="dev")[0].authenticate(None)
    assert store(STAGE="dev", ALLOW_ANONYMOUS="true")[0].authenticate(None).tenant_id == ANONYMOUS


def test_each_api_keys_entry_is_a_tenant_of_its_own() -> None:
    tenants, _ = store(API_KEYS="first, second")
    first, second = tenants.authenticate("first"), tenants.authenticate("second")
    assert first.tenant_id != second.tenant_id
    with pytest.raises(Unauthorized):
        tenants.authenticate("first ")


def test_a_revoked_key_stops_working_and_other_keys_do_not() -> None:
    tenants, _ = store()
    _, key = tenants.create("acme", "Acme")
    second = tenants.add_key("acme")
    assert tenants.revoke_key(key.split("_")[1]) == "acme"
    with pytest.raises(Unauthorized):
        tenants.authenticate(key)
    assert tenants.authenticate(second).tenant_id == "acme"


def test_a_rotated_webhook_secret_keeps_the_old_one_for_the_grace() -> None:
    tenants, _ = store()
    tenant, _ = tenants.create("acme", "Acme")
    new = tenants.rotate_webhook_secret("acme", grace=60)
    rotated = tenants.get("acme")
    assert rotated is not None
    settings = Settings.from_env({})
    assert rotated.webhook_secrets(settings) == [new, tenant.webhook_secret]
    later = rotated.previous_secret_until + 1
    assert rotated.webhook_secrets(settings, now=later) == [new]


def test_each_api_keys_tenant_signs_with_a_secret_of_its_own() -> None:
    tenants, _ = store(API_KEYS="k1,k2", WEBHOOK_SECRET="service-secret")
    first = tenants.authenticate("k1").webhook_secrets(tenants._settings)
    second = tenants.authenticate("k2").webhook_secrets(tenants._settings)
    assert len(first) == len(second) == 1
    # Neither the service's secret nor another tenant's: a receiver of one tenant
    # cannot accept a webhook signed for another.
    assert len({first[0], second[0], "service-secret"}) == 3
    assert len(first[0]) >= 43  # 256 bits
    # Stable (computed, nothing stored), and changed by rotating the service's secret.
    assert tenants.authenticate("k1").webhook_secrets(tenants._settings) == first
    rotated, _ = store(
        API_KEYS="k1", WEBHOOK_SECRET="new-secret", WEBHOOK_SECRET_PREVIOUS="service-secret"
    )
    new, old = rotated.authenticate("k1").webhook_secrets(rotated._settings)
    assert old == first[0] and new != old


def test_the_local_anonymous_tenant_signs_with_the_services_secret() -> None:
    tenants, _ = store(WEBHOOK_SECRET="service-secret")
    assert tenants.authenticate(None).webhook_secrets(tenants._settings) == ["service-secret"]


@pytest.mark.parametrize("tenant_id", ["", "Acme", "anonymous", "key-123", "a" * 64, "a b"])
def test_tenant_ids_are_slugs_of_our_own(tenant_id: str) -> None:
    with pytest.raises(InvalidRequest):
        store()[0].create(tenant_id, "x")


def test_a_tenant_id_is_taken_once() -> None:
    tenants, _ = store()
    tenants.create("acme", "Acme")
    with pytest.raises(InvalidRequest):
        tenants.create("acme", "Acme again")


def test_a_key_is_revoked_by_its_id_or_given_whole() -> None:
    tenants, _ = store()
    _, key = tenants.create("acme", "Acme Ltd")
    assert tenants.revoke_key(key) == "acme"
    with pytest.raises(Unauthorized):
        store(STAGE="prod", WEBHOOK_SECRET="s")[0].authenticate(key)
    with pytest.raises(InvalidRequest, match="No API key"):
        tenants.revoke_key(key)


@pytest.mark.parametrize(
    ("limits", "says"),
    [
        ({"jobs": 3}, "Unknown limit 'jobs'; the limits are: requests_per_second"),
        ({"jobs_in_flight": -1}, "jobs_in_flight must be from 0"),
        ({"requests_per_second": 0}, "requests_per_second must be from 0.01"),
        ({"burst": -5}, "burst must be from 1"),
        ({"burst": 2.5}, "burst must be a whole number"),
        ({"work_seconds_per_hour": float("nan")}, "work_seconds_per_hour must be from"),
    ],
)
def test_limits_that_would_break_requests_are_refused_at_set_time(
    limits: dict[str, float], says: str
) -> None:
    tenants, client = store()
    tenants.create("acme", "Acme Ltd")
    before = client.hgetall("p:tenant:acme")
    with pytest.raises(InvalidRequest, match=says):
        tenants.set_limits("acme", limits)
    with pytest.raises(InvalidRequest, match=says):
        tenants.create("other", "Other", limits)
    assert client.hgetall("p:tenant:acme") == before and tenants.get("other") is None


def test_whole_limits_are_kept_whole() -> None:
    tenants, _ = store()
    tenants.create("acme", "Acme Ltd")
    assert tenants.set_limits("acme", {"jobs_in_flight": 5.0}).limits == {"jobs_in_flight": 5}
