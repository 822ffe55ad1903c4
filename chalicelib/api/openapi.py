"""The OpenAPI 3.1 description of the API, served at ``GET /api/openapi.json``."""

from __future__ import annotations

import copy
import functools
from typing import Any

from chalicelib.api.batches import PAGE_MAX
from chalicelib.api.intake import MAX_BATCH_FILES, MAX_BATCH_ITEMS, TEXT_PATTERN
from chalicelib.core.errors import ServiceError
from chalicelib.core.settings import Settings
from chalicelib.core.version import VERSION
from chalicelib.jobs.batches import BATCH_STATUSES, COUNTED
from chalicelib.jobs.contract import JOB_ID_PATTERN
from chalicelib.jobs.store import CURSOR_PATTERN
from chalicelib.media.formats import OUTPUT_NAMES, UPLOAD_MIMES
from chalicelib.media.options import OPTIONS_SCHEMA
from chalicelib.tenancy.idempotency import KEY_PATTERN
from chalicelib.tenancy.limits import TenantLimits
from chalicelib.tenancy.presets import MAX_NAME_LENGTH, PRESET_NAME_PATTERN
from chalicelib.webhooks.callbacks import MAX_URL_LENGTH

JOB_ID = {
    "type": "string",
    "pattern": JOB_ID_PATTERN,
    "examples": ["5f0c3f5e2b7a4c0e9f1d2a3b4c5d6e7f"],
}
TIMESTAMP = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_PIXELS = {"type": "integer", "minimum": 0}
CROP = {
    "type": "object",
    "required": ["left", "top", "width", "height"],
    "additionalProperties": False,
    "properties": {
        "left": _PIXELS,
        "top": _PIXELS,
        "width": {"type": "integer", "minimum": 1},
        "height": {"type": "integer", "minimum": 1},
    },
}
OUTPUT = {
    "type": "object",
    "required": ["name", "url", "width", "height", "format", "bytes", "crop"],
    "properties": {
        "name": {"type": "string"},
        "url": {"type": "string", "description": "A presigned GET URL; it expires."},
        "width": {"type": "integer", "minimum": 1},
        "height": {"type": "integer", "minimum": 1},
        "format": {"type": "string", "enum": list(OUTPUT_NAMES)},
        "bytes": {"type": "integer", "minimum": 0},
        "crop": {
            **_ref("Crop"),
            "description": "The region of the source this output shows, in pixels of the "
            "upright source (`image.width` x `image.height`): the window a cover rendition "
            "kept (where its gravity put it), the whole picture for contain, fill and the "
            "captioned image.",
        },
    },
}

