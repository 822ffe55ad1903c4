from __future__ import annotations

import io

import pytest
from PIL import Image

from chalicelib.api.intake import parse_multipart, sniff_image_format, validate_text
from chalicelib.core.errors import (
    InvalidOptions,
    InvalidRequest,
    InvalidText,
    MissingField,
    TextTooLong,
    UnsupportedImage,
    UploadTooLarge,
)

BOUNDARY = "b0undary"
CT = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


def test_fields_and_files_are_separated() -> None:
    form = parse_multipart(
        body(("image", "../../etc/passwd", b"\x89PNG..."), ("text", None, "héllo".encode())),
        CT,
        10_000,
    )
    assert form.files["image"].data == b"\x89PNG..."
    assert form.files["image"].filename == "../../etc/passwd"  # kept, never used as a key
    assert form.text("text") == "héllo"


def test_text_sent_as_a_file_part_is_read() -> None:
    form = parse_multipart(body(("text", "a.txt", b"from a file")), CT, 10_000)
    assert form.text("text") == "from a file"


def test_duplicate_field_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="more than once"):
        parse_multipart(body(("text", None, b"a"), ("text", None, b"b")), CT, 10_000)


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "text/plain", "", "application/json; boundary=x"]
)
def test_missing_boundary_or_wrong_type(content_type: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_multipart(body(("text", None, b"a")), content_type, 10_000)


def test_truncated_body_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_multipart(body(("text", None, b"abc"))[:-10], CT, 10_000)


def test_garbage_body_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_multipart(b"\x00\x01 not multipart at all", CT, 10_000)


def test_over_the_limit() -> None:
    with pytest.raises(UploadTooLarge):
        parse_multipart(body(("image", "a", b"x" * 200)), CT, 100)


def test_invalid_utf8_text() -> None:
    form = parse_multipart(body(("text", None, b"caf\xe9")), CT, 10_000)
    with pytest.raises(InvalidText):
        form.text("text")


@pytest.mark.parametrize("text", ["nul\x00byte", "bell\x07", "esc\x1b[31m"])
def test_control_characters_are_refused(text: str) -> None:
    with pytest.raises(InvalidText):
        validate_text(text, 100)


def test_text_limits_and_line_ends() -> None:
    assert validate_text("a\r\nb\tc", 100) == "a\nb\tc"
    with pytest.raises(TextTooLong):
        validate_text("x" * 11, 10)


def _encoded(fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("JPEG", "jpeg"),
        ("PNG", "png"),
        ("GIF", "gif"),
        ("WEBP", "webp"),
        ("BMP", "bmp"),
        ("TIFF", "tiff"),
        ("AVIF", "avif"),
    ],
)
def test_sniffed_from_the_bytes(fmt: str, expected: str) -> None:
    assert sniff_image_format(_encoded(fmt)) == expected


def test_heic_is_recognised() -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    assert sniff_image_format(_encoded("HEIF")) == "heif"


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.4 ...",
        b"%!PS-Adobe-3.0 EPSF-3.0",
        b'<?xml version="1.0"?><svg/>',
        b"PK\x03\x04zip",
        b"plain text",
        b"\x00" * 64,
    ],
)
def test_anything_else_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImage):
        sniff_image_format(data)


def test_empty_is_missing() -> None:
    with pytest.raises(MissingField):
        sniff_image_format(b"")


@pytest.mark.parametrize("text", ["nel\x85", "csi\x9b31m", "c1\x80"])
def test_c1_control_characters_are_refused(text: str) -> None:
    with pytest.raises(InvalidText):
        validate_text(text, 100)


def test_a_lone_carriage_return_is_a_line_end() -> None:
    assert validate_text("a\rb\r\nc", 100) == "a\nb\nc"


def test_oversized_fields_get_their_own_codes() -> None:
    from chalicelib.api.intake import MAX_FIELD_BYTES

    big = b"x" * (MAX_FIELD_BYTES + 1)
    with pytest.raises(TextTooLong):
        parse_multipart(body(("text", None, big)), CT, 4 * MAX_FIELD_BYTES)
    with pytest.raises(InvalidOptions):
        parse_multipart(body(("options", None, big)), CT, 4 * MAX_FIELD_BYTES)
    with pytest.raises(InvalidRequest):
        parse_multipart(body(("other", None, big)), CT, 4 * MAX_FIELD_BYTES)


def test_options_that_are_not_utf8_are_invalid_options() -> None:

    form = parse_multipart(body(("options", None, b"{\xff}")), CT, 10_000)
    with pytest.raises(InvalidOptions):
        form.text("options")


def test_a_content_type_outside_latin1_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        parse_multipart(b"", "multipart/form-data; boundary=\u2603", 10_000)


@pytest.mark.parametrize("byte_order", ["<", ">"])
def test_bigtiff_is_a_tiff(byte_order: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "TIFF", big_tiff=True)
    data = buffer.getvalue()
    assert data[:4] == b"II+\x00"
    if byte_order == ">":
        # The big-endian signature, as Pillow's hopper_bigtiff.tif peers write it.
        data = b"MM\x00+" + data[4:]
    assert sniff_image_format(data) == "tiff"


def test_one_sniffer_knows_every_brand_and_signature() -> None:
    from chalicelib.media.formats import INPUT_FORMATS, sniff

    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 16

    assert sniff(ftyp(b"avis")).name == "avif"  # an AVIF image sequence
    assert sniff(ftyp(b"mif1", b"miaf", b"avif")).name == "avif"
    assert sniff(ftyp(b"mif1", b"heic")).name == "heif"
    assert sniff(ftyp(b"isom", b"mp41")) is None  # an MP4 video
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    for fmt in INPUT_FORMATS.values():
        for signature in fmt.signatures:
            assert sniff(signature + b"\x00" * 32) is fmt
