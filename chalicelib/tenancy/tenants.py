"""Tenants: who a request acts for, found from its API key; their keys, limits and webhook secret.

A tenant owns API keys, jobs, uploads, idempotency keys and a webhook secret. Keys
look like ``mj_<key id>_<secret>``; only their SHA-256 is stored, so a key is shown
once, when it is made, and a leaked copy of Redis reveals none. The operator makes
and revokes them (``python -m scripts.ops tenants …``).

Two more ways in, for local use: every key listed in ``API_KEYS`` is a tenant of its
own (named ``key-<digest>``, nothing stored), and with no key at all a request is the
``anonymous`` tenant, which only a local stage (or ``ALLOW_ANONYMOUS=true``) admits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import redis

from chalicelib.core.errors import InvalidRequest, Unauthorized
from chalicelib.core.redis_client import redis_errors
from chalicelib.core.settings import Settings
from chalicelib.tenancy.limits import TenantLimits, checked_limits

ANONYMOUS = "anonymous"
KEY_PATTERN = re.compile(r"mj_([0-9a-f]{8})_[A-Za-z0-9_-]{32,64}")
TENANT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# After a rotation the old webhook secret keeps signing this long (seconds).
WEBHOOK_SECRET_GRACE = 24 * 3600
# Domain separation for the secrets derived from WEBHOOK_SECRET (bump to re-key everyone).
DERIVED_SECRET_LABEL = b"media-jobs tenant webhook secret v1:"


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def derived_webhook_secret(service_secret: str, tenant_id: str) -> str:
    """A tenant's own webhook secret computed from the service's: HMAC-SHA256 of its id.

    For the tenants nothing is stored for (those of ``API_KEYS``): each gets a secret of
    its own, so one tenant's receiver cannot accept a webhook signed for another, and
    rotating ``WEBHOOK_SECRET`` rotates every derived secret with it.
    """
    mac = hmac.new(service_secret.encode(), DERIVED_SECRET_LABEL + tenant_id.encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


@dataclass(frozen=True)
class Tenant:
    """One tenant: its id, name, limit overrides and webhook secrets (current first)."""

    tenant_id: str
    name: str
    created_at: float = 0.0
    limits: dict[str, float] = field(default_factory=dict)
    webhook_secret: str = ""
    previous_webhook_secret: str = ""
    previous_secret_until: float = 0.0

    def limits_from(self, settings: Settings) -> TenantLimits:
        """The settings' default limits with this tenant's own overrides."""
        defaults = TenantLimits.from_settings(settings)
        known = defaults.to_dict()
        overrides: dict[str, Any] = {
            k: type(known[k])(v) for k, v in self.limits.items() if k in known
        }
        return replace(defaults, **overrides)

    def webhook_secrets(self, settings: Settings, now: float | None = None) -> list[str]:
        """The secrets its webhooks are signed with, current first.

        A stored tenant's own (and during a rotation the previous one); for a tenant of
        ``API_KEYS``, secrets derived from ``WEBHOOK_SECRET`` (and ``_PREVIOUS``) and its
        id; the local-only ``anonymous`` tenant signs with ``WEBHOOK_SECRET`` itself.
        """
        now = time.time() if now is None else now
        own = [self.webhook_secret] if self.webhook_secret else []
        if own and self.previous_webhook_secret and now < self.previous_secret_until:
            own.append(self.previous_webhook_secret)
        if own:
            return own
        if self.tenant_id == ANONYMOUS:
            return settings.webhook_secrets
        return [derived_webhook_secret(s, self.tenant_id) for s in settings.webhook_secrets]

    def to_record(self) -> dict[str, str]:
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "created_at": repr(self.created_at),
            "limits": json.dumps(self.limits, sort_keys=True),
            "webhook_secret": self.webhook_secret,
            "previous_webhook_secret": self.previous_webhook_secret,
            "previous_secret_until": repr(self.previous_secret_until),
        }

    @classmethod
    def from_record(cls, record: dict[str, str]) -> Tenant:
        return cls(
            tenant_id=record["tenant_id"],
            name=record.get("name", ""),
            created_at=float(record.get("created_at") or 0),
            limits=json.loads(record.get("limits") or "{}"),
            webhook_secret=record.get("webhook_secret", ""),
            previous_webhook_secret=record.get("previous_webhook_secret", ""),
            previous_secret_until=float(record.get("previous_secret_until") or 0),
        )


def static_tenants(settings: Settings) -> dict[str, Tenant]:
    """The tenants of ``API_KEYS``, by the digest of their key: one per listed key."""
    return {
        digest(key): Tenant(tenant_id=f"key-{digest(key)[:12]}", name=f"API_KEYS #{n + 1}")
        for n, key in enumerate(settings.api_key_list)
    }


class TenantStore:
    """Tenants and the digests of their API keys, in Redis under ``<prefix>tenant…`` keys."""

    def __init__(self, client: redis.Redis, settings: Settings, prefix: str = ""):
        self._redis = client
        self._settings = settings
        self._prefix = prefix
        self._static = static_tenants(settings)

    def _tenant_key(self, tenant_id: str) -> str:
        return f"{self._prefix}tenant:{tenant_id}"

    def _keys_key(self, tenant_id: str) -> str:
        return f"{self._prefix}tenant:{tenant_id}:keys"

    def _api_key_key(self, key_digest: str) -> str:
        return f"{self._prefix}api-key:{key_digest}"

    @property
    def _index(self) -> str:
        return f"{self._prefix}tenants"

    # -- authenticating a request ---------------------------------------------------

    def anonymous_allowed(self) -> bool:
        return self._settings.allow_anonymous_requests

    def authenticate(self, api_key: str | None) -> Tenant:
        """The tenant ``api_key`` belongs to; ``Unauthorized`` for a wrong or missing key
        (a missing one is the anonymous tenant where that is allowed)."""
        if not api_key:
            if self.anonymous_allowed():
                return Tenant(tenant_id=ANONYMOUS, name="anonymous (local)")
            raise Unauthorized()
        key_digest = digest(api_key)
        # Compared in constant time with every static key, so timing tells nothing.
        static = [t for d, t in self._static.items() if hmac.compare_digest(d, key_digest)]
        if static:
            return static[0]
        if not KEY_PATTERN.fullmatch(api_key):
            raise Unauthorized()
        with redis_errors():
            tenant_id = self._redis.get(self._api_key_key(key_digest))
        tenant = self.get(str(tenant_id)) if tenant_id else None
        if tenant is None:
            raise Unauthorized()
        return tenant

    # -- the operator's commands ---------------------------------------------------------

    def get(self, tenant_id: str) -> Tenant | None:
        static = next((t for t in self._static.values() if t.tenant_id == tenant_id), None)
        if static is not None or tenant_id == ANONYMOUS:
            return static or Tenant(tenant_id=ANONYMOUS, name="anonymous (local)")
        with redis_errors():
            record = self._redis.hgetall(self._tenant_key(tenant_id))
        return Tenant.from_record(record) if record else None  # type: ignore[arg-type]

    def create(
        self, tenant_id: str, name: str, limits: dict[str, float] | None = None
    ) -> tuple[Tenant, str]:
        """A new tenant with its first API key and a webhook secret; returns the key
        (shown once: only its digest is kept)."""
        if (
            not TENANT_ID.fullmatch(tenant_id)
            or tenant_id == ANONYMOUS
            or tenant_id.startswith("key-")
        ):
            raise InvalidRequest(
                "A tenant id is 1-63 lowercase letters, digits or '-' "
                "(not 'anonymous', nor starting with 'key-')."
            )
        limits = checked_limits(limits or {})
        tenant = Tenant(
            tenant_id=tenant_id,
            name=name,
            created_at=time.time(),
            limits=dict(limits or {}),
            webhook_secret=secrets.token_urlsafe(32),
        )
        with redis_errors():
            created = self._redis.hsetnx(self._tenant_key(tenant_id), "tenant_id", tenant_id)
            if not created:
                raise InvalidRequest(f"The tenant {tenant_id!r} exists already.")
            record: dict[Any, Any] = tenant.to_record()
            self._redis.hset(self._tenant_key(tenant_id), mapping=record)
            self._redis.sadd(self._index, tenant_id)
        return tenant, self.add_key(tenant_id)

    def add_key(self, tenant_id: str) -> str:
        """A new API key for the tenant (shown once)."""
        key_id = secrets.token_hex(4)
        api_key = f"mj_{key_id}_{secrets.token_urlsafe(32)}"
        entry = json.dumps({"digest": digest(api_key), "created_at": time.time()})
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(self._api_key_key(digest(api_key)), tenant_id)
            pipe.hset(self._keys_key(tenant_id), key_id, entry)
            pipe.execute()
        return api_key

    def revoke_key(self, key_id: str) -> str:
        """Revoke a key by its id (the 8 hex digits after ``mj_``), or given the whole key;
        returns its tenant."""
        whole = KEY_PATTERN.fullmatch(key_id.strip())
        if whole:
            key_id = whole.group(1)
        for tenant_id in self.tenant_ids():
            with redis_errors():
                raw = self._redis.hget(self._keys_key(tenant_id), key_id)
                if raw:
                    pipe = self._redis.pipeline(transaction=True)
                    pipe.delete(self._api_key_key(json.loads(str(raw))["digest"]))
                    pipe.hdel(self._keys_key(tenant_id), key_id)
                    pipe.execute()
                    return tenant_id
        raise InvalidRequest(f"No API key has the id {key_id!r}.")

    def rotate_webhook_secret(self, tenant_id: str, grace: int = WEBHOOK_SECRET_GRACE) -> str:
        """A new webhook secret; the old one keeps signing beside it for ``grace`` seconds."""
        tenant = self.get(tenant_id)
        if tenant is None or tenant.tenant_id == ANONYMOUS or tenant_id.startswith("key-"):
            raise InvalidRequest(f"No stored tenant has the id {tenant_id!r}.")
        new = secrets.token_urlsafe(32)
        with redis_errors():
            rotated: dict[Any, Any] = {
                "webhook_secret": new,
                "previous_webhook_secret": tenant.webhook_secret,
                "previous_secret_until": repr(time.time() + grace),
            }
            self._redis.hset(self._tenant_key(tenant_id), mapping=rotated)
        return new

    def set_limits(self, tenant_id: str, limits: dict[str, float]) -> Tenant:
        tenant = self.get(tenant_id)
        if tenant is None or tenant_id == ANONYMOUS or tenant_id.startswith("key-"):
            raise InvalidRequest(f"No stored tenant has the id {tenant_id!r}.")
        merged = {**tenant.limits, **checked_limits(limits)}
        with redis_errors():
            self._redis.hset(
                self._tenant_key(tenant_id), "limits", json.dumps(merged, sort_keys=True)
            )
        return replace(tenant, limits=merged)

    def tenant_ids(self) -> list[str]:
        with redis_errors():
            return sorted(str(t) for t in self._redis.smembers(self._index))

    def key_ids(self, tenant_id: str) -> list[str]:
        with redis_errors():
            return sorted(str(k) for k in self._redis.hkeys(self._keys_key(tenant_id)))

    def all(self) -> Iterable[Tenant]:
        """Every tenant: the stored ones, then those of ``API_KEYS``."""
        for tenant_id in self.tenant_ids():
            tenant = self.get(tenant_id)
            if tenant is not None:
                yield tenant
        yield from self._static.values()


def describe(tenant: Tenant, settings: Settings, usage: dict[str, Any]) -> dict[str, Any]:
    """A tenant as ``GET /api/limits`` and ``ops tenants list`` show it (no secret)."""
    return {
        "tenant": tenant.tenant_id,
        "name": tenant.name,
        "limits": tenant.limits_from(settings).to_dict(),
        "usage": usage,
    }
