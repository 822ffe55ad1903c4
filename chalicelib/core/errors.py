"""The service's error hierarchy: each error carries a stable ``code`` and an HTTP status.

    ServiceError                      (500 internal_error: a bug, never shown with a trace)
    ├── InputError                    what the client sent cannot be processed as it is;
    │                                 permanent (4xx, or a job failed at once)
    │   ├── MissingField              400 missing_field
    │   ├── InvalidRequest            400 invalid_request
    │   ├── InvalidJobId              400 invalid_job_id
    │   ├── Unauthorized              401 unauthorized     (API_KEYS set, no valid X-Api-Key)
    │   ├── RateLimited               429 rate_limited     (a tenant's limit; Retry-After)
    │   ├── IdempotencyConflict       409 idempotency_conflict
    │   ├── UploadAlreadyUsed         409 upload_already_used
    │   ├── InvalidCallback           422 invalid_callback_url
    │   ├── UploadNotFound            422 upload_not_found
    │   ├── InvalidText               400 invalid_text     (not UTF-8, control characters)
    │   ├── JobNotFound               404 job_not_found
    │   ├── InvalidBatchId            400 invalid_batch_id
    │   ├── BatchNotFound             404 batch_not_found
    │   ├── InvalidPresetName         400 invalid_preset_name
    │   ├── PresetNotFound            404 preset_not_found
    │   ├── UnknownPreset             422 unknown_preset   (a job names a preset there is not)
    │   ├── TooManyPresets            409 too_many_presets
    │   ├── RouteNotFound             404 not_found
    │   ├── MethodNotAllowed          405 method_not_allowed
    │   ├── RequestTimeout            408 request_timeout  (the body came too slowly)
    │   ├── UploadTooLarge            413 upload_too_large
    │   ├── TextTooLong               413 text_too_long
    │   ├── ImageTooLarge             413 image_too_large   (pixels, dimensions, frames)
    │   ├── UnsupportedImage          415 unsupported_image
    │   ├── UnsupportedMediaType      415 unsupported_media_type
    │   ├── InvalidOptions            422 invalid_options
    │   ├── CorruptImage              422 corrupt_image
    │   ├── WorkLimitExceeded         422 work_limit_exceeded (ran well past its price)
    │   └── SourceMissing             422 source_missing   (the uploaded image is gone)
    ├── ServiceUnavailable            503 service_unavailable  (Redis or S3 down; transient)
    ├── StorageError                  503 storage_error        (S3 refused for good: config)
    └── JobTimeout                    504 timeout              (the worker's soft limit)

Workers use the same classes: an ``InputError`` ends a job ``failed`` at once, a
``ServiceUnavailable`` is retried with backoff.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """Base of every error the service reports to a client."""

    code = "internal_error"
    status = 500
    default_message = "An internal error occurred."
    # False for the errors only a worker meets (a job ends failed with them).
    api_answer: ClassVar[bool] = True

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of the API's error body."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.details)
        return body


class InputError(ServiceError):
    """A request the client must change; retrying it as it is cannot succeed."""

    code = "invalid_request"
    status = 400
    default_message = "The request is invalid."


class MissingField(InputError):
    """No `image` or no `text`, or an empty image."""

    code = "missing_field"
    status = 400
    default_message = "A required field is missing."


class InvalidRequest(InputError):
    """Not well-formed multipart or JSON (UTF-8 only, at most 32 levels deep, no lone
    surrogates), an unknown or repeated field, a bad Idempotency-Key (1-255 printable ASCII
    characters).
    """

    code = "invalid_request"
    status = 400


class InvalidJobId(InputError):
    """A job id that is not 32 lowercase hex characters."""

    code = "invalid_job_id"
    status = 400
    default_message = "The job id is malformed."


class InvalidText(InputError):
    """Text that is not UTF-8 or holds control characters."""

    code = "invalid_text"
    status = 400
    default_message = "The text must be UTF-8 without control characters."


class Unauthorized(InputError):
    """`API_KEYS` is set and `X-Api-Key` is missing or wrong."""

    code = "unauthorized"
    status = 401
    default_message = "A valid X-Api-Key header is required."


class RateLimited(InputError):
    """A limit of the tenant is reached: requests a second, jobs or heavy jobs in flight,
    or work this hour; `Retry-After` says when to try again, `limit` which one it is.
    """

    code = "rate_limited"
    status = 429
    default_message = "A limit of this API key's tenant is reached; try again later."


class IdempotencyConflict(InputError):
    """An Idempotency-Key reused for another request."""

    code = "idempotency_conflict"
    status = 409
    default_message = "This Idempotency-Key was used with a different request."


class UploadAlreadyUsed(InputError):
    """An `upload_id` that already started a job."""

    code = "upload_already_used"
    status = 409
    default_message = "This upload_id already started a job."


class InvalidCallback(InputError):
    """A callback URL that breaks a webhook rule (the message names the rule, never an address)."""

    code = "invalid_callback_url"
    status = 422
    default_message = "The callback URL is not acceptable."


class UploadNotFound(InputError):
    """Nothing was uploaded under `upload_id`."""

    code = "upload_not_found"
    status = 422
    default_message = "Nothing was uploaded under this upload_id (or the upload expired)."


class JobNotFound(InputError):
    """No such job (or it expired after `JOB_TTL_SECONDS`)."""

    code = "job_not_found"
    status = 404
    default_message = "No job has this id (it may have expired)."


class InvalidBatchId(InputError):
    """A batch id that is not 32 lowercase hex characters."""

    code = "invalid_batch_id"
    status = 400
    default_message = "A batch id is 32 lowercase hex characters."


class BatchNotFound(InputError):
    """No such batch (or it expired after `JOB_TTL_SECONDS`)."""

    code = "batch_not_found"
    status = 404
    default_message = "No batch has this id (it may have expired)."


class InvalidPresetName(InputError):
    """A preset name other than 1-40 lowercase letters, digits and dashes."""

    code = "invalid_preset_name"
    status = 400
    default_message = (
        "A preset name is 1 to 40 lowercase letters, digits and dashes, starting with a "
        "letter or a digit."
    )


class PresetNotFound(InputError):
    """No preset of this name (`GET` or `DELETE /api/presets/{name}`)."""

    code = "preset_not_found"
    status = 404
    default_message = "No preset has this name."


class UnknownPreset(InputError):
    """A job or a batch names a preset the tenant does not have; nothing was stored."""

    code = "unknown_preset"
    status = 422
    default_message = "No preset has this name; make it with PUT /api/presets/{name} first."


class TooManyPresets(InputError):
    """A new preset past the tenant's `presets` limit (`GET /api/limits`)."""

    code = "too_many_presets"
    status = 409
    default_message = "The tenant has as many presets as its limit allows; delete one first."


