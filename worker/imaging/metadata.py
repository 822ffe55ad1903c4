"""Metadata: the EXIF facts and the orientation a file states, read without decoding."""

from __future__ import annotations

import logging
import re
import struct
from typing import Any

from PIL import Image

from worker.imaging.errors import DECODE_ERRORS

log = logging.getLogger(__name__)

_DATETIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def png_exif(data: bytes) -> bytes:
    """The payload of a PNG's eXIf chunk, wherever it is, from the chunk headers alone.

    Pillow's PNG plugin decodes the whole image to find an eXIf chunk after the pixel
    data; walking the chunk lengths finds it without decoding anything.
    """
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        if kind == b"eXIf":
            return data[at + 8 : at + 8 + length]
        if kind == b"IEND":
            break
        at += 12 + length
    return b""


def exif_facts(image: Image.Image, fmt: str, data: bytes) -> tuple[dict[str, Any], int | None]:
    """The EXIF facts and the orientation the file states, read without decoding."""
    facts: dict[str, Any] = {
        "make": None,
        "model": None,
        "taken_at": None,
        "orientation": None,
        "had_gps": False,
    }
    if fmt == "png" and "exif" not in image.info:
        # Given here, Pillow's getexif() reads it instead of loading the image to look.
        image.info["exif"] = png_exif(data)
    try:
        exif = image.getexif()
        base = dict(exif)
        sub = dict(exif.get_ifd(0x8769))
        gps = dict(exif.get_ifd(0x8825))
    except DECODE_ERRORS as exc:
        # Broken metadata must not fail the image; it is stripped from outputs anyway.
        # (Only metadata is parsed here: no pixel decode can fail unnoticed.)
        log.info("unreadable EXIF: %r", exc)
        base, sub, gps = {}, {}, {}
    facts["make"] = _text(base.get(0x010F))
    facts["model"] = _text(base.get(0x0110))
    facts["taken_at"] = _timestamp(sub.get(0x9003) or sub.get(0x9004) or base.get(0x0132))
    # pillow-heif applies the HEIF transforms itself and keeps the original value aside.
    raw_orientation = image.info.get("original_orientation") or base.get(0x0112)
    if fmt == "avif":
        # The irot/imir boxes are AVIF's orientation; Pillow writes them into the EXIF
        # tag. An XMP tiff:Orientation (which getexif() falls back to) is ignored, as
        # libheif does for HEIF and libvips for both.
        raw_orientation = _exif_orientation(image.info.get("exif"))
    orientation = (
        raw_orientation if isinstance(raw_orientation, int) and 1 <= raw_orientation <= 8 else None
    )
    facts["orientation"] = orientation
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    facts["had_gps"] = bool(gps) or b"GPSLatitude" in xmp
    return facts, orientation


def _exif_orientation(raw: bytes | None) -> int | None:
    if not raw:
        return None
    exif = Image.Exif()
    try:
        exif.load(raw)
    except DECODE_ERRORS:
        return None
    value = exif.get(0x0112)
    return value if isinstance(value, int) else None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value if ch.isprintable()).strip()
    return cleaned[:100] or None


def _timestamp(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    match = _DATETIME.match(text)
    if match is None:
        return None
    y, mo, d, h, mi, s = match.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}"
