"""HEIF and AVIF containers read without decoding: the primary image's item and properties.

A HEIF-family file (HEIC, AVIF) is an ISO BMFF ``meta`` box naming a primary item
(``pitm``), each item's coding (``iinf``), and properties associated with items
(``iprp``: ``ispe`` size, ``clap`` clean aperture, ``irot`` rotation, ``imir``
mirror). libheif applies the transforms itself; libavif (through Pillow) does not
apply ``clap``, and neither names a coding it cannot decode. Walking only the box
structure; anything unreadable gives ``None`` (the decoder then decides).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

# Item types of the primary image that are not HEVC or AV1, named for the message
# (ISO/IEC 23008-12 and its amendments).
CODING_NAMES = {
    b"jpeg": "JPEG",
    b"j2k1": "JPEG 2000",
    b"avc1": "AVC (H.264)",
    b"unci": "uncompressed",
    b"vvc1": "VVC (H.266)",
    b"evc1": "EVC",
    b"mski": "mask",
}
# Codings the installed decoders handle: HEVC (libheif), AV1 (libavif), and derived
# images made of such tiles or overlays.
DECODED_CODINGS = frozenset({b"hvc1", b"av01", b"grid", b"iovl", b"iden"})
# How deep boxes may nest before the walk gives up (real files nest four deep).
_MAX_DEPTH = 8
# The most boxes read at one level: real files have a handful; a body of 8-byte boxes
# would otherwise be a million Python steps at submit.
_MAX_BOXES = 10_000


@dataclass(frozen=True)
class PrimaryItem:
    """What the container says about the image a viewer shows."""

    item_type: bytes | None
    size: tuple[int, int] | None  # ispe: the coded picture's width and height
    # The clean aperture in the coded picture: (left, top, width, height), whole pixels.
    clean_aperture: tuple[int, int, int, int] | None = None
    rotation: int = 0  # irot: quarter turns anticlockwise
    # imir mode (ISO/IEC 23008-12:2022): 0 exchanges top and bottom, 1 left and right.
    mirror: int | None = None
    # colr of type nclx (ITU-T H.273 code points): primaries, transfer, matrix, full range.
    nclx: tuple[int, int, int, bool] | None = None

    @property
    def coding(self) -> str | None:
        """The name of a coding the service cannot decode, or None."""
        if self.item_type is None or self.item_type in DECODED_CODINGS:
            return None
        return CODING_NAMES.get(self.item_type, self.item_type.decode("latin-1").strip())


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """The boxes in ``data[start:end]``: (type, payload start, payload end)."""
    found: list[tuple[bytes, int, int]] = []
    at = start
    while at + 8 <= end and len(found) < _MAX_BOXES:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            if at + 16 > end:
                break
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            break
        found.append((kind, at + header, at + size))
        at += size
    return found


def _child(boxes: list[tuple[bytes, int, int]], kind: bytes) -> tuple[int, int] | None:
    for found, start, end in boxes:
        if found == kind:
            return start, end
    return None


def primary_item(data: bytes) -> PrimaryItem | None:
    """The primary image's item type and properties, or None when unreadable."""
    if data[4:8] != b"ftyp":
        return None
    try:
        return _primary_item(data)
    except (struct.error, IndexError, ValueError, ZeroDivisionError):
        return None


def _primary_item(data: bytes) -> PrimaryItem | None:
    meta = _child(_boxes(data, 0, len(data)), b"meta")
    if meta is None:
        return None
    children = _boxes(data, meta[0] + 4, meta[1])  # meta is a full box
    pitm = _child(children, b"pitm")
    if pitm is None:
        return None
    version = data[pitm[0]]
    (item_id,) = struct.unpack_from(">H" if version == 0 else ">I", data, pitm[0] + 4)
    item_type = _item_type(data, _child(children, b"iinf"), item_id)
    properties = _properties(data, _child(children, b"iprp"), item_id)
    size = None
    clap = None
    rotation, mirror = 0, None
    nclx = None
    for kind, start, _end in properties:
        if kind == b"ispe":
            size = struct.unpack_from(">II", data, start + 4)
        elif kind == b"clap":
            clap = struct.unpack_from(">IIIIiIiI", data, start)
        elif kind == b"irot":
            rotation = data[start] & 3
        elif kind == b"imir":
            mirror = data[start] & 1
        elif kind == b"colr" and data[start : start + 4] == b"nclx":
            primaries, transfer, matrix = struct.unpack_from(">HHH", data, start + 4)
            nclx = (primaries, transfer, matrix, bool(data[start + 10] & 0x80))
    aperture = _aperture(clap, size) if clap is not None and size is not None else None
    return PrimaryItem(item_type, size, aperture, rotation, mirror, nclx)