NULLABLE_STRING = {"type": ["string", "null"]}
EXIF = {
    "type": "object",
    "description": "What the source's EXIF said; outputs carry none of it.",
    "required": ["make", "model", "taken_at", "orientation", "had_gps"],
    "properties": {
        "make": NULLABLE_STRING,
        "model": NULLABLE_STRING,
        "taken_at": {**NULLABLE_STRING, "description": "When the photo was taken, as stated."},
        "orientation": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": 8,
            "description": "The EXIF orientation (1 upright; 6 turned right); outputs are "
            "upright whatever it is.",
        },
        "had_gps": {"type": "boolean", "description": "The source had a location; removed."},
    },
}
DOMINANT_COLOR = {
    "type": "object",
    "required": ["hex", "share"],
    "properties": {"hex": {"type": "string"}, "share": {"type": "number"}},
}
IMAGE_FACTS = {
    "type": "object",
    "required": ["width", "height", "format", "mode"],
    "properties": {
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "format": {"type": "string"},
        "mode": {"type": "string"},
        "has_alpha": {"type": "boolean"},
        "animated": {"type": "boolean"},
        "frames": {"type": "integer"},
        "dominant_colors": {"type": "array", "items": _ref("DominantColor")},
        "phash": NULLABLE_STRING,
        "exif": {"oneOf": [{"type": "null"}, _ref("Exif")]},
    },
}
LANGUAGE = {
    "type": "object",
    "required": ["code", "confidence"],
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z]{2}$", "description": "ISO 639-1."},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
SENTIMENT = {
    "type": "object",
    "description": "English texts only (VADER).",
    "required": ["score", "label"],
    "properties": {
        "score": {"type": "number", "minimum": -1, "maximum": 1},
        "label": {"type": "string", "enum": ["positive", "neutral", "negative"]},
    },
}
READABILITY = {
    "type": "object",
    "required": ["flesch_reading_ease", "grade_level"],
    "properties": {
        "flesch_reading_ease": {"type": "number"},
        "grade_level": {"type": ["number", "null"], "description": "English only."},
    },
}
TEXT_ANALYSIS = {
    "type": "object",
    "required": ["characters", "words", "lines"],
    "properties": {
        "characters": {"type": "integer"},
        "words": {"type": "integer"},
        "lines": {"type": "integer"},
        "sentences": {"type": "integer"},
        "language": {
            "oneOf": [{"type": "null"}, _ref("Language")],
            "description": "null when the text has no letters or too little evidence for "
            "a language (see docs/API.md).",
        },
        "keywords": {"type": "array", "items": {"type": "string"}},
        "sentiment": {"oneOf": [{"type": "null"}, _ref("Sentiment")]},
        "readability": {"oneOf": [{"type": "null"}, _ref("Readability")]},
    },
}
RESULT = {
    "type": "object",
    "required": ["image", "text", "outputs", "timings_ms"],
    "properties": {
        "image": _ref("ImageFacts"),
        "text": _ref("TextAnalysis"),
        "outputs": {"type": "array", "items": _ref("Output")},
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
        "links_expire_in": {"type": "integer"},
    },
}


def _error_codes() -> list[str]:
    """Every code an error answer or a failed job can carry (``chalicelib.core.errors``)."""
    codes, todo = set(), [ServiceError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    return sorted(codes)


STATUS = {"type": "string", "enum": ["pending", "processing", "completed", "failed"]}
# What a status answer and a listing's item both begin with.
JOB_STATE = {
    "job_id": JOB_ID,
    "status": _ref("JobStatus"),
    "message": {"type": "string"},
    "progress": {"type": "integer", "minimum": 0, "maximum": 100},
    "created_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "preset": {
        "type": ["string", "null"],
        "description": "The preset the job's options came from, if it named one.",
    },
    "batch_id": {
        "oneOf": [{"type": "null"}, JOB_ID],
        "description": "The batch the job belongs to, if any.",
    },
}
PRESET_NAME = {
    "type": "string",
    "pattern": PRESET_NAME_PATTERN,
    "maxLength": MAX_NAME_LENGTH,
    "examples": ["web"],
}


def _named_options() -> dict[str, Any]:
    """The options schema (``chalicelib.media.options``) with its rendition and caption
    as named schemas, so generators name their classes after them."""
    options = copy.deepcopy(OPTIONS_SCHEMA)
    properties = options["properties"]
    rendition = properties["renditions"]["items"]
    # The rules across fields stay with the API (422 invalid_options): generators turn
    # top-level combinators into untyped values, so the document states them in words.
    for combinator in ("anyOf", "allOf", "oneOf"):
        rendition.pop(combinator, None)
    rendition["description"] = (
        "One rendition. Besides each field's rules: width and/or height is given; a "
        "gravity other than center needs fit cover with both width and height; focus "
        "goes with gravity focus only. The API answers 422 invalid_options otherwise."
    )
    properties["renditions"]["items"] = _ref("Rendition")
    caption = properties["caption"]
    properties["caption"] = _ref("Caption")
    return {"Options": options, "Rendition": rendition, "Caption": caption}


