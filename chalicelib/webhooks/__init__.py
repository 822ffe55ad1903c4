"""Webhooks as rules (the worker delivers them: ``worker/webhooks/``).

callbacks.py  callback URLs: one parse, one resolution, one address rule against SSRF
signature.py  sign a delivery with a timestamp, and verify one in a receiver
"""
