"""Who a request acts for, and what each tenant may do.

tenants.py      tenants found from their API keys; keys, limits, webhook secrets
limits.py       per-tenant limits and quotas, checked and counted atomically in Redis
idempotency.py  a repeated request with the same Idempotency-Key gives the same job
uploads.py      direct uploads: who asked for each, and that it starts one job only
presets.py      a tenant's named options documents, used by name
"""