SCHEMAS: dict[str, Any] = {
    "ErrorCode": {
        "type": "string",
        "enum": _error_codes(),
        "description": "Stable: docs/API.md#errors says what each means.",
    },
    "ErrorDetail": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": _ref("ErrorCode"),
            "message": {"type": "string", "description": "For a person; may change."},
            "field": {"type": "string", "description": "The offending field, if any."},
            "limit": {
                "type": "string",
                "enum": list(TenantLimits.field_names()),
                "description": "With `rate_limited`: the limit that is reached.",
            },
            "retry_after": {
                "type": "integer",
                "minimum": 1,
                "description": "With `rate_limited`: seconds to wait (also `Retry-After`).",
            },
            "item": {
                "type": "integer",
                "minimum": 0,
                "description": "With a batch's error: the index of the item to blame.",
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {"error": _ref("ErrorDetail")},
    },
    "JobError": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": _ref("ErrorCode"), "message": {"type": "string"}},
    },
    "JobAccepted": {
        "type": "object",
        "required": ["job_id", "status", "status_url"],
        "additionalProperties": False,
        "properties": {
            "job_id": JOB_ID,
            "status": _ref("JobStatus"),
            "status_url": {"type": "string"},
        },
    },
    "JobStatus": STATUS,
    "Job": {
        "type": "object",
        "required": [*JOB_STATE, "result", "error"],
        "additionalProperties": False,
        "properties": {
            **JOB_STATE,
            "result": {"oneOf": [{"type": "null"}, _ref("Result")]},
            "error": {"oneOf": [{"type": "null"}, _ref("JobError")]},
        },
    },
    "JobSummary": {
        "type": "object",
        "required": [*JOB_STATE, "status_url"],
        "additionalProperties": False,
        "properties": {
            **JOB_STATE,
            "status_url": {"type": "string"},
        },
    },
    "JobList": {
        "type": "object",
        "required": ["jobs", "next_cursor"],
        "additionalProperties": False,
        "properties": {
            "jobs": {"type": "array", "items": _ref("JobSummary")},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last.",
            },
        },
    },
    "Result": RESULT,
    "ImageFacts": IMAGE_FACTS,
    "DominantColor": DOMINANT_COLOR,
    "Exif": EXIF,
    "TextAnalysis": TEXT_ANALYSIS,
    "Language": LANGUAGE,
    "Sentiment": SENTIMENT,
    "Readability": READABILITY,
    "Output": OUTPUT,
    "Crop": CROP,
    **_named_options(),
    "UploadRequest": {
        "type": "object",
        "required": ["filename", "content_type", "size"],
        "additionalProperties": False,
        "properties": {
            "filename": {"type": "string", "minLength": 1, "maxLength": 255},
            "content_type": {"type": "string", "enum": list(UPLOAD_MIMES)},
            # "maximum" is set from MAX_SOURCE_BYTES when the document is built.
            "size": {"type": "integer", "minimum": 1},
        },
    },
    "Upload": {
        "type": "object",
        "required": ["upload_id", "url", "fields", "expires_in"],
        "properties": {
            "upload_id": JOB_ID,
            "url": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            "expires_in": {"type": "integer"},
            "max_bytes": {"type": "integer"},
        },
    },
    "ProcessUpload": {
        "type": "object",
        "required": ["upload_id", "text"],
        "additionalProperties": False,
        "properties": {
            "upload_id": JOB_ID,
            "text": _ref("Text"),
            "options": _ref("Options"),
            "preset": _ref("PresetName"),
            "callback_url": _ref("CallbackUrl"),
        },
    },
    "PresetName": {
        **PRESET_NAME,
        "description": "A preset of the caller's (`PUT /api/presets/{name}`): its options, "
        "with the request's own `options` laid over its top-level keys. Unknown: 422 "
        "`unknown_preset`, before anything is stored.",
    },
    "PresetRequest": {
        "description": '`{"options": {...}}` (what `GET` gives back may be sent again: its '
        "`name` and `updated_at` are ignored, the path names the preset), or the options "
        "document itself.",
        "anyOf": [
            {
                "type": "object",
                "required": ["options"],
                "additionalProperties": False,
                "properties": {
                    "options": _ref("Options"),
                    "name": PRESET_NAME,
                    "updated_at": {"type": "string"},
                },
            },
            _ref("Options"),
        ],
    },
    "Preset": {
        "type": "object",
        "required": ["name", "options", "updated_at"],
        "additionalProperties": False,
        "properties": {
            "name": PRESET_NAME,
            "options": {"type": "object", "description": "As given (checked as a job's)."},
            "updated_at": TIMESTAMP,
        },
    },
    "PresetList": {
        "type": "object",
        "required": ["presets"],
        "additionalProperties": False,
        "properties": {"presets": {"type": "array", "items": _ref("Preset")}},
    },
    "BatchItem": {
        "type": "object",
        "required": ["upload_id"],
        "additionalProperties": False,
        "properties": {"upload_id": JOB_ID, "text": _ref("Text")},
    },
    "BatchRequest": {
        "type": "object",
        "required": ["items"],
        "additionalProperties": False,
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH_ITEMS,
                "items": _ref("BatchItem"),
            },
            "options": _ref("Options"),
            "preset": _ref("PresetName"),
            "callback_url": _ref("CallbackUrl"),
        },
    },
    "BatchAccepted": {
        "type": "object",
        "required": ["batch_id", "status", "status_url", "jobs"],
        "additionalProperties": False,
        "properties": {
            "batch_id": JOB_ID,
            "status": _ref("BatchStatus"),
            "status_url": {"type": "string"},
            "jobs": {"type": "array", "items": JOB_ID, "description": "Each at /api/status/{id}."},
        },
    },
    "BatchStatus": {
        "type": "string",
        "enum": list(BATCH_STATUSES),
        "description": "`partial`: every job ended, some failed.",
    },
    "BatchJob": {
        "type": "object",
        "required": ["job_id", "status", "error", "status_url"],
        "additionalProperties": False,
        "properties": {
            "job_id": JOB_ID,
            "status": {
                "type": "string",
                "enum": list(COUNTED),
                "description": "`deleted`: the job was deleted on its own.",
            },
            "error": {"oneOf": [{"type": "null"}, _ref("JobError")]},
            "status_url": {"type": "string"},
        },
    },
    "Batch": {
        "type": "object",
        "required": [
            "batch_id",
            "status",
            "total",
            "counts",
            "preset",
            "created_at",
            "status_url",
            "jobs",
            "next_cursor",
        ],
        "additionalProperties": False,
        "properties": {
            "batch_id": JOB_ID,
            "status": _ref("BatchStatus"),
            "total": {"type": "integer", "minimum": 1},
            "counts": {
                "type": "object",
                "required": list(COUNTED),
                "additionalProperties": False,
                "properties": {name: {"type": "integer", "minimum": 0} for name in COUNTED},
            },
            "preset": {"type": ["string", "null"]},
            "created_at": TIMESTAMP,
            "status_url": {"type": "string"},
            "jobs": {"type": "array", "items": _ref("BatchJob")},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last.",
            },
        },
    },
    # "maxLength" is set from MAX_TEXT_CHARS when the document is built.
    "Text": {
        "type": "string",
        "pattern": TEXT_PATTERN,
        "description": "UTF-8 without control characters (tab and line ends are fine); "
        "drawn as the caption when not blank.",
    },
    "CallbackUrl": {
        "type": "string",
        "maxLength": MAX_URL_LENGTH,
        # Plain printable ASCII, no space or backslash: what the SSRF rules accept.
        "pattern": "^https?://[!-\\[\\]-~]+$",
        "description": "A public http(s) URL that receives the final status, signed "
        "(Webhook-Signature). Loopback, private and link-local hosts, credentials, "
        "fragments and ports other than the configured ones (80, 443) are refused.",
    },
    "Limits": {
        "type": "object",
        "required": ["tenant", "limits", "usage", "max_job_work_seconds"],
        "properties": {
            "tenant": {"type": "string"},
            "name": {"type": "string"},
            "limits": {
                "type": "object",
                "properties": {
                    "requests_per_second": {"type": "number"},
                    "burst": {"type": "integer"},
                    "jobs_in_flight": {"type": "integer"},
                    "heavy_jobs_in_flight": {"type": "integer"},
                    "work_seconds_per_hour": {"type": "integer"},
                    "presets": {"type": "integer"},
                },
            },
            "usage": {
                "type": "object",
                "properties": {
                    "jobs_in_flight": {"type": "integer"},
                    "heavy_jobs_in_flight": {"type": "integer"},
                    "work_seconds_this_hour": {"type": "number"},
                    "presets": {"type": "integer"},
                },
            },
            "max_job_work_seconds": {"type": "number"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "version", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "version": {"type": "string", "description": "The service's version."},
            "checks": {
                "type": "object",
                "properties": {"redis": {"type": "string"}, "s3": {"type": "string"}},
            },
            "workers": {
                "type": "object",
                "description": "What the workers reported in the last day (absent when "
                "Redis does not answer).",
                "properties": {
                    "imaging_engines": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Each imaging engine, as `name version (simd)`: "
                        "`pillow-simd 12.1.1.post0 (avx2)`, `pillow 13.0.0`.",
                    }
                },
            },
        },
    },
}

