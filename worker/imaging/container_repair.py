"""HEIF/AVIF containers rewritten box by box: properties added and associated with items.

libavif (Pillow's AVIF plugin, whose strictness cannot be relaxed from Python) refuses
an AVIF whose alpha auxiliary image has no ``ispe`` property, as early encoders
(libavif before 0.8.2, among others) wrote them; libheif and libvips show them. The
alpha plane is the size of the colour image it belongs to, so the repair associates
the primary image's ``ispe`` with every image item that lacks one, and the file opens.
The same rewriting builds the test files that carry ``clap``, ``irot`` and ``imir``
(tests/support/isobmff.py).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from chalicelib.media.isobmff import _boxes

# Item types of coded images, whose items need an ispe.
_IMAGE_ITEMS = (b"av01", b"hvc1")


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


Associations = dict[int, list[tuple[int, bool]]]  # item id -> (property index, essential)


def read_ipma(payload: bytes) -> tuple[int, int, Associations]:
    """An ``ipma`` payload's version, flags and each item's (index, essential) list."""
    version, flags = payload[0], int.from_bytes(payload[1:4], "big")
    (count,) = struct.unpack_from(">I", payload, 4)
    at = 8
    items: Associations = {}
    for _ in range(count):
        (item,) = struct.unpack_from(">I" if version >= 1 else ">H", payload, at)
        at += 4 if version >= 1 else 2
        listed = payload[at]
        at += 1
        found = []
        for _ in range(listed):
            if flags & 1:
                (value,) = struct.unpack_from(">H", payload, at)
                found.append((value & 0x7FFF, bool(value & 0x8000)))
                at += 2
            else:
                found.append((payload[at] & 0x7F, bool(payload[at] & 0x80)))
                at += 1
        items[item] = found
    return version, flags, items


def write_ipma(version: int, flags: int, items: Associations) -> bytes:
    wide = flags & 1 or any(i > 0x7F for listed in items.values() for i, _ in listed)
    flags = flags | 1 if wide else flags
    body = bytearray(struct.pack(">I", len(items)))
    for item, listed in items.items():
        body += struct.pack(">I" if version >= 1 else ">H", item) + bytes([len(listed)])
        for index, essential in listed:
            if wide:
                body += struct.pack(">H", index | (0x8000 if essential else 0))
            else:
                body += bytes([index | (0x80 if essential else 0)])
    return full_box(b"ipma", version, flags, bytes(body))


def rebuilt(
    data: bytes, properties: Sequence[bytes], edit: Callable[[Associations], None]
) -> bytes:
    """``data`` with ``properties`` appended to ``ipco`` and its associations changed by
    ``edit`` (indices count from 1 over the existing properties, then the new ones);
    the ``iloc`` offsets past the grown ``meta`` box moved."""
    out = bytearray()
    delta, meta_end = 0, 0
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind != b"meta":
            out += data[start - 8 : end]
            continue
        meta_end = end
        body = bytearray(data[start : start + 4])
        for child, child_start, child_end in _boxes(data, start + 4, end):
            if child == b"iprp":
                body += _rebuilt_iprp(data, child_start, child_end, properties, edit)
            else:
                body += data[child_start - 8 : child_end]
        grown = box(b"meta", bytes(body))
        delta = len(grown) - (end - start + 8)
        out += grown
    return _moved_iloc(bytes(out), delta, meta_end)


def _rebuilt_iprp(
    data: bytes,
    start: int,
    end: int,
    properties: Sequence[bytes],
    edit: Callable[[Associations], None],
) -> bytes:
    body = bytearray()
    for kind, child_start, child_end in _boxes(data, start, end):
        if kind == b"ipco":
            body += box(b"ipco", data[child_start:child_end] + b"".join(properties))
        elif kind == b"ipma":
            version, flags, items = read_ipma(data[child_start:child_end])
            edit(items)
            body += write_ipma(version, flags, items)
        else:
            body += data[child_start - 8 : child_end]
    return box(b"iprp", bytes(body))


def _moved_iloc(data: bytes, delta: int, after: int) -> bytes:
    """``data`` with every iloc offset at or past ``after`` moved by ``delta``."""
    if not delta:
        return data
    out = bytearray(data)
    meta = next((s, e) for k, s, e in _boxes(data, 0, len(data)) if k == b"meta")
    iloc = next((s, e) for k, s, e in _boxes(data, meta[0] + 4, meta[1]) if k == b"iloc")
    at = iloc[0]
    version = data[at]
    sizes = data[at + 4] << 8 | data[at + 5]
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 15
    base_size, index_size = (sizes >> 4) & 15, (sizes & 15) if version in (1, 2) else 0
    at += 6
    (count,) = struct.unpack_from(">H" if version < 2 else ">I", data, at)
    at += 2 if version < 2 else 4
    for _ in range(count):
        at += 2 if version < 2 else 4  # item id
        method = 0
        if version in (1, 2):
            method = data[at + 1] & 15
            at += 2
        at += 2  # data reference index
        # Only offsets into the file move (construction method 0); idat's are relative.
        moves = method == 0
        at = _move(out, at, base_size, delta if moves else 0, after)
        (extents,) = struct.unpack_from(">H", data, at)
        at += 2
        for _ in range(extents):
            at += index_size
            at = _move(out, at, offset_size, delta if moves else 0, after)
            at += length_size
    return bytes(out)


def _move(out: bytearray, at: int, size: int, delta: int, after: int) -> int:
    if size and delta:
        value = int.from_bytes(out[at : at + size], "big")
        if value >= after:
            out[at : at + size] = (value + delta).to_bytes(size, "big")
    return at + size


def with_alpha_ispe(data: bytes) -> bytes | None:
    """``data`` with the primary image's ``ispe`` associated with each image item that
    has none (an early encoder's alpha plane); None when nothing lacks one or the
    container is not what this repair knows."""
    try:
        return _with_alpha_ispe(data)
    except (struct.error, IndexError, ValueError, StopIteration):
        return None


def _with_alpha_ispe(data: bytes) -> bytes | None:
    meta = next((s, e) for k, s, e in _boxes(data, 0, len(data)) if k == b"meta")
    children = _boxes(data, meta[0] + 4, meta[1])
    iprp = next((s, e) for k, s, e in children if k == b"iprp")
    iprp_children = _boxes(data, *iprp)
    ipco = next((s, e) for k, s, e in iprp_children if k == b"ipco")
    ipma = next((s, e) for k, s, e in iprp_children if k == b"ipma")
    kinds = [k for k, _, _ in _boxes(data, *ipco)]
    _, _, items = read_ipma(data[ipma[0] : ipma[1]])
    ispe = {item: i for item, listed in items.items() for i, _ in listed if kinds[i - 1] == b"ispe"}
    if not ispe:
        return None
    pitm = next(s for k, s, _ in children if k == b"pitm")
    (primary,) = struct.unpack_from(">H" if data[pitm] == 0 else ">I", data, pitm + 4)
    size_index = ispe.get(primary, next(iter(ispe.values())))
    image_items = _image_items(data, children)
    missing = [item for item in items if item not in ispe and item in image_items]
    if not missing:
        return None

    def add_ispe(associations: Associations) -> None:
        # ispe is descriptive: it goes before any transformative property of the item.
        for item in missing:
            associations[item].insert(0, (size_index, False))

    return rebuilt(data, (), add_ispe)


def _image_items(data: bytes, children: list[tuple[bytes, int, int]]) -> set[int]:
    iinf = next((s, e) for k, s, e in children if k == b"iinf")
    start = iinf[0] + 4 + (2 if data[iinf[0]] == 0 else 4)
    found = set()
    for kind, at, _ in _boxes(data, start, iinf[1]):
        if kind != b"infe" or data[at] < 2:
            continue
        wide = data[at] >= 3
        (item,) = struct.unpack_from(">I" if wide else ">H", data, at + 4)
        type_at = at + 4 + (4 if wide else 2) + 2
        if data[type_at : type_at + 4] in _IMAGE_ITEMS:
            found.add(item)
    return found
