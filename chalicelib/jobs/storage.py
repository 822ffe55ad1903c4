"""The S3 object store: key layout, puts and gets, presigned URLs, error mapping.

``ObjectStore`` is the interface the service and the workers use; tests also
use an in-memory fake of it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.errors import ServiceUnavailable, SourceMissing, StorageError, UploadTooLarge
from chalicelib.core.settings import Settings

log = logging.getLogger(__name__)

# S3 answers these for overload or its own faults: worth a retry with backoff.
_TRANSIENT_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestTimeTooSkewed",
}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


def make_s3_client(settings: Settings, session: Any = None, endpoint_url: str | None = None) -> Any:
    """An S3 client for ``settings``: short timeouts, a few standard retries, SigV4.

    ``session`` (a ``boto3.Session``) supplies other credentials than the
    environment's; ``endpoint_url`` another endpoint than ``AWS_ENDPOINT_URL``.
    Path-style addressing for a local endpoint (moto, LocalStack) so bucket names
    need no DNS; AWS itself gets the default virtual-hosted style.
    """
    endpoint = endpoint_url or settings.endpoint_url
    s3_config: dict[str, str] = {"addressing_style": "path"} if endpoint else {}
    config = Config(
        region_name=settings.aws_region,
        signature_version="s3v4",
        connect_timeout=3,
        read_timeout=15,
        retries={"mode": "standard", "max_attempts": 3},
        s3=s3_config,
    )
    return (session or boto3).client("s3", endpoint_url=endpoint, config=config)


def storage_error(exc: Exception, key: str = "") -> Exception:
    """Translate a botocore error into the service's error classes.

    The messages reach clients, so they name no key, bucket or S3 error text; the
    log keeps those for an operator.
    """
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _NOT_FOUND_CODES:
            return SourceMissing()
        log.warning("S3 refused a request for %s: %s (HTTP %s)", key or "-", code, status)
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return ServiceUnavailable("The object store is unavailable; try again shortly.")
        return StorageError()
    log.warning("S3 unreachable for %s: %s", key or "-", type(exc).__name__)
    # Connection refused, timeouts, broken responses: all passing faults.
    return ServiceUnavailable("The object store is unreachable; try again shortly.")


class ObjectStore(Protocol):
    """A job's objects under a fixed key layout, and links to them."""

    def source_key(self, job_id: str) -> str: ...

    def incoming_key(self, upload_id: str) -> str: ...

    def copy(self, source: str, target: str) -> None: ...

    def result_prefix(self, job_id: str) -> str: ...

    def output_key(self, job_id: str, filename: str) -> str: ...

    def put(self, key: str, data: bytes, content_type: str, **extra: Any) -> None: ...

    def get(self, key: str, max_bytes: int | None = None) -> bytes: ...

    def put_json(self, key: str, document: Any) -> None: ...

    def get_json(self, key: str) -> Any: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def presigned_get(self, key: str, expires_in: int) -> str: ...

    def head(self, key: str) -> dict[str, Any]: ...

    def get_head_bytes(self, key: str, count: int) -> bytes: ...

    def presigned_post(
        self, key: str, content_type: str, size: int, expires_in: int
    ) -> dict[str, Any]: ...

    def ping(self) -> None: ...


class S3ObjectStore:
    """Reads and writes a job's objects in one bucket under a fixed key layout.

    ``<upload_folder>/<job_id>/source`` holds the client's image (never under a
    client-given name); ``<results_folder>/<job_id>/`` holds the outputs and
    ``result.json``.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        upload_folder: str,
        results_folder: str,
        signer: Any | None = None,
    ):
        self._s3 = client
        # Presigned links are for clients, who may reach S3 at another address
        # than the service does (S3_PUBLIC_ENDPOINT_URL).
        self._signer = signer or client
        self.bucket = bucket
        self._uploads = upload_folder.strip("/")
        self._results = results_folder.strip("/")

    @classmethod
    def from_settings(cls, settings: Settings, client: Any | None = None) -> S3ObjectStore:
        public = settings.s3_public_endpoint_url
        return cls(
            client or make_s3_client(settings),
            settings.s3_bucket,
            settings.upload_folder,
            settings.results_folder,
            signer=make_s3_client(settings, endpoint_url=public) if public else None,
        )

    def source_key(self, job_id: str) -> str:
        return f"{self._uploads}/{job_id}/source"

    def incoming_key(self, upload_id: str) -> str:
        """Where a presigned upload lands; a job copies it to its own source key, so a
        reused upload form can never change a job's source."""
        return f"{self._uploads}/incoming/{upload_id}"

    def copy(self, source: str, target: str) -> None:
        """Copy an object within the bucket (server side, no bytes through the API)."""
        try:
            self._s3.copy_object(
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": source},
                MetadataDirective="REPLACE",
                ContentType=self.head(source)["content_type"] or "application/octet-stream",
            )
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, source) from exc

    def result_prefix(self, job_id: str) -> str:
        return f"{self._results}/{job_id}/"

    def output_key(self, job_id: str, filename: str) -> str:
        return f"{self.result_prefix(job_id)}{filename}"

    def put(self, key: str, data: bytes, content_type: str, **extra: Any) -> None:
        """Store ``data`` with an explicit Content-Type (never sniffed by a browser)."""
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra
            )
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, key) from exc

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        """Fetch an object; ``max_bytes`` refuses to read a larger one into memory."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=key)
            if max_bytes is not None and response["ContentLength"] > max_bytes:
                response["Body"].close()
                raise UploadTooLarge(f"The stored image is over {max_bytes} bytes.")
            return bytes(response["Body"].read())
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, key) from exc

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        self.put(key, body, "application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self.get(key))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many were deleted."""
        deleted = 0
        try:
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self._s3.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                    deleted += len(keys)
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, prefix) from exc
        return deleted

    def delete(self, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, key) from exc

    def presigned_get(self, key: str, expires_in: int) -> str:
        """A GET URL for ``key`` valid for ``expires_in`` seconds (signing is local, no I/O)."""
        url: str = self._signer.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def head(self, key: str) -> dict[str, Any]:
        """``{"bytes", "content_type"}`` of an object; ``SourceMissing`` if absent."""
        try:
            response = self._s3.head_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, key) from exc
        return {
            "bytes": int(response["ContentLength"]),
            "content_type": response.get("ContentType", ""),
        }

    def get_head_bytes(self, key: str, count: int) -> bytes:
        """The first ``count`` bytes of an object (enough to sniff its type)."""
        try:
            response = self._s3.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes=0-{count - 1}"
            )
            return bytes(response["Body"].read())
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(exc, key) from exc

    def presigned_post(
        self, key: str, content_type: str, size: int, expires_in: int
    ) -> dict[str, Any]:
        """A browser-style POST upload to exactly ``key`` of exactly ``size`` bytes (policy).

        The policy also pins the Content-Type, so the object is stored with the
        type the API checked; the worker still checks the real bytes.
        """
        post: dict[str, Any] = self._signer.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", size, size],
            ],
            ExpiresIn=expires_in,
        )
        return post

    def ping(self) -> None:
        """Raise unless the bucket answers."""
        try:
            self._s3.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            error = storage_error(exc, self.bucket)
            if isinstance(error, SourceMissing):
                log.warning("the bucket %s does not exist", self.bucket)
                error = StorageError("The object store's bucket does not exist.")
            raise error from exc
