"""A Chalice app's rate schedules run locally, as EventBridge runs them in the cloud.

``chalice local`` serves routes only. In AWS the API's ``watch_queue`` runs every
minute (queue metrics and the reconciler, which queues again a job whose task was
lost, for instance in the moment a Redis restart cuts a worker's read). A local
stack without it keeps such a job pending forever, so the compose stack's API
server runs the schedules too (``scripts.devserver --run-schedules``).
"""

from __future__ import annotations

import datetime
import logging
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Rate, ScheduledEventConfig

log = logging.getLogger(__name__)

_SECONDS = {Rate.MINUTES: 60, Rate.HOURS: 3600, Rate.DAYS: 86400}


def rate_schedules(app: Chalice) -> list[tuple[str, float, Callable[[Any, Any], Any]]]:
    """Each rate-scheduled handler of ``app``: its name, its period in seconds, the handler.

    Cron schedules are left out (logged): a local stack has no use for them today.
    """
    found = []
    for source in app.event_sources:
        if not isinstance(source, ScheduledEventConfig):
            continue
        expression = source.schedule_expression
        if not isinstance(expression, Rate):
            log.info("schedule %s (%s) is not run locally", source.name, expression)
            continue
        module_name, _, attribute = source.handler_string.rpartition(".")
        handler = getattr(sys.modules[module_name], attribute)
        found.append((source.name, float(expression.value * _SECONDS[expression.unit]), handler))
    return found


def scheduled_event(name: str) -> dict[str, Any]:
    """The event EventBridge hands a scheduled Lambda function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "local",
        "resources": [f"arn:aws:events:local:000000000000:rule/{name}"],
        "detail": {},
    }


def start(app: Chalice, stop: threading.Event) -> list[threading.Thread]:
    """Run every rate schedule of ``app`` on a daemon thread until ``stop`` is set.

    The first run is one period after the start, as in the cloud; a failing run is
    logged and the next one comes on time.
    """
    threads = []
    for name, period, handler in rate_schedules(app):

        def run(name: str = name, period: float = period, handler: Any = handler) -> None:
            while not stop.wait(period):
                try:
                    handler(scheduled_event(name), None)
                except Exception:
                    log.exception("scheduled %s failed", name)

        thread = threading.Thread(target=run, name=f"schedule-{name}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads
