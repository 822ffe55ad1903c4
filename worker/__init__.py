"""The Celery workers: image and text processing (Pillow lives only here).

celery_app.py   the Celery app and its reliability settings
tasks.py        thin tasks: load the job, run the pipeline, record the outcome
pipeline.py     one job's stages: fetch, analyse, render, store
imaging/        the Pillow code, one stage per module
text/           text analysis
webhooks/       webhook delivery
broker/         the poison-safe transport and consumer (bad messages are dead-lettered)
context.py      per-process backends (clients are not fork-safe)
deadline.py     a job's one time budget
threadpools.py  thread pools that survive Celery's prefork
heap.py         give freed C heap pages back after building a model
heif.py         HEIC/HEIF decoding, loaded on first use
upstream.py     libraries' private internals the worker relies on, fenced
"""
