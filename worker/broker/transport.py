"""A Redis transport for the workers that survives messages it cannot parse.

kombu's Redis transport pops a message with BRPOP and decodes it before Celery
sees it: bytes that are not JSON stop the worker ("Unrecoverable error"), and
JSON without kombu's envelope breaks the connection. Such a message is already
off the queue, so this channel checks each popped item first and moves one
that is not a message to the dead-letter list, then carries on.

It also never lets a pub/sub read (the remote-control broadcasts) block the worker's
event loop for ever (``_receive_one``).

It overrides three private kombu methods: fenced in ``worker/upstream.py`` with the
kombu version they were written against, and guarded by a test.
"""

from __future__ import annotations

import json
import logging
from queue import Empty
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str

from worker.broker.dead_lettering import keep_dead_letter

log = logging.getLogger(__name__)

_ENVELOPE_KEYS = ("body", "headers", "properties")


def parse_envelope(item: bytes | str) -> dict[str, Any] | None:
    """The decoded message if ``item`` is a kombu message envelope, else None."""
    try:
        message = json.loads(bytes_to_str(item))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or not all(k in message for k in _ENVELOPE_KEYS):
        return None
    if not isinstance(message["properties"], dict) or not isinstance(message["headers"], dict):
        return None
    return message


# How long a pub/sub read waits for the message the poller announced (seconds).
PUBSUB_READ_WAIT = 1.0


class PoisonSafeChannel(kombu_redis.Channel):
    def _receive_one(self, c: Any) -> Any:
        # redis-py 8 reads a blocking pub/sub message with no timeout at all, and kombu
        # reads one whenever its poller says the socket is readable. After a Redis
        # restart that readiness can be stale (the fd's number reused by another of the
        # new connections): the read then waited for ever, and with it the worker's
        # whole event loop, which no longer consumed tasks nor ended a warm shutdown.
        # Nothing to read means the poller is confused: reconnect from scratch.
        connection = c.connection
        if connection is not None and not connection.can_read(timeout=PUBSUB_READ_WAIT):
            connection.disconnect()
            raise redis.ConnectionError("pub/sub socket announced readable with nothing to read")
        return super()._receive_one(c)

    def _dead_letter(self, item: bytes | str, queue: str) -> None:
        log.warning("dead-lettered an unparsable message from %s", queue)
        keep_dead_letter("not a task message (unparsable envelope)", queue=queue, body=item)

    def _brpop_read(self, **options: Any) -> bool:
        # kombu's own method, with the envelope checked before delivery.
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            message = parse_envelope(item)
            if message is None:
                self._dead_letter(item, dest)
                raise Empty()
            self.connection._deliver(message, dest)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]
            self._flush_brpop_reauth()

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                if item:
                    message = parse_envelope(item)
                    if message is None:
                        self._dead_letter(item, queue)
                        continue
                    return message
        raise Empty()


class PoisonSafeRedisTransport(kombu_redis.Transport):
    Channel = PoisonSafeChannel