# Each operation's id (a generated client's function name) and tag (its module).
OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("/api/process", "post"): ("submit_job", "jobs"),
    ("/api/uploads", "post"): ("create_upload", "uploads"),
    ("/api/status/{job_id}", "get"): ("get_job", "jobs"),
    ("/api/jobs", "get"): ("list_jobs", "jobs"),
    ("/api/jobs/{job_id}", "delete"): ("delete_job", "jobs"),
    ("/api/batches", "post"): ("submit_batch", "batches"),
    ("/api/batches/{batch_id}", "get"): ("get_batch", "batches"),
    ("/api/batches/{batch_id}", "delete"): ("delete_batch", "batches"),
    ("/api/presets", "get"): ("list_presets", "presets"),
    ("/api/presets/{name}", "put"): ("put_preset", "presets"),
    ("/api/presets/{name}", "get"): ("get_preset", "presets"),
    ("/api/presets/{name}", "delete"): ("delete_preset", "presets"),
    ("/api/limits", "get"): ("get_limits", "tenant"),
    ("/api/health", "get"): ("get_health", "service"),
    ("/api/openapi.json", "get"): ("get_openapi", "service"),
}
TAGS = [
    {"name": "jobs", "description": "Submit, follow, list and delete jobs."},
    {"name": "batches", "description": "Many images as one batch: one status, one webhook."},
    {"name": "presets", "description": "Named options documents, used by name."},
    {"name": "uploads", "description": "Presigned S3 POSTs for images too large to send."},
    {"name": "tenant", "description": "The caller's tenant: its limits and usage."},
    {"name": "service", "description": "Health and this description (no key needed)."},
]
OPEN_OPERATIONS = {("/api/health", "get"), ("/api/openapi.json", "get")}
JOB_ID_PARAMETER = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": JOB_ID,
    "description": "The job id: 32 lowercase hex characters.",
}
BATCH_ID_PARAMETER = {
    "name": "batch_id",
    "in": "path",
    "required": True,
    "schema": JOB_ID,
    "description": "The batch id: 32 lowercase hex characters.",
}
PRESET_NAME_PARAMETER = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": PRESET_NAME,
    "description": "The preset's name: lowercase letters, digits and dashes.",
}


