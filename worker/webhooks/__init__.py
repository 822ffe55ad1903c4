"""Webhook delivery (the URL rules and signatures are ``chalicelib/webhooks/``).

delivery.py  the Celery task: POST a finished job's status body, signed, retried
sender.py    one POST to a checked, pinned address within one total deadline
"""
