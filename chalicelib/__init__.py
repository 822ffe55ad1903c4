"""Code shared by the API (Lambda) and the workers; never imports Pillow or worker code.

One subpackage per concern, layered from the bottom up (``make lint`` enforces it
with import-linter; a package imports only from the layers below it):

core/        the ground: settings (the one place that reads the environment), errors,
             telemetry, the Redis client
media/       facts about images, no I/O, no Pillow: formats, header reading, the options
             schema, the cost model
jobs/        the job model, its Redis store, the S3 object store, the status answer,
             the producer/consumer contract, the reconciler
broker/      the Celery producer, what waits in the broker, queue health, dead letters
tenancy/     tenants and their keys, limits and quotas, idempotency keys, direct uploads
webhooks/    callback URL rules (SSRF), webhook signatures
api/         HTTP, used by ``app.py`` only: request intake, ``JobService``, the OpenAPI
             document, the static page
backends.py  the one wiring module: every backing client built once from ``Settings``
"""
