"""PNG's structure checked without decoding: the strict pre-check, and completeness.

``precheck`` walks the chunks once (CRCs, IEND, text caps, the APNG rules) and passes
only files that hold nothing Pillow refuses; those go to libspng
(``worker/imaging/png_decode.py``), which also refuses image data that ends early.

``check_complete`` is for what Pillow decodes instead. A PNG whose zlib stream ends
early (right CRCs, IEND present) decodes in Pillow without an error, the missing rows
left black; libpng, libspng and libvips refuse it. The check inflates the default
image's ``IDAT`` data once more, counting bytes in 1 MiB steps (nothing kept), and
stops as soon as every row is there: no memory to speak of, and about half the
decode's time (a 6 MP photo-like RGB PNG: 63 ms beside Pillow's 132 ms decode; the
pre-check takes 2.5 ms and libspng 100 ms: ``python -m bench.png_decode``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from chalicelib.core.errors import CorruptImage

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7: each pass's first column and row and its steps.
ADAM7_PASSES = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
_STEP = 1 << 20


def expected_bytes(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """The filtered image data's length: each row's filter byte and its packed samples."""
    bits = depth * _CHANNELS.get(colour, 4)

    def rows(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if not interlaced:
        return rows(width, height)
    return sum(
        rows(
            (width - x + dx - 1) // dx if width > x else 0,
            (height - y + dy - 1) // dy if height > y else 0,
        )
        for x, y, dx, dy in ADAM7_PASSES
    )


def check_complete(data: bytes) -> None:
    """``CorruptImage`` when the image data holds fewer rows than the header states.

    Damaged data (a bad zlib stream) is left to the decoder, which says so itself.
    """
    if len(data) < 33:
        return
    width, height, depth, colour, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    expected = expected_bytes(width, height, depth, colour, bool(interlace))
    inflater = zlib.decompressobj()
    produced = 0
    at = 8
    try:
        while at + 8 <= len(data) and produced < expected:
            length, kind = struct.unpack_from(">I4s", data, at)
            if kind == b"IDAT":
                pending = data[at + 8 : at + 8 + length]
                while pending and produced < expected:
                    produced += len(inflater.decompress(pending, _STEP))
                    pending = inflater.unconsumed_tail
                    if inflater.eof:
                        break
            elif kind == b"IEND" or (produced and kind != b"IDAT"):
                break
            if inflater.eof:
                break
            at += 12 + length
    except zlib.error:
        return
    if produced < expected:
        raise CorruptImage(
            f"The PNG's image data ends early: {produced} of its {expected} bytes are there."
        )


# --- The strict pre-check ---------------------------------------------------------------

# Pillow's own caps on text chunks (PngImagePlugin.MAX_TEXT_CHUNK, MAX_TEXT_MEMORY): a
# compressed text over the first, or all text over the second, makes Pillow refuse the file.
MAX_TEXT_CHUNK = 1 << 20
MAX_TEXT_MEMORY = 64 * MAX_TEXT_CHUNK
_TEXT = (b"tEXt", b"zTXt", b"iTXt")
# What may follow the image data in a file the fast decoders take: text, time, EXIF and
# the animation's chunks. Pillow reads what follows the image data while it loads, and a
# malformed chunk there can fail the load; anything else goes to Pillow, which decides.
_AFTER_IDAT = frozenset({*_TEXT, b"tIME", b"eXIf", b"fcTL", b"fdAT", b"IEND"})
# Colour types and the bit depths PNG allows for each.
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_TRNS_LENGTH = {0: 2, 2: 6}
SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chunks walked at most (a 1.6 GB file of 8 KB IDAT chunks, libpng's size): a file of
# more tiny chunks is left to Pillow rather than walked here in Python.
MAX_CHUNKS = 200_000


@dataclass(frozen=True)
class PngLayout:
    """What the pre-check read from a PNG that passed it."""

    width: int
    height: int
    depth: int
    colour: int  # the IHDR colour type: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
    interlaced: bool
    transparent_colour: bool  # a tRNS chunk
    animated: bool  # a valid acTL

    @property
    def channels(self) -> int:
        return _CHANNELS[self.colour]


class _Refused(Exception):
    """The file breaks a rule: it is not passed to a fast decoder."""


def precheck(data: bytes) -> PngLayout | None:
    """The layout of a PNG every rule of which holds, else None (then Pillow decides).

    The rules, stricter than Pillow's and libspng's: the signature, then IHDR (valid
    sizes, depth and colour type, methods 0), every chunk whole with its CRC right, PLTE
    where a palette needs it, one unbroken run of IDAT chunks, only text, time, EXIF and
    animation chunks after it, IEND present (anything after it is ignored, as every
    decoder does); text chunks within Pillow's caps once inflated; and an animation's
    chunks by the APNG rules (one acTL before the image data, fcTL and fdAT numbered
    from 0 without a gap, as many fcTL as acTL declares, each frame inside the canvas,
    an fcTL before the image data covering all of it). A file that passes holds nothing
    Pillow refuses to read; whether its image data is whole is the decoder's to find
    (libspng refuses a stream that ends early, where Pillow leaves the rows black).
    About 1 ms for a 4 MB file: the CRCs are most of it.
    """
    try:
        return _precheck(data)
    except (_Refused, struct.error, zlib.error):
        return None


def _precheck(data: bytes) -> PngLayout:
    if not data.startswith(SIGNATURE):
        raise _Refused("signature")
    view = memoryview(data)
    at = len(SIGNATURE)
    previous = b""
    chunks = 0
    ihdr: tuple[int, ...] = ()
    idat_run = "before"  # before, in, after
    text_memory = 0
    frames_declared = 0
    fctl_count = 0
    sequence = 0
    has_trns = has_plte = animated = False
    while True:
        if at + 12 > len(data):
            raise _Refused("cut short")
        length, kind = struct.unpack_from(">I4s", data, at)
        end = at + 12 + length
        if length > 0x7FFFFFFF or end > len(data) or not kind.isalpha():
            raise _Refused("chunk")
        body = view[at + 8 : at + 8 + length]
        (crc,) = struct.unpack_from(">I", data, at + 8 + length)
        if zlib.crc32(view[at + 4 : at + 8 + length]) != crc:
            raise _Refused("crc")
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise _Refused("too many chunks")
        if not previous:
            if kind != b"IHDR" or length != 13:
                raise _Refused("IHDR")
            ihdr = struct.unpack(">IIBBBBB", body)
            width, height, depth, colour, compression, filtering, interlace = ihdr
            if not (0 < width <= 0x7FFFFFFF and 0 < height <= 0x7FFFFFFF):
                raise _Refused("size")
            if depth not in _DEPTHS.get(colour, ()) or compression or filtering:
                raise _Refused("IHDR fields")
            if interlace not in (0, 1):
                raise _Refused("interlace")
        elif kind == b"IHDR":
            raise _Refused("second IHDR")
        if kind == b"IDAT":
            if idat_run == "after":
                raise _Refused("IDAT run broken")
            idat_run = "in"
        elif idat_run == "in":
            idat_run = "after"
        if idat_run == "after" and kind not in _AFTER_IDAT:
            raise _Refused(f"{kind!r} after the image data")
        colour = ihdr[3]
        if kind == b"PLTE":
            if has_plte or idat_run != "before" or length % 3 or not 3 <= length <= 768:
                raise _Refused("PLTE")
            if has_trns:
                raise _Refused("PLTE after tRNS")  # libspng refuses the order, Pillow not
            has_plte = True
        elif kind == b"tRNS":
            if has_trns or idat_run != "before" or colour in (4, 6):
                raise _Refused("tRNS")
            if colour == 3 and (not has_plte or length > 256):
                raise _Refused("tRNS")
            if colour in _TRNS_LENGTH and length != _TRNS_LENGTH[colour]:
                raise _Refused("tRNS")
            has_trns = True
        elif kind in _TEXT:
            text_memory += _text_length(kind, bytes(body))
            if text_memory > MAX_TEXT_MEMORY:
                raise _Refused("text memory")
        elif kind == b"acTL":
            if animated or idat_run != "before" or length != 8:
                raise _Refused("acTL")
            frames_declared = struct.unpack_from(">I", body)[0]
            if not 0 < frames_declared <= 0x80000000:
                raise _Refused("acTL frames")
            animated = True
        elif kind in (b"fcTL", b"fdAT"):
            if not animated or length < 4 or struct.unpack_from(">I", body)[0] != sequence:
                raise _Refused("animation sequence")
            sequence += 1
            if kind == b"fcTL":
                _check_fctl(bytes(body), ihdr, before_idat=idat_run == "before")
                fctl_count += 1
            elif idat_run == "before" or previous not in (b"fcTL", b"fdAT"):
                raise _Refused("fdAT")
        elif kind == b"IEND":
            if length or idat_run == "before":
                raise _Refused("IEND")
            break
        previous = kind
        at = end
    if colour == 3 and not has_plte:
        raise _Refused("no palette")
    if animated and fctl_count != frames_declared:
        raise _Refused("frame count")
    width, height, depth, colour, _, _, interlace = ihdr
    return PngLayout(width, height, depth, colour, bool(interlace), has_trns, animated)


def _check_fctl(body: bytes, ihdr: tuple[int, ...], before_idat: bool) -> None:
    if len(body) != 26:
        raise _Refused("fcTL length")
    _, width, height, left, top, _, _, dispose, blend = struct.unpack(">IIIIIHHBB", body)
    if width == 0 or height == 0 or left + width > ihdr[0] or top + height > ihdr[1]:
        raise _Refused("fcTL region")
    if dispose > 2 or blend > 1:
        raise _Refused("fcTL ops")
    if before_idat and (left, top, width, height) != (0, 0, ihdr[0], ihdr[1]):
        raise _Refused("fcTL of the default image")


def _text_length(kind: bytes, body: bytes) -> int:
    """The text's length once inflated, refusing what Pillow would: an unknown
    compression method or an inflation past MAX_TEXT_CHUNK (and malformed zlib data,
    which Pillow drops silently, here refused to stay simple)."""
    keyword, separator, rest = body.partition(b"\0")
    if not separator or not 1 <= len(keyword) <= 79:
        raise _Refused("text keyword")
    if kind == b"tEXt":
        return len(rest)
    if kind == b"zTXt":
        if not rest or rest[0] != 0:
            raise _Refused("zTXt method")
        return len(_inflate_capped(rest[1:]))
    if len(rest) < 2:
        raise _Refused("iTXt")
    flag, method, rest = rest[0], rest[1], rest[2:]
    if rest.count(b"\0") < 2:
        raise _Refused("iTXt")
    text = rest.split(b"\0", 2)[2]
    if flag == 0:
        return len(text)
    if flag != 1 or method != 0:
        raise _Refused("iTXt method")
    return len(_inflate_capped(text))


def _inflate_capped(compressed: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(compressed, MAX_TEXT_CHUNK)
    if inflater.unconsumed_tail or not inflater.eof:
        raise _Refused("text inflation")
    return text
