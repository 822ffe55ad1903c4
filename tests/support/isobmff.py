"""HEIF/AVIF files edited or built box by box: clean apertures, rotations, mirrors, codings.

No encoder the tests can install writes ``clap``, or a HEIF image coded with JPEG: these
helpers add the properties to a file Pillow or pillow-heif wrote (moving the ``iloc``
offsets past the grown ``meta`` box), or build a whole single-item file.
"""

from __future__ import annotations

import struct

from chalicelib.media.isobmff import _boxes
from worker.imaging.container_repair import Associations, box, full_box, rebuilt


def clap(width: int, height: int, offset_x: float = 0, offset_y: float = 0) -> bytes:
    """A clean aperture ``width`` x ``height`` whose centre is offset from the picture's
    centre by ``offset_x``, ``offset_y`` pixels (multiples of 0.5)."""
    return box(
        b"clap",
        struct.pack(">IIIIiIiI", width, 1, height, 1, int(offset_x * 2), 2, int(offset_y * 2), 2),
    )


def irot(quarter_turns_anticlockwise: int) -> bytes:
    return box(b"irot", bytes([quarter_turns_anticlockwise & 3]))


def imir(axis: int) -> bytes:
    return box(b"imir", bytes([axis & 1]))


def with_properties(data: bytes, *properties: bytes) -> bytes:
    """``data`` (a HEIF/AVIF) with ``properties`` added to its primary item, as essential
    ones, after those it has (the order clap, irot, imir is the caller's)."""
    item = primary_item_id(data)
    meta = next((s, e) for k, s, e in _boxes(data, 0, len(data)) if k == b"meta")
    iprp = next((s, e) for k, s, e in _boxes(data, meta[0] + 4, meta[1]) if k == b"iprp")
    ipco = next((s, e) for k, s, e in _boxes(data, *iprp) if k == b"ipco")
    listed = len(_boxes(data, *ipco))

    def associate(items: Associations) -> None:
        items[item].extend((listed + i + 1, True) for i in range(len(properties)))

    return rebuilt(data, properties, associate)


def primary_item_id(data: bytes) -> int:
    meta = next((s, e) for k, s, e in _boxes(data, 0, len(data)) if k == b"meta")
    pitm = next(s for k, s, _ in _boxes(data, meta[0] + 4, meta[1]) if k == b"pitm")
    return int(struct.unpack_from(">H" if data[pitm] == 0 else ">I", data, pitm + 4)[0])


def single_item_heif(
    item_type: bytes, coded: bytes, size: tuple[int, int], config: bytes = b""
) -> bytes:
    """A HEIF with one image item of ``item_type`` whose data is ``coded`` (a JPEG, say),
    ``config`` its decoder configuration property (none for JPEG)."""
    ftyp = box(b"ftyp", b"mif1" + b"\x00\x00\x00\x00" + b"mif1heic")
    hdlr = full_box(b"hdlr", 0, 0, b"\x00" * 4 + b"pict" + b"\x00" * 12 + b"\x00")
    pitm = full_box(b"pitm", 0, 0, struct.pack(">H", 1))
    infe = full_box(b"infe", 2, 0, struct.pack(">HH", 1, 0) + item_type + b"\x00")
    iinf = full_box(b"iinf", 0, 0, struct.pack(">H", 1) + infe)
    ispe = full_box(b"ispe", 0, 0, struct.pack(">II", *size))
    properties = [ispe] + ([config] if config else [])
    ipco = box(b"ipco", b"".join(properties))
    associations = bytes([0x80 | (i + 1) for i in range(len(properties))])
    ipma = full_box(b"ipma", 0, 0, struct.pack(">IHB", 1, 1, len(properties)) + associations)
    iprp = box(b"iprp", ipco + ipma)

    def meta_with(offset: int) -> bytes:
        iloc = full_box(
            b"iloc", 0, 0, struct.pack(">BBHHHHII", 0x44, 0x00, 1, 1, 0, 1, offset, len(coded))
        )
        return full_box(b"meta", 0, 0, hdlr + pitm + iloc + iinf + iprp)

    head = len(ftyp) + len(meta_with(0))
    return ftyp + meta_with(head + 8) + box(b"mdat", coded)


def set_nclx(data: bytes, primaries: int, transfer: int, matrix: int | None = None) -> bytes:
    """``data`` with the code points of its (first) nclx colour box changed in place."""
    out = bytearray(data)
    at = out.find(b"colrnclx") + 8
    out[at : at + 4] = primaries.to_bytes(2, "big") + transfer.to_bytes(2, "big")
    if matrix is not None:
        out[at + 4 : at + 6] = matrix.to_bytes(2, "big")
    return bytes(out)
