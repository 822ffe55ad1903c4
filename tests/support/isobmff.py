"""HEIF/AVIF files edited or built box by box: clean apertures, rotations, mirrors, codings.

No encoder the tests can install writes ``clap``, or a HEIF image coded with JPEG: these
helpers add the properties to a file Pillow or pillow-heif wrote (moving the ``iloc``
offsets past the grown ``meta`` box), or build a whole single-item file.
"""

from __future__ import annotations

import struct

from chalicelib.media.isobmff import _boxes


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


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
    """``data`` (a single-image HEIF/AVIF) with ``properties`` added to its primary item,
    as essential ones, after those it has (the order clap, irot, imir is the caller's)."""
    top = _boxes(data, 0, len(data))
    out = bytearray()
    delta = 0
    meta_end = 0
    for kind, start, end in top:
        if kind != b"meta":
            out += data[start - 8 : end]
            continue
        meta_end = end
        children = _boxes(data, start + 4, end)
        body = bytearray(data[start : start + 4])
        for child, child_start, child_end in children:
            if child == b"iprp":
                body += _grown_iprp(data, child_start, child_end, properties)
            else:
                body += data[child_start - 8 : child_end]
        grown = box(b"meta", bytes(body))
        delta = len(grown) - (end - start + 8)
        out += grown
    return _moved_iloc(bytes(out), delta, meta_end)


def _grown_iprp(data: bytes, start: int, end: int, properties: tuple[bytes, ...]) -> bytes:
    children = _boxes(data, start, end)
    ipco = next((s, e) for k, s, e in children if k == b"ipco")
    listed = len(_boxes(data, *ipco))
    body = bytearray()
    for kind, child_start, child_end in children:
        if kind == b"ipco":
            body += box(b"ipco", data[child_start:child_end] + b"".join(properties))
        elif kind == b"ipma":
            body += _grown_ipma(data[child_start:child_end], listed, len(properties))
        else:
            body += data[child_start - 8 : child_end]
    return box(b"iprp", bytes(body))


def _grown_ipma(payload: bytes, listed: int, added: int) -> bytes:
    version, flags = payload[0], int.from_bytes(payload[1:4], "big")
    (count,) = struct.unpack_from(">I", payload, 4)
    assert count == 1 and version == 0 and not flags & 1, "one item, small ipma only"
    (item_id,) = struct.unpack_from(">H", payload, 8)
    associations = list(payload[11 : 11 + payload[10]])
    associations += [0x80 | (listed + i + 1) for i in range(added)]
    entry = struct.pack(">HB", item_id, len(associations)) + bytes(associations)
    return full_box(b"ipma", 0, 0, struct.pack(">I", 1) + entry)


def _moved_iloc(data: bytes, delta: int, after: int) -> bytes:
    """``data`` with every iloc offset at or past ``after`` moved by ``delta``."""
    out = bytearray(data)
    meta = next((s, e) for k, s, e in _boxes(data, 0, len(data)) if k == b"meta")
    iloc = next((s, e) for k, s, e in _boxes(data, meta[0] + 4, meta[1]) if k == b"iloc")
    at = iloc[0]
    version = data[at]
    sizes = data[at + 4] << 8 | data[at + 5]
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 15
    base_size, index_size = (sizes >> 4) & 15, sizes & 15 if version in (1, 2) else 0
    at += 6
    (count,) = struct.unpack_from(">H" if version < 2 else ">I", data, at)
    at += 2 if version < 2 else 4
    for _ in range(count):
        at += 2 if version < 2 else 4  # item id
        at += 2 if version in (1, 2) else 0  # construction method
        at += 2  # data reference index
        at = _move(out, at, base_size, delta, after)
        (extents,) = struct.unpack_from(">H", data, at)
        at += 2
        for _ in range(extents):
            at += index_size
            at = _move(out, at, offset_size, delta, after)
            at += length_size
    return bytes(out)


def _move(out: bytearray, at: int, size: int, delta: int, after: int) -> int:
    if size:
        value = int.from_bytes(out[at : at + size], "big")
        if value >= after:
            out[at : at + size] = (value + delta).to_bytes(size, "big")
    return at + size


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
