"""The HTTP side, used by ``app.py`` only (the workers never import it).

intake.py     multipart parsing and cheap validation of requests
service.py    ``JobService``: creating, reading and deleting a tenant's jobs; its presets
batches.py    ``BatchService``: submitting, reading and deleting a tenant's batches
openapi.py    the OpenAPI 3.1 document served at ``GET /api/openapi.json``
static/       the web page served at ``/``
"""