class RouteNotFound(InputError):
    """No such route."""

    code = "not_found"
    status = 404
    default_message = "No such route; see /api/openapi.json."


class MethodNotAllowed(InputError):
    """A method the route does not have (the `Allow` header lists them)."""

    code = "method_not_allowed"
    status = 405
    default_message = "This method is not allowed here."


class RequestTimeout(InputError):
    """The local server got no whole request within 30 s."""

    code = "request_timeout"
    status = 408
    default_message = "The request was not received in time."


class UploadTooLarge(InputError):
    """Body over `MAX_UPLOAD_BYTES`, or an upload over `MAX_SOURCE_BYTES`."""

    code = "upload_too_large"
    status = 413
    default_message = "The upload is larger than the service accepts."

    @classmethod
    def body_over(cls, max_bytes: int) -> UploadTooLarge:
        """A request body over ``max_bytes``: says where large images go instead."""
        return cls(
            f"The request body is over {max_bytes} bytes. Send a large image straight to "
            "storage: POST /api/uploads for a presigned form, then POST /api/process with "
            "its upload_id (docs/API.md, Large images)."
        )


class TextTooLong(InputError):
    """Text over `MAX_TEXT_CHARS`."""

    code = "text_too_long"
    status = 413
    default_message = "The text is longer than the service accepts."


