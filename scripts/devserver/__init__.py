"""The local API server, what the compose stack's API image ships (not the Lambda).

server.py     ``chalice local``'s gateway behind guards (body size, read deadline, JSON
              errors for every method)
schedules.py  the app's rate schedules run as EventBridge runs them (``--run-schedules``)
__main__.py   ``python -m scripts.devserver``
"""
