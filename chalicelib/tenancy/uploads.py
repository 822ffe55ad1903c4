"""Direct uploads (``POST /api/uploads``): who asked for each, and that it starts one job only.

A presigned POST lets a client put one image of the declared size straight into S3,
at ``<UPLOAD_FOLDER>/incoming/<upload_id>``. The record here says which tenant asked
for it, what it declared, and whether a job has taken it: it expires with the upload
(``UPLOAD_URL_TTL`` and an hour to submit), is claimed atomically by one job of the
same tenant, and the job then works on its own copy, so the upload form cannot
change a job after it started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from chalicelib.core.errors import UploadAlreadyUsed
from chalicelib.core.redis_client import redis_errors

# Time to submit a finished upload after its form expired.
SUBMIT_GRACE_SECONDS = 3600

# Claims KEYS[1] (an upload record) for the job ARGV[2] of the tenant ARGV[1]:
# 0 no such upload (or another tenant's: the same answer), 1 claimed, 2 taken already.
_CLAIM = """
local tenant = redis.call('HGET', KEYS[1], 'tenant_id')
if not tenant or tenant ~= ARGV[1] then return 0 end
if redis.call('HSETNX', KEYS[1], 'job_id', ARGV[2]) == 0 then return 2 end
return 1
"""


@dataclass(frozen=True)
class Upload:
    """A registered direct upload."""

    upload_id: str
    tenant_id: str
    content_type: str
    size: int
    # The job that took it, once one did.
    job_id: str | None = None


class UploadRegistry:
    """Upload records in Redis under ``<prefix>upload:<upload_id>``, each with a TTL."""

    def __init__(self, client: redis.Redis, form_ttl: int, prefix: str = ""):
        self._redis = client
        self._ttl = form_ttl + SUBMIT_GRACE_SECONDS
        self._prefix = prefix
        self._claim = client.register_script(_CLAIM)

    def _key(self, upload_id: str) -> str:
        return f"{self._prefix}upload:{upload_id}"

    def register(self, upload: Upload) -> None:
        record: dict[Any, Any] = {
            "tenant_id": upload.tenant_id,
            "content_type": upload.content_type,
            "size": str(upload.size),
            "created_at": repr(time.time()),
        }
        with redis_errors():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._key(upload.upload_id), mapping=record)
            pipe.expire(self._key(upload.upload_id), self._ttl)
            pipe.execute()

    def get(self, upload_id: str, tenant_id: str) -> Upload | None:
        """The tenant's upload (None for another tenant's, as for an unknown one)."""
        with redis_errors():
            record = self._redis.hgetall(self._key(upload_id))
        if not record or record.get("tenant_id") != tenant_id:
            return None
        return Upload(
            upload_id,
            tenant_id,
            str(record["content_type"]),
            int(record["size"]),
            str(record.get("job_id") or "") or None,
        )

    def claim(self, upload_id: str, tenant_id: str, job_id: str) -> bool:
        """Take the upload for ``job_id``: False if there is no such upload of the tenant;
        ``UploadAlreadyUsed`` if a job took it already."""
        with redis_errors():
            outcome = int(self._claim(keys=[self._key(upload_id)], args=[tenant_id, job_id]))
        if outcome == 2:
            raise UploadAlreadyUsed()
        return outcome == 1

    def release(self, upload_id: str) -> None:
        """Give the upload back after its job could not be created."""
        with redis_errors():
            self._redis.hdel(self._key(upload_id), "job_id")
