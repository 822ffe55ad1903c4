"""Developer and operator tools, beside the service (never in the Lambda or the worker image).

devstack/           the local stack: ``make dev`` (``python -m scripts.devstack``) and the tests'
devserver/          the local API server and the app's schedules (the compose API image)
cli.py              ``python -m scripts.cli``: the client package's command (``client/``)
ops.py              operator commands: tenants, the queue, dead letters, the reconciler
docs.py             the generated tables in the docs
standin_images.py   local stand-ins for the compose stack's base images
chalice_tf.py       Chalice's Terraform merged into infra/ (with the deploy scripts)
"""
