"""The local stack: the whole service on this machine, for ``make dev`` and the tests.

__main__.py   ``make dev`` (``python -m scripts.devstack``): start, print ``Ready``, stop
stack.py      ``DevStack``: Redis, an S3 endpoint, the bucket, workers, the API; the env
processes.py  child processes and ports: start, wait for, stop
"""