def sequence_frames(data: bytes) -> int | None:
    """How many pictures an image sequence (AVIF ``avis``, HEIF ``msf1``) holds: the
    sample count of its first picture or video track; None for a still image."""
    if data[4:8] != b"ftyp":
        return None
    try:
        moov = _child(_boxes(data, 0, len(data)), b"moov")
        if moov is None:
            return None
        for kind, start, end in _boxes(data, *moov):
            if kind != b"trak":
                continue
            mdia = _child(_boxes(data, start, end), b"mdia")
            if mdia is None:
                continue
            parts = _boxes(data, *mdia)
            hdlr = _child(parts, b"hdlr")
            # hdlr: version and flags, pre_defined, then the handler type.
            if hdlr is None or data[hdlr[0] + 8 : hdlr[0] + 12] not in (b"pict", b"vide"):
                continue
            minf = _child(parts, b"minf")
            stbl = _child(_boxes(data, *minf), b"stbl") if minf else None
            stsz = _child(_boxes(data, *stbl), b"stsz") if stbl else None
            if stsz is not None:
                # stsz: version and flags, sample_size, sample_count.
                (count,) = struct.unpack_from(">I", data, stsz[0] + 8)
                return int(count)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _item_type(data: bytes, iinf: tuple[int, int] | None, item_id: int) -> bytes | None:
    if iinf is None:
        return None
    start = iinf[0] + 4 + (2 if data[iinf[0]] == 0 else 4)
    for kind, at, _end in _boxes(data, start, iinf[1]):
        if kind != b"infe":
            continue
        version = data[at]
        if version < 2:
            continue
        wide = version >= 3
        (found,) = struct.unpack_from(">I" if wide else ">H", data, at + 4)
        if found == item_id:
            type_at = at + 4 + (4 if wide else 2) + 2
            return bytes(data[type_at : type_at + 4])
    return None


def _properties(
    data: bytes, iprp: tuple[int, int] | None, item_id: int
) -> list[tuple[bytes, int, int]]:
    """The properties associated with ``item_id``, in the order ``ipma`` lists them."""
    if iprp is None:
        return []
    children = _boxes(data, *iprp)
    ipco = _child(children, b"ipco")
    if ipco is None:
        return []
    listed = _boxes(data, *ipco)
    chosen: list[tuple[bytes, int, int]] = []
    for kind, start, end in children:
        if kind != b"ipma":
            continue
        version, flags = data[start], int.from_bytes(data[start + 1 : start + 4], "big")
        (count,) = struct.unpack_from(">I", data, start + 4)
        at = start + 8
        for _ in range(count):
            wide_id = version >= 1
            (found,) = struct.unpack_from(">I" if wide_id else ">H", data, at)
            at += 4 if wide_id else 2
            associations = data[at]
            at += 1
            for _ in range(associations):
                if flags & 1:
                    (value,) = struct.unpack_from(">H", data, at)
                    index = value & 0x7FFF
                    at += 2
                else:
                    index = data[at] & 0x7F
                    at += 1
                if found == item_id and 1 <= index <= len(listed):
                    chosen.append(listed[index - 1])
            if at > end:
                return []
    return chosen


def _aperture(clap: tuple[int, ...], size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The clean aperture as a whole-pixel window of the coded picture, or None if the
    box is invalid (fractional, outside the picture), which readers then ignore."""
    width_n, width_d, height_n, height_d, x_n, x_d, y_n, y_d = clap
    width, height = Fraction(width_n, width_d), Fraction(height_n, height_d)
    # The aperture's centre is given as an offset from the picture's centre.
    centre_x = Fraction(x_n, x_d) + Fraction(size[0] - 1, 2)
    centre_y = Fraction(y_n, y_d) + Fraction(size[1] - 1, 2)
    left = centre_x - (width - 1) / 2
    top = centre_y - (height - 1) / 2
    values = (left, top, width, height)
    if any(v.denominator != 1 for v in values):
        return None
    box = tuple(int(v) for v in values)
    if box[0] < 0 or box[1] < 0 or box[2] < 1 or box[3] < 1:
        return None
    if box[0] + box[2] > size[0] or box[1] + box[3] > size[1]:
        return None
    if box == (0, 0, size[0], size[1]):
        return None
    return box[0], box[1], box[2], box[3]
