"""The OpenAPI 3.1 description of the API, served at ``GET /api/openapi.json``."""

from __future__ import annotations

import copy
import functools
from typing import Any

from chalicelib.api.intake import TEXT_PATTERN
from chalicelib.core.settings import Settings
from chalicelib.core.version import VERSION
from chalicelib.jobs.contract import JOB_ID_PATTERN
from chalicelib.media.formats import OUTPUT_NAMES, UPLOAD_MIMES
from chalicelib.media.options import OPTIONS_SCHEMA
from chalicelib.tenancy.idempotency import KEY_PATTERN
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
            "type": "object",
            "required": ["left", "top", "width", "height"],
            "additionalProperties": False,
            "properties": {
                "left": _PIXELS,
                "top": _PIXELS,
                "width": {"type": "integer", "minimum": 1},
                "height": {"type": "integer", "minimum": 1},
            },
            "description": "The region of the source this output shows, in pixels of the "
            "upright source (`image.width` x `image.height`): the window a cover rendition "
            "kept (where its gravity put it), the whole picture for contain, fill and the "
            "captioned image.",
        },
    },
}

RESULT = {
    "type": "object",
    "required": ["image", "text", "outputs", "timings_ms"],
    "properties": {
        "image": {
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
                "dominant_colors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"hex": {"type": "string"}, "share": {"type": "number"}},
                    },
                },
                "phash": {"type": ["string", "null"]},
                "exif": {"type": ["object", "null"]},
            },
        },
        "text": {
            "type": "object",
            "required": ["characters", "words", "lines"],
            "properties": {
                "characters": {"type": "integer"},
                "words": {"type": "integer"},
                "lines": {"type": "integer"},
                "sentences": {"type": "integer"},
                "language": {"type": ["object", "null"]},
                "keywords": {"type": "array", "items": {"type": "string"}},
                "sentiment": {"type": ["object", "null"]},
                "readability": {"type": ["object", "null"]},
            },
        },
        "outputs": {"type": "array", "items": _ref("Output")},
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
        "links_expire_in": {"type": "integer"},
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "examples": ["unsupported_image"]},
                    "message": {"type": "string"},
                    "field": {"type": "string", "description": "The offending field, if any."},
                },
            }
        },
    },
    "JobAccepted": {
        "type": "object",
        "required": ["job_id", "status", "status_url"],
        "additionalProperties": False,
        "properties": {
            "job_id": JOB_ID,
            "status": {"type": "string", "enum": ["pending", "processing", "completed", "failed"]},
            "status_url": {"type": "string"},
        },
    },
    "JobStatus": {
        "type": "object",
        "required": [
            "job_id",
            "status",
            "message",
            "progress",
            "created_at",
            "updated_at",
            "result",
            "error",
        ],
        "additionalProperties": False,
        "properties": {
            "job_id": JOB_ID,
            "status": {"type": "string", "enum": ["pending", "processing", "completed", "failed"]},
            "message": {"type": "string"},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "result": {"oneOf": [{"type": "null"}, _ref("Result")]},
            "error": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    },
                ]
            },
        },
    },
    "JobSummary": {
        "type": "object",
        "required": [
            "job_id",
            "status",
            "message",
            "progress",
            "created_at",
            "updated_at",
            "status_url",
        ],
        "additionalProperties": False,
        "properties": {
            "job_id": JOB_ID,
            "status": {"type": "string", "enum": ["pending", "processing", "completed", "failed"]},
            "message": {"type": "string"},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
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
    "Output": OUTPUT,
    "Options": OPTIONS_SCHEMA,
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
            "callback_url": _ref("CallbackUrl"),
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
                },
            },
            "usage": {
                "type": "object",
                "properties": {
                    "jobs_in_flight": {"type": "integer"},
                    "heavy_jobs_in_flight": {"type": "integer"},
                    "work_seconds_this_hour": {"type": "number"},
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
        },
    },
}

API_KEY_HEADER = {"$ref": "#/components/parameters/ApiKey"}
JOB_ID_PARAMETER = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": JOB_ID,
    "description": "The job id: 32 lowercase hex characters.",
}


def _with_limits(settings: Settings) -> dict[str, Any]:
    """The schemas with the limits that are settings (text length, upload size) filled in."""
    schemas = copy.deepcopy(SCHEMAS)
    schemas["Text"]["maxLength"] = settings.max_text_chars
    schemas["UploadRequest"]["properties"]["size"]["maximum"] = settings.max_source_bytes
    return schemas


@functools.cache
def openapi_document(settings: Settings) -> dict[str, Any]:
    """The whole document for these settings (built once per process)."""
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
        "components": {
            "schemas": _with_limits(settings),
            "parameters": {
                "ApiKey": {
                    "name": "X-Api-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "The tenant's API key; needed everywhere but on a local "
                    "stage without API_KEYS.",
                }
            },
        },
        "paths": {
            "/api/process": {
                "post": {
                    "summary": "Submit an image and a text",
                    "parameters": [
                        API_KEY_HEADER,
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
                    "parameters": [API_KEY_HEADER],
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
                    "parameters": [JOB_ID_PARAMETER, API_KEY_HEADER],
                    "responses": {
                        "200": _json(_ref("JobStatus"), "The job."),
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
                        API_KEY_HEADER,
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "string",
                                "enum": ["pending", "processing", "completed", "failed"],
                            },
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
                            "schema": {"type": "string", "pattern": "^[0-9.e+-]+_[0-9a-f]{32}$"},
                            "description": "The `next_cursor` of the previous page.",
                        },
                    ],
                    "responses": {
                        "200": _json(
                            _ref("JobList"), "A page of jobs (no results: see each `status_url`)."
                        ),
                        "400": _error("A bad status, limit or cursor, or an unknown parameter."),
                        "401": unauthorized,
                        "429": rate_limited,
                        "503": unavailable,
                    },
                }
            },
            "/api/jobs/{job_id}": {
                "delete": {
                    "summary": "Delete a job, its source and its outputs",
                    "parameters": [JOB_ID_PARAMETER, API_KEY_HEADER],
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
            "/api/limits": {
                "get": {
                    "summary": "The caller's limits and what it uses of them now",
                    "parameters": [API_KEY_HEADER],
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
                        "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}},
                    },
                }
            },
        },
    }
