"""The worker's poison-safe side of the broker: a bad message is dead-lettered, not fatal.

transport.py       kombu's Redis transport with an envelope check on every message read
dead_lettering.py  a Celery consumer that dead-letters messages it cannot run
"""
