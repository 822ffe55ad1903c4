"""Option presets: a tenant's named options documents, stored in Redis, used by name."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import redis

from chalicelib.core.errors import InvalidPresetName, PresetNotFound, TooManyPresets
from chalicelib.core.redis_client import redis_errors
from chalicelib.media.options import decode_options, parse_options

MAX_NAME_LENGTH = 40
NAME_PATTERN = re.compile(f"[a-z0-9][a-z0-9-]{{0,{MAX_NAME_LENGTH - 1}}}")
#: The name rule as an anchored pattern (OpenAPI).
PRESET_NAME_PATTERN = f"^{NAME_PATTERN.pattern}$"

# Stores ARGV[2] under the name ARGV[1] in the tenant's hash KEYS[1] unless the name is
# new and the hash already holds ARGV[3] presets. Counting and writing in one script: two
# racing PUTs of new names cannot both pass the last free place. Returns 1 stored, 0 full.
_PUT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0
   and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def check_name(name: Any) -> str:
    """``name`` if it follows the rule, else ``InvalidPresetName``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidPresetName(field="preset")
    return name


@dataclass(frozen=True)
class Preset:
    """One stored preset: its name, the options document as given, and when it was set."""

    name: str
    options: dict[str, Any]
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "options": self.options, "updated_at": self.updated_at}


def checked_document(options: Any) -> dict[str, Any]:
    """The options document of a preset: decoded and checked as a job's options are
    (``InvalidOptions`` naming the field), kept as given so that a job's own options
    can lay their top-level keys over it."""
    document = decode_options(options)
    parse_options(document)
    return document


class PresetStore:
    """Presets in one hash per tenant, ``<prefix>tenant:<id>:presets`` (name -> JSON)."""

    def __init__(self, client: redis.Redis, prefix: str = ""):
        self._redis = client
        self._prefix = prefix
        self._put = client.register_script(_PUT)

    def _key(self, tenant_id: str) -> str:
        return f"{self._prefix}tenant:{tenant_id}:presets"

    def put(self, tenant_id: str, name: str, options: Any, most: int) -> Preset:
        """Create or replace the preset ``name``; ``TooManyPresets`` for a new name past
        ``most``; ``InvalidOptions`` for a document a job would be refused."""
        preset = Preset(check_name(name), checked_document(options), time.time())
        value = json.dumps(
            {"options": preset.options, "updated_at": preset.updated_at}, separators=(",", ":")
        )
        with redis_errors():
            stored = self._put(keys=[self._key(tenant_id)], args=[name, value, most])
        if not stored:
            raise TooManyPresets(limit="presets", presets=most)
        return preset

    def get(self, tenant_id: str, name: str) -> Preset | None:
        """The tenant's preset ``name``, or None (another tenant's is never seen)."""
        with redis_errors():
            raw = self._redis.hget(self._key(tenant_id), check_name(name))
        return None if raw is None else _preset(name, str(raw))

    def require(self, tenant_id: str, name: str) -> Preset:
        """``get``, or ``PresetNotFound``."""
        preset = self.get(tenant_id, name)
        if preset is None:
            raise PresetNotFound(field="preset")
        return preset

    def all(self, tenant_id: str) -> list[Preset]:
        """Every preset of the tenant, by name."""
        with redis_errors():
            raw = self._redis.hgetall(self._key(tenant_id))
        return [_preset(str(name), str(value)) for name, value in sorted(raw.items())]

    def delete(self, tenant_id: str, name: str) -> None:
        """Remove the preset; ``PresetNotFound`` when there is none of this name."""
        with redis_errors():
            removed = self._redis.hdel(self._key(tenant_id), check_name(name))
        if not removed:
            raise PresetNotFound(field="preset")

    def count(self, tenant_id: str) -> int:
        with redis_errors():
            return int(self._redis.hlen(self._key(tenant_id)))


def _preset(name: str, raw: str) -> Preset:
    stored = json.loads(raw)
    return Preset(name, stored["options"], float(stored["updated_at"]))
