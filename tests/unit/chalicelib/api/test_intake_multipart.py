"""Properties of the multipart parser: hostile bodies raise only InputErrors; round trips.

``parse_multipart`` reads whatever a client sends, so for any bytes, boundary and
Content-Type it must either return a form or raise one of the service's
``InputError`` subclasses (a clear 4xx), never anything else. A well-formed body
built from random fields must come back exactly.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from chalicelib.api.intake import MAX_PARTS, FormData, parse_multipart
from chalicelib.core.errors import InputError

LIMIT = 64 * 1024
# RFC 2046 boundary characters (without the space, which may not end a boundary).
BOUNDARY_CHARS = string.ascii_letters + string.digits + "'()+_,-./:=?"
boundaries = st.text(BOUNDARY_CHARS, min_size=1, max_size=70)
field_names = st.text(string.ascii_letters + string.digits + "_-.", min_size=1, max_size=20)
PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def parse_or_client_error(body: bytes, content_type: str) -> FormData | None:
    try:
        return parse_multipart(body, content_type, LIMIT)
    except InputError as exc:
        assert 400 <= exc.status < 500
        assert exc.message
        return None


def encode(
    fields: dict[str, bytes], files: dict[str, tuple[str, str, bytes]], boundary: str
) -> bytes:
    dash = b"--" + boundary.encode()
    out = b""
    for name, value in fields.items():
        out += dash + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n'
        out += value + b"\r\n"
    for name, (filename, content_type, data) in files.items():
        out += dash + b'\r\nContent-Disposition: form-data; name="' + name.encode()
        out += b'"; filename="' + filename.encode() + b'"\r\n'
        out += b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data + b"\r\n"
    return out + dash + b"--\r\n"


@PROPERTY_SETTINGS
@given(st.binary(max_size=2048), boundaries)
@example(b"", "x")
@example(b"--x\r\n", "x")
@example(b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--\r\n", "x")
def test_arbitrary_bodies_raise_only_client_errors(body: bytes, boundary: str) -> None:
    parse_or_client_error(body, f"multipart/form-data; boundary={boundary}")


@PROPERTY_SETTINGS
@given(st.text(max_size=200), st.binary(max_size=256))
@example("multipart/form-data; boundary=é", b"--\xc3\xa9--\r\n")
@example("multipart/form-data; boundary=\u2603", b"")
@example('multipart/form-data; boundary="', b"")
def test_arbitrary_content_types_raise_only_client_errors(content_type: str, body: bytes) -> None:
    parse_or_client_error(body, content_type)


# Bodies that look like multipart: real boundary lines with hostile headers and data.
header_lines = st.lists(
    st.one_of(
        st.binary(max_size=80),
        st.builds(
            lambda name, params: b"Content-Disposition: form-data" + params + name,
            st.binary(max_size=20),
            st.sampled_from([b"; name=", b'; name="', b"; filename=", b";", b""]),
        ),
        st.sampled_from([b"Content-Type: image/png", b"Content-Disposition: attachment"]),
    ),
    max_size=4,
)
parts = st.tuples(header_lines, st.binary(max_size=64))


@PROPERTY_SETTINGS
@given(st.lists(parts, max_size=MAX_PARTS + 3), boundaries, st.booleans(), st.booleans())
def test_multipart_shaped_bodies_raise_only_client_errors(
    body_parts: list[tuple[list[bytes], bytes]], boundary: str, close: bool, lf_only: bool
) -> None:
    dash = b"--" + boundary.encode()
    body = b""
    for headers, data in body_parts:
        body += dash + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + data + b"\r\n"
    if close:
        body += dash + b"--\r\n"
    if lf_only:
        body = body.replace(b"\r\n", b"\n")
    parse_or_client_error(body, f"multipart/form-data; boundary={boundary}")


def _safe_value(boundary: str) -> st.SearchStrategy[bytes]:
    # A value that holds "\r\n--boundary" would end its part early: not well-formed.
    return st.binary(max_size=300).filter(lambda v: b"\r\n--" + boundary.encode() not in v)


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[str, dict[str, bytes], dict[str, tuple[str, str, bytes]]]:
    boundary = draw(boundaries)
    names = draw(st.lists(field_names, unique=True, max_size=MAX_PARTS))
    split = draw(st.integers(0, len(names)))
    fields = {name: draw(_safe_value(boundary)) for name in names[:split]}
    filenames = st.text(string.ascii_letters + string.digits + "._-/ ", min_size=1, max_size=30)
    files = {
        name: (
            draw(filenames),
            draw(st.sampled_from(["image/png", "application/octet-stream", "text/plain"])),
            draw(_safe_value(boundary)),
        )
        for name in names[split:]
    }
    return boundary, fields, files


@PROPERTY_SETTINGS
@given(well_formed())
def test_well_formed_bodies_round_trip(
    case: tuple[str, dict[str, bytes], dict[str, tuple[str, str, bytes]]],
) -> None:
    boundary, fields, files = case
    body = encode(fields, files, boundary)
    assume(len(body) <= LIMIT)
    form = parse_multipart(body, f"multipart/form-data; boundary={boundary}", LIMIT)
    assert {k: v.encode("latin-1") for k, v in form.fields.items()} == fields
    assert {k: (f.filename, f.content_type, f.data) for k, f in form.files.items()} == files


@PROPERTY_SETTINGS
@given(well_formed(), st.data())
def test_a_repeated_name_is_always_refused(
    case: tuple[str, dict[str, bytes], dict[str, tuple[str, str, bytes]]], data: st.DataObject
) -> None:
    boundary, fields, files = case
    assume(fields and len(fields) + len(files) < MAX_PARTS)
    name = data.draw(st.sampled_from(sorted(fields)))
    body = encode(fields, files, boundary)
    dash = b"--" + boundary.encode()
    extra = dash + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\nx\r\n'
    body = extra + body
    assert parse_or_client_error(body, f"multipart/form-data; boundary={boundary}") is None


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_utf8_text_fields_decode_back(text: str) -> None:
    assume("\r\n--b" not in text)
    body = encode({"text": text.encode("utf-8")}, {}, "b")
    form = parse_multipart(body, "multipart/form-data; boundary=b", LIMIT)
    assert form.text("text") == text
