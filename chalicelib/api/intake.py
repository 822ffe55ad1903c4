"""Multipart parsing and cheap validation of uploads: sizes, text, image type from bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from chalicelib.core.errors import (
    InputError,
    InvalidOptions,
    InvalidRequest,
    InvalidText,
    MissingField,
    TextTooLong,
    UnsupportedImage,
    UploadTooLarge,
)
from chalicelib.core.parsing import whole_number
from chalicelib.media.formats import INPUT_NAMES, sniff

# C0 controls, DEL and the C1 controls (a terminal reads U+009B as an escape, U+0085
# as a line end), except tab, line feed and carriage return.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: The same rule as a JSON Schema pattern (OpenAPI): text without those characters.
TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"

MAX_PARTS = 16
MAX_FIELD_BYTES = 1024 * 1024

# A field over MAX_FIELD_BYTES is refused with the error its own limit would give.
_OVERSIZE_ERRORS: dict[str, type[InputError]] = {
    "text": TextTooLong,
    "options": InvalidOptions,
}


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a multipart body (its client-given name is kept only as a hint)."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class FormData:
    """The parts of a multipart body: text fields and files, each name at most once."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    # The file parts of a name that may repeat (a batch's images), in order.
    file_lists: dict[str, list[UploadedFile]] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """A text value sent as a plain field or as a file part (``curl -F text=@a.txt``)."""
        if name in self.fields:
            return decode_text_field(self.fields[name], name)
        if name in self.files:
            return decode_text_field(self.files[name].data.decode("latin-1"), name)
        return None


def parse_multipart(
    body: bytes,
    content_type: str,
    max_bytes: int,
    max_parts: int = MAX_PARTS,
    repeated: tuple[str, ...] = (),
) -> FormData:
    """Parse a ``multipart/form-data`` body held in memory.

    Raises ``UploadTooLarge`` over ``max_bytes``, ``InvalidRequest`` for a body
    that is not well-formed multipart, has more than ``max_parts`` parts, or names a
    field twice (but for the file parts named in ``repeated``, kept in ``file_lists``).
    """
    if len(body) > max_bytes:
        raise UploadTooLarge(f"The request body is over {max_bytes} bytes.")
    try:
        mime, params = parse_options_header(content_type or "")
    except ValueError:
        # A header value outside latin-1 (UnicodeEncodeError is a ValueError).
        raise InvalidRequest("The Content-Type header is malformed.") from None
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise InvalidRequest("The body must be multipart/form-data with a boundary.")

    collector = _PartCollector(max_parts, repeated)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        parser.write(body)
        parser.finalize()
    except FormParserError:
        raise InvalidRequest("The multipart body is malformed.") from None
    if collector.error:
        details = {"field": collector.error_field} if collector.error_field else {}
        raise collector.error_class(collector.error, **details)
    if not collector.complete:
        raise InvalidRequest("The multipart body is malformed: it has no closing boundary.")
    return collector.form


class _PartCollector:
    """Callbacks for ``MultipartParser`` that gather parts into a ``FormData``."""

    def __init__(self, max_parts: int = MAX_PARTS, repeated: tuple[str, ...] = ()) -> None:
        self.form = FormData()
        self.max_parts = max_parts
        self.repeated = repeated
        self.error = ""
        self.error_class: type[InputError] = InvalidRequest
        self.error_field: str | None = None
        self.complete = False
        self._parts = 0
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._data = bytearray()

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_val,
            "on_header_end": self._header_end,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        self._headers = {}
        self._data = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = b""
        self._header_value = b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._data += data[start:end]

    def _part_end(self) -> None:
        if self.error:
            return
        if self._parts > self.max_parts:
            self.error = f"The body has more than {self.max_parts} parts."
            return
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if disposition != b"form-data" or name is None:
            self.error = "Each part needs a Content-Disposition: form-data header with a name."
            return
        field_name = name.decode("utf-8", "replace")
        if field_name in self.repeated and b"filename" in params:
            self.form.file_lists.setdefault(field_name, []).append(
                UploadedFile(
                    filename=params[b"filename"].decode("utf-8", "replace"),
                    content_type=self._headers.get(b"content-type", b"").decode("latin-1"),
                    data=bytes(self._data),
                )
            )
            return
        if field_name in self.form.fields or field_name in self.form.files:
            self.error = f"The field {field_name!r} is given more than once."
            return
        if b"filename" in params:
            self.form.files[field_name] = UploadedFile(
                filename=params[b"filename"].decode("utf-8", "replace"),
                content_type=self._headers.get(b"content-type", b"").decode("latin-1"),
                data=bytes(self._data),
            )
        elif len(self._data) > MAX_FIELD_BYTES:
            self.error = f"The field {field_name!r} is over {MAX_FIELD_BYTES} bytes."
            self.error_class = _OVERSIZE_ERRORS.get(field_name, InvalidRequest)
            self.error_field = field_name
        else:
            # Kept as bytes-in-str until the service decodes it strictly.
            self.form.fields[field_name] = self._data.decode("latin-1")

    def _end(self) -> None:
        self.complete = True


def decode_text_field(raw: str, name: str = "text") -> str:
    """A multipart field's bytes (held as latin-1) decoded as strict UTF-8.

    The error names the field's own code: bad ``options`` bytes are bad options.
    """
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        error = InvalidOptions if name == "options" else InvalidText
        raise error(f"The {name} field is not valid UTF-8.", field=name) from None


def validate_text(text: str, max_chars: int) -> str:
    """Refuse control characters and over-long text; normalise line ends."""
    # A lone CR is an old Mac line end, not a control sequence: one line end for all.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL_CHARACTERS.search(text):
        raise InvalidText("The text contains control characters.")
    if len(text) > max_chars:
        raise TextTooLong(f"The text has {len(text)} characters; at most {max_chars} are accepted.")
    return text


