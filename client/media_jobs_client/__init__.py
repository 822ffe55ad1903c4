"""media-jobs-client: the ``media-jobs`` command and the Python API of the media-jobs service.

api.py       ``Client``: submit, status, wait, list, download, delete; batches and
             presets; the errors
webhooks.py  ``verify_webhook`` for a receiver of the service's signed webhooks
cli.py       the ``media-jobs`` command (``python -m media_jobs_client``)
"""

from __future__ import annotations

from importlib.metadata import version

from media_jobs_client.api import (
    DIRECT_UPLOAD_LIMIT,
    ApiError,
    ApiUnreachable,
    Batch,
    BatchAccepted,
    Client,
    ClientError,
    Job,
    JobAccepted,
    JobPage,
    JobSummary,
    Preset,
    StorageUploadError,
)
from media_jobs_client.webhooks import WebhookVerificationError, verify_webhook

__version__ = version("media-jobs-client")
__all__ = [
    "DIRECT_UPLOAD_LIMIT",
    "ApiError",
    "ApiUnreachable",
    "Batch",
    "BatchAccepted",
    "Client",
    "ClientError",
    "Job",
    "JobAccepted",
    "JobPage",
    "JobSummary",
    "Preset",
    "StorageUploadError",
    "WebhookVerificationError",
    "verify_webhook",
]
