"""Structured JSON logs and CloudWatch metrics (embedded metric format) for the API and workers.

Both come from Powertools for AWS Lambda, imported on first use so that a cold
start of the API does not pay for them. A metric is a JSON line on stdout that
CloudWatch Logs turns into a metric, in Lambda and in the workers' awslogs stream.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from chalicelib.core.settings import Settings

_configured = False
log = logging.getLogger(__name__)


def configure_logging(settings: Settings) -> None:
    """Send every record of the root logger to stdout as one JSON object.

    Fields given with ``extra=`` (``job_id`` above all) become keys of the object.
    """
    global _configured
    if _configured:
        return
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(LambdaPowertoolsFormatter(service=settings.powertools_service_name))
    root = logging.getLogger()
    # Lambda's runtime (and chalice local) install a plain handler; JSON replaces it.
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if settings.debug else logging.INFO)
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


def emit_metrics(
    settings: Settings, values: dict[str, tuple[float, str]], **properties: Any
) -> None:
    """Publish ``{name: (value, unit)}`` now, as one EMF line with ``properties`` attached.

    Safe from any thread: ``EphemeralMetrics`` keeps its metrics to itself, where
    Powertools' ``Metrics`` instances all share one set (the local API server's
    concurrent requests flushed each other's metrics, and one then failed with
    "Must contain at least one metric"), and each line is written in one piece.
    Best effort: a metric that cannot be published is logged, never raised into the
    request or job that emitted it, which has already done its work.
    """
    from aws_lambda_powertools.metrics import EphemeralMetrics

    try:
        metrics = EphemeralMetrics(
            namespace=settings.powertools_metrics_namespace,
            service=settings.powertools_service_name,
        )
        for name, (value, unit) in values.items():
            metrics.add_metric(name=name, unit=unit, value=value)
        for key, value in properties.items():
            metrics.add_metadata(key=key, value=value)
        # One write per line (Powertools' own flush prints the line and its newline
        # apart, so lines from two threads could interleave).
        line = json.dumps(metrics.serialize_metric_set(), separators=(",", ":"))
        sys.stdout.write(line + "\n")
    except Exception:
        log.exception("metric not published: %s", ", ".join(values))