def sniff_image_format(data: bytes) -> str:
    """The image format decided from the bytes alone, or ``UnsupportedImage``.

    The client's file name and Content-Type are never trusted.
    """
    if not data:
        raise MissingField("The image is empty.")
    found = sniff(data)
    if found is None:
        raise UnsupportedImage(
            f"The file is not a supported image; send one of: {', '.join(INPUT_NAMES)}."
        )
    return found.name


SUBMIT_FIELDS = ("image", "text", "options", "preset", "callback_url")
UPLOAD_REQUEST_FIELDS = ("filename", "content_type", "size")


def _refuse_unknown(given: Any, allowed: tuple[str, ...]) -> None:
    unknown = set(given) - set(allowed)
    if unknown:
        raise InvalidRequest(
            f"Unknown fields: {', '.join(sorted(unknown))}; the fields are {', '.join(allowed)}."
        )


def parse_form_submission(form: FormData) -> dict[str, Any]:
    """The multipart form of ``POST /api/process``: image (a file part), text, and the
    optional options and callback_url; anything else is refused, as in the JSON form."""
    for name in ("image", "text"):
        if name not in form.fields and name not in form.files:
            raise MissingField(f"The field {name!r} is required.", field=name)
    _refuse_unknown([*form.fields, *form.files], SUBMIT_FIELDS)
    if "image" not in form.files:
        raise InvalidRequest("The image field must be a file part.", field="image")
    return {
        "image": form.files["image"].data,
        "text": form.text("text") or "",
        "options": form.text("options"),
        "callback_url": form.text("callback_url"),
        "preset": form.text("preset"),
    }


def parse_upload_request(body: dict[str, Any]) -> dict[str, Any]:
    """Check the JSON form of ``POST /api/process``: upload_id, text, options, preset,
    callback_url."""
    for name in ("upload_id", "text"):
        if name not in body:
            raise MissingField(f"The field {name!r} is required.", field=name)
    _refuse_unknown(body, ("upload_id", "text", "options", "preset", "callback_url"))
    if not isinstance(body["text"], str):
        raise InvalidRequest("text must be a string.", field="text")
    return {
        "upload_id": body["upload_id"],
        "text": body["text"],
        "options": body.get("options"),
        "callback_url": optional_string(body, "callback_url"),
        "preset": optional_string(body, "preset"),
    }


def optional_string(body: dict[str, Any], name: str) -> str | None:
    """``body[name]`` when it is a string, None when absent or null, else ``InvalidRequest``."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string.", field=name)
    return value


def parse_presign_request(body: dict[str, Any]) -> dict[str, Any]:
    """Check the JSON body of ``POST /api/uploads``: filename, content_type, size."""
    _refuse_unknown(body, UPLOAD_REQUEST_FIELDS)
    return {
        "filename": body.get("filename"),
        "content_type": body.get("content_type"),
        "size": whole_number(body.get("size")),
    }


# A batch: at most this many image parts in one multipart body, items in one JSON body.
MAX_BATCH_FILES = 50
MAX_BATCH_ITEMS = 500
BATCH_FIELDS = ("image", "text", "options", "preset", "callback_url")
BATCH_JSON_FIELDS = ("items", "options", "preset", "callback_url")


def parse_batch_form(form: FormData) -> dict[str, Any]:
    """The multipart form of ``POST /api/batches``: ``image`` parts (1 to 50), one shared
    ``text`` (may be empty or absent), and the optional options, preset, callback_url."""
    _refuse_unknown([*form.fields, *form.files, *form.file_lists], BATCH_FIELDS)
    if "image" in form.fields:
        raise InvalidRequest("Each image must be a file part.", field="image")
    images = [part.data for part in form.file_lists.get("image", [])]
    if not images:
        raise MissingField("A batch needs at least one 'image' file part.", field="image")
    if len(images) > MAX_BATCH_FILES:
        raise InvalidRequest(
            f"A multipart batch holds at most {MAX_BATCH_FILES} images; send more as "
            "JSON items naming uploads.",
            field="image",
        )
    return {
        "images": images,
        "text": form.text("text") or "",
        "options": form.text("options"),
        "preset": form.text("preset"),
        "callback_url": form.text("callback_url"),
    }


def parse_batch_request(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of ``POST /api/batches``: ``items`` (1 to 500 ``{upload_id, text?}``)
    and the optional options, preset, callback_url shared by every item."""
    _refuse_unknown(body, BATCH_JSON_FIELDS)
    items = body.get("items")
    if items is None:
        raise MissingField("The field 'items' is required.", field="items")
    if not isinstance(items, list) or not items:
        raise InvalidRequest("items must be a non-empty list.", field="items")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidRequest(f"A batch holds at most {MAX_BATCH_ITEMS} items.", field="items")
    checked = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where} must be an object.", field=where)
        unknown = sorted(set(item) - {"upload_id", "text"})
        if unknown:
            raise InvalidRequest(
                f"{where} has an unknown field {unknown[0]!r}; an item is {{upload_id, text}}.",
                field=where,
            )
        if "upload_id" not in item:
            raise MissingField(f"{where}.upload_id is required.", field=f"{where}.upload_id")
        text = item.get("text", "")
        if not isinstance(text, str):
            raise InvalidRequest(f"{where}.text must be a string.", field=f"{where}.text")
        checked.append({"upload_id": item["upload_id"], "text": text})
    return {
        "items": checked,
        "options": body.get("options"),
        "preset": optional_string(body, "preset"),
        "callback_url": optional_string(body, "callback_url"),
    }
