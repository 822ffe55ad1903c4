"""The ground every other package stands on; imports nothing of the service above it.

settings.py      ``Settings.from_env()``: the one place that reads the environment
errors.py        the error hierarchy: a stable ``code`` and an HTTP status each
parsing.py       strict JSON from clients, and JSON's whole numbers
telemetry.py     JSON logs and CloudWatch embedded metrics
redis_client.py  the one Redis client factory, Redis faults as ``ServiceUnavailable``
version.py       the service's version (OpenAPI, ``/api/health``, the release tag)
"""