class ImageTooLarge(InputError):
    """The header declares more than the limits (``MAX_IMAGE_DIMENSION`` a side,
    ``MAX_IMAGE_PIXELS``, ``MAX_IMAGE_FRAMES``), or decoding needs more memory than
    ``MAX_DECODE_BYTES``, counted from the header as the pixels actually decoded (after
    JPEG shrink-on-load; every frame only when an output keeps the animation) times the
    bytes each takes; the message gives the figures, e.g. "Decoding needs about 977 MB
    (8000x8000 RGB); the budget is 768 MB." A file's compression ratio plays no part: a
    162 KB 12 MP AVIF is fine. A header read at submit that is over the first three is
    answered 413 there; the rest is found by the worker, and the job fails with it.
    """

    code = "image_too_large"
    status = 413
    default_message = "The image has too many pixels, frames or too large dimensions."


class UnsupportedImage(InputError):
    """The bytes are not JPEG, PNG, GIF, WebP, BMP, TIFF (BigTIFF too), HEIC/HEIF or
    AVIF (the file name and Content-Type are never trusted), or a valid variant this build
    cannot decode, named in the message: BMP with JPEG or PNG compression, 2-bit or OS/2
    2.x BMP, TIFF with WebP compression, 12-bit JPEG, HEIF coded with JPEG, JPEG 2000,
    AVC or uncompressed.
    """

    code = "unsupported_image"
    status = 415
    default_message = "The file is not an image in a supported format."


class UnsupportedMediaType(InputError):
    """A body that is not multipart/form-data or JSON."""

    code = "unsupported_media_type"
    status = 415
    default_message = "The request body must be multipart/form-data or application/json."


class InvalidOptions(InputError):
    """Bad `options`; the offending field is named in `field`."""

    code = "invalid_options"
    status = 422
    default_message = "The options are invalid."


class CorruptImage(InputError):
    """The data is truncated or damaged, in any format; never a half-decoded output."""

    code = "corrupt_image"
    status = 422
    default_message = "The image could not be decoded; it is truncated or corrupt."
    api_answer = False


class WorkLimitExceeded(InputError):
    """The job ran well past the work it was priced at submit (its work limit: the
    price times `WORK_LIMIT_FACTOR`, at least `WORK_LIMIT_FLOOR_SECONDS`, at most the
    soft time limit): an input whose real cost its header hid. What it used is charged."""

    code = "work_limit_exceeded"
    status = 422
    default_message = "Processing ran well past the work this job was priced at."


class SourceMissing(InputError):
    """The job's source image is no longer in storage."""

    code = "source_missing"
    status = 422
    default_message = "The job's source image is no longer in storage."
    api_answer = False


class ServiceUnavailable(ServiceError):
    """Redis or S3 is down: nothing was stored or queued (a job: the passing errors outlived
    the retries).
    """

    code = "service_unavailable"
    status = 503
    default_message = "A backing service is unavailable; try again shortly."


class StorageError(ServiceError):
    """S3 refused for good (access, a missing bucket): a deployment fault."""

    code = "storage_error"
    status = 503
    default_message = "The object store refused the request."


class JobTimeout(ServiceError):
    """The job ran past `TASK_SOFT_TIME_LIMIT`."""

    code = "timeout"
    status = 504
    default_message = "Processing took longer than the time limit."


#: The codes a job can end ``failed`` with (``error.code`` of the status), besides
#: ``internal_error``: each class's docstring says when.
JOB_FAILURES: tuple[type[ServiceError], ...] = (
    CorruptImage,
    ImageTooLarge,
    UnsupportedImage,
    InvalidOptions,
    UploadTooLarge,
    SourceMissing,
    StorageError,
    WorkLimitExceeded,
    JobTimeout,
    ServiceUnavailable,
)