def _with_limits(settings: Settings) -> dict[str, Any]:
    """The schemas with the limits that are settings (text length, upload size) filled in."""
    schemas = copy.deepcopy(SCHEMAS)
    schemas["Text"]["maxLength"] = settings.max_text_chars
    schemas["UploadRequest"]["properties"]["size"]["maximum"] = settings.max_source_bytes
    return schemas


def _finish(paths: dict[str, Any]) -> dict[str, Any]:
    """Give every operation its id, its tag and, where no key is needed, no security."""
    for path, methods in paths.items():
        for method, operation in methods.items():
            operation["operationId"], tag = OPERATIONS[(path, method)]
            operation["tags"] = [tag]
            if (path, method) in OPEN_OPERATIONS:
                operation["security"] = []
    return paths


# A few documents per process: the Host header chooses the server, and any client sends one.
@functools.lru_cache(maxsize=8)
def openapi_document(settings: Settings, server_url: str = "") -> dict[str, Any]:
    """The whole document for these settings (built once per process and server).

    ``server_url`` is where the API answers (the request's own origin and stage); empty:
    the document's own origin (``/``)."""
    unavailable = _error("Redis or S3 is unavailable (`service_unavailable`).")
    unauthorized = _error("X-Api-Key is missing (where a key is needed) or wrong.")
    rate_limited = {
        **_error("A limit of the key's tenant is reached (`rate_limited`; `limit` names it)."),
        "headers": {
            "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds."}
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "media-jobs",
            "version": VERSION,
            "description": "Submit an image and a text; a worker processes them together. "
            "Follow the job at its status URL. Every error is "
            '`{"error": {"code", "message"}}`.',
        },
        "servers": [{"url": server_url or "/", "description": "This API"}],
        "tags": TAGS,
        # A key, or none where the stage admits anonymous requests (`make dev`).
        "security": [{"ApiKey": []}, {}],
        "components": {
            "schemas": _with_limits(settings),
            "securitySchemes": {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Api-Key",
                    "description": "The tenant's API key (`mj_<id>_<secret>`, from "
                    "`scripts.ops tenants create`); needed everywhere but on a local stage "
                    "without API_KEYS.",
                }
            },
        },
        "paths": _finish(
            {
                "/api/process": {
                    "post": {
                        "summary": "Submit an image and a text",
                        "parameters": [
                            {
                                "name": "Idempotency-Key",
                                "in": "header",
                                "required": False,
                                "schema": {"type": "string", "pattern": f"^{KEY_PATTERN.pattern}$"},
                                "description": "A repeat within 24 h gives the same job.",
                            },
                        ],
                        "requestBody": {
                            "required": True,
                            "content": {
                                "multipart/form-data": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["image", "text"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "image": {
                                                "type": "string",
                                                "format": "binary",
                                                "minLength": 1,
                                            },
                                            "text": _ref("Text"),
                                            "options": _ref("Options"),
                                            "preset": _ref("PresetName"),
                                            "callback_url": _ref("CallbackUrl"),
                                        },
                                    },
                                    # The options part is JSON text (a plain form field).
                                    "encoding": {"options": {"contentType": "application/json"}},
                                },
                                "application/json": {"schema": _ref("ProcessUpload")},
                            },
                        },
                        "responses": {
                            "202": {
                                **_json(_ref("JobAccepted"), "Accepted; follow status_url."),
                                "headers": {"Location": {"schema": {"type": "string"}}},
                            },
                            "400": _error("A missing or malformed field."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "409": _error(
                                "Idempotency-Key reused for another request, "
                                "or the upload already started a job."
                            ),
                            "413": _error("Body, image or text too large."),
                            "415": _error("Not a supported image, or not multipart/JSON."),
                            "422": _error("Invalid options, callback URL, or unknown upload."),
                            "503": unavailable,
                        },
                    }
                },
                "/api/uploads": {
                    "post": {
                        "summary": "Get a presigned S3 POST for a large image",
                        "requestBody": {
                            "required": True,
                            "content": {"application/json": {"schema": _ref("UploadRequest")}},
                        },
                        "responses": {
                            "201": _json(_ref("Upload"), "POST the file to url with fields."),
                            "400": _error("A missing or malformed field."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "413": _error("size over MAX_SOURCE_BYTES."),
                            "415": _error("content_type is not a supported image type."),
                            "503": unavailable,
                        },
                    }
                },
                "/api/status/{job_id}": {
                    "get": {
                        "summary": "A job's status and result",
                        "parameters": [JOB_ID_PARAMETER],
                        "responses": {
                            "200": _json(_ref("Job"), "The job."),
                            "400": _error("Malformed job id."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "404": _error("Unknown or expired job."),
                            "503": unavailable,
                        },
                    }
                },
                "/api/jobs": {
                    "get": {
                        "summary": "The caller's jobs, newest first, a page at a time",
                        "parameters": [
                            {
                                "name": "status",
                                "in": "query",
                                "required": False,
                                "schema": _ref("JobStatus"),
                                "description": "Only the jobs in this status.",
                            },
                            {
                                "name": "limit",
                                "in": "query",
                                "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                                "description": "Jobs on the page (default 20).",
                            },
                            {
                                "name": "cursor",
                                "in": "query",
                                "required": False,
                                "schema": {
                                    "type": "string",
                                    "pattern": f"^{CURSOR_PATTERN.pattern}$",
                                },
                                "description": "The `next_cursor` of the previous page.",
                            },
                        ],
                        "responses": {
                            "200": _json(
                                _ref("JobList"),
                                "A page of jobs (no results: see each `status_url`).",
                            ),
                            "400": _error(
                                "A bad status, limit or cursor, or an unknown parameter."
                            ),
                            "401": unauthorized,
                            "429": rate_limited,
                            "503": unavailable,
                        },
                    }
                },
                "/api/jobs/{job_id}": {
                    "delete": {
                        "summary": "Delete a job, its source and its outputs",
                        "parameters": [JOB_ID_PARAMETER],
                        "responses": {
                            "204": {"description": "Deleted; old output links stop working."},
                            "400": _error("Malformed job id."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "404": _error("Unknown or expired job."),
                            "503": unavailable,
                        },
                    }
                },
                "/api/batches": {
                    "post": {
                        "summary": "Submit many images as one batch",
                        "description": f"Multipart: up to {MAX_BATCH_FILES} `image` parts and "
                        f"one shared `text`; or JSON naming up to {MAX_BATCH_ITEMS} uploads. "
                        "Every item is checked and priced first: one bad item refuses the "
                        "batch (its index in `item`), and a batch over the tenant's work per "
                        "hour is refused whole (429). Jobs beyond the tenant's free slots "
                        "wait in the batch and are queued as slots free. One webhook, when "
                        "every job has ended.",
                        "parameters": [
                            {
                                "name": "Idempotency-Key",
                                "in": "header",
                                "required": False,
                                "schema": {"type": "string", "pattern": f"^{KEY_PATTERN.pattern}$"},
                                "description": "A repeat within 24 h gives the same batch.",
                            },
                        ],
                        "requestBody": {
                            "required": True,
                            "content": {
                                "multipart/form-data": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["image"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "image": {
                                                "type": "array",
                                                "minItems": 1,
                                                "maxItems": MAX_BATCH_FILES,
                                                "items": {
                                                    "type": "string",
                                                    "format": "binary",
                                                    "minLength": 1,
                                                },
                                            },
                                            "text": _ref("Text"),
                                            "options": _ref("Options"),
                                            "preset": _ref("PresetName"),
                                            "callback_url": _ref("CallbackUrl"),
                                        },
                                    },
                                    "encoding": {"options": {"contentType": "application/json"}},
                                },
                                "application/json": {"schema": _ref("BatchRequest")},
                            },
                        },
                        "responses": {
                            "202": {
                                **_json(_ref("BatchAccepted"), "Accepted; follow status_url."),
                                "headers": {"Location": {"schema": {"type": "string"}}},
                            },
                            "400": _error("A missing or malformed field or item."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "409": _error(
                                "Idempotency-Key reused for another request, "
                                "or an upload already started a job."
                            ),
                            "413": _error("Body, an image or the text too large."),
                            "415": _error(
                                "An item is not a supported image, or not multipart/JSON."
                            ),
                            "422": _error(
                                "Invalid options, callback URL, unknown upload or preset."
                            ),
                            "503": unavailable,
                        },
                    }
                },
                "/api/batches/{batch_id}": {
                    "get": {
                        "summary": "A batch: its status, counts and a page of its jobs",
                        "parameters": [
                            BATCH_ID_PARAMETER,
                            {
                                "name": "limit",
                                "in": "query",
                                "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX},
                                "description": f"Jobs on the page (default {PAGE_MAX}).",
                            },
                            {
                                "name": "cursor",
                                "in": "query",
                                "required": False,
                                "schema": {"type": "string", "pattern": "^[0-9]{1,4}$"},
                                "description": "The `next_cursor` of the previous page.",
                            },
                        ],
                        "responses": {
                            "200": _json(_ref("Batch"), "The batch."),
                            "400": _error("Malformed batch id, limit or cursor."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "404": _error("Unknown or expired batch."),
                            "503": unavailable,
                        },
                    },
                    "delete": {
                        "summary": "Delete a batch and every job of it",
                        "parameters": [BATCH_ID_PARAMETER],
                        "responses": {
                            "204": {"description": "Deleted; its jobs answer 404."},
                            "400": _error("Malformed batch id."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "404": _error("Unknown or expired batch."),
                            "503": unavailable,
                        },
                    },
                },
                "/api/presets": {
                    "get": {
                        "summary": "The caller's presets, by name",
                        "responses": {
                            "200": _json(_ref("PresetList"), "Every preset."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "503": unavailable,
                        },
                    }
                },
                "/api/presets/{name}": {
                    "put": {
                        "summary": "Create or replace a preset",
                        "parameters": [PRESET_NAME_PARAMETER],
                        "requestBody": {
                            "required": True,
                            "content": {"application/json": {"schema": _ref("PresetRequest")}},
                        },
                        "responses": {
                            "200": _json(_ref("Preset"), "Stored."),
                            "400": _error("A bad name or body."),
                            "401": unauthorized,
                            "409": _error("A new preset past the tenant's `presets` limit."),
                            "415": _error("Not JSON."),
                            "422": _error("Options a job would be refused."),
                            "429": rate_limited,
                            "503": unavailable,
                        },
                    },
                    "get": {
                        "summary": "One preset",
                        "parameters": [PRESET_NAME_PARAMETER],
                        "responses": {
                            "200": _json(_ref("Preset"), "The preset."),
                            "400": _error("A bad name."),
                            "401": unauthorized,
                            "404": _error("No preset of this name."),
                            "429": rate_limited,
                            "503": unavailable,
                        },
                    },
                    "delete": {
                        "summary": "Delete a preset (jobs made with it keep their options)",
                        "parameters": [PRESET_NAME_PARAMETER],
                        "responses": {
                            "204": {"description": "Deleted."},
                            "400": _error("A bad name."),
                            "401": unauthorized,
                            "404": _error("No preset of this name."),
                            "429": rate_limited,
                            "503": unavailable,
                        },
                    },
                },
                "/api/limits": {
                    "get": {
                        "summary": "The caller's limits and what it uses of them now",
                        "responses": {
                            "200": _json(_ref("Limits"), "The tenant's limits and usage."),
                            "401": unauthorized,
                            "429": rate_limited,
                            "503": unavailable,
                        },
                    }
                },
                "/api/health": {
                    "get": {
                        "summary": "Whether Redis and S3 answer",
                        "responses": {
                            "200": _json(_ref("Health"), "All checks ok."),
                            "503": _json(_ref("Health"), "A check failed; it is named."),
                        },
                    }
                },
                "/api/openapi.json": {
                    "get": {
                        "summary": "This document (no key needed)",
                        "responses": {
                            "200": {
                                "description": "OpenAPI 3.1",
                                "content": {"application/json": {}},
                            },
                        },
                    }
                },
            }
        ),
    }
