"""What an image's header says, read without decoding and without Pillow: size and frames.

The API reads it at submit to price a job (``chalicelib.media.cost``) before anything is
queued; the worker reads the same facts from Pillow and holds the job to the same
price. Each reader walks only the container's structure (segments, chunks, boxes,
blocks); anything it cannot read gives ``None``, and the worker then decides from
the real decode.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from chalicelib.core.errors import ImageTooLarge, UnsupportedImage
from chalicelib.media.formats import sniff
from chalicelib.media.isobmff import primary_item, sequence_frames

# More frames than any accepted source has (MAX_IMAGE_FRAMES is far lower): a header
# claiming more is read as this many.
MAX_FRAMES = 100_000
# The most scans a JPEG may have (libjpeg-turbo's tools refuse more with `-maxscans`):
# a progressive JPEG has about 10 (jpegtran, mozjpeg: up to a few dozen). Each scan
# is a pass over the picture's coefficients, and a scan of a few end-of-band codes
# takes 27 bytes: 30,000 such scans of a 4000x3000 picture decode in a minute.
MAX_JPEG_SCANS = 100
# A marker after entropy-coded data: 0xFF followed by neither a stuffed zero, a restart
# marker nor a fill byte. Searched by the regex engine, not a byte at a time in Python.
_JPEG_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
# The most segments or chunks a walker steps over, one Python step each: far more than
# any real file has (a progressive JPEG has about 25 segments, a PNG a dozen chunks
# before its data), and a bound on a body of tiny ones (a 4-byte JPEG comment, a
# 12-byte PNG chunk, a 2-byte GIF sub-block: millions in 10 MB).
MAX_WALK_STEPS = 10_000
# A GIF's sub-blocks are stepped over one at a time when an encoder cuts them short of
# 255 bytes (about 40,000 in 10 MB): its walk may take this many (about 50 ms).
MAX_GIF_STEPS = 50_000


@dataclass(frozen=True)
class ImageHeader:
    """The facts a header states: stored size (before any EXIF rotation) and frames."""

    format: str
    width: int
    height: int
    frames: int = 1


def read_header(data: bytes) -> ImageHeader | None:
    """The header facts of ``data`` (the first bytes of a file may do), or None."""
    found = sniff(data)
    if found is None:
        return None
    reader = _READERS.get(found.name)
    try:
        size = reader(data) if reader else None
    except (struct.error, IndexError, ValueError):
        return None
    if size is None:
        return None
    width, height, frames = size
    if width < 1 or height < 1:
        return None
    return ImageHeader(found.name, width, height, max(1, frames))


def check_dimensions(width: int, height: int, max_pixels: int, max_dimension: int) -> None:
    """``ImageTooLarge`` for a size over ``MAX_IMAGE_DIMENSION`` a side or ``MAX_IMAGE_PIXELS``."""
    if width > max_dimension or height > max_dimension:
        raise ImageTooLarge(
            f"The image is {width}x{height}; each side must be at most {max_dimension}."
        )
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} ({width * height} pixels); "
            f"at most {max_pixels} pixels are allowed."
        )


def check_frames(frames: int, max_frames: int) -> None:
    """``ImageTooLarge`` for more frames than ``MAX_IMAGE_FRAMES``."""
    if frames > max_frames:
        raise ImageTooLarge(f"The image has {frames} frames; at most {max_frames} are allowed.")


def jpeg_scans(data: bytes, limit: int = MAX_JPEG_SCANS) -> int:
    """The scans (start-of-scan segments) of a JPEG up to its end of image, counted up to
    ``limit + 1`` (and no further): what its header does not say about its decoding cost.

    Walks the segments by their lengths and skips each scan's entropy-coded data with
    one regex search, so the time is linear in the data with a C-speed constant."""
    scans, at, end = 0, 2, len(data)
    for _ in range(MAX_WALK_STEPS):
        if at + 4 > end:
            break
        if data[at] != 0xFF or data[at + 1] in (0x00, 0xFF) or 0xD0 <= data[at + 1] <= 0xD7:
            found = _JPEG_MARKER.search(data, at)
            if found is None:
                break
            at = found.start()
        marker = data[at + 1]
        if marker == 0xD9:  # end of image
            break
        if marker in (0xD8, 0x01):
            at += 2
            continue
        (length,) = struct.unpack_from(">H", data, at + 2)
        if marker == 0xDA:
            scans += 1
            if scans > limit:
                break
        at += 2 + max(length, 2)
    else:
        return limit + 1  # a body of tiny segments: refused like a scan bomb
    return scans


def check_jpeg_scans(data: bytes) -> None:
    """``UnsupportedImage`` for a JPEG of more than ``MAX_JPEG_SCANS`` scans (the bytes
    at hand: the whole file, or its first bytes, which already hold a bomb's scans)."""
    scans = jpeg_scans(data)
    if scans > MAX_JPEG_SCANS:
        raise UnsupportedImage(
            f"The JPEG has more than {MAX_JPEG_SCANS} scans (or {MAX_WALK_STEPS} segments); "
            f"at most {MAX_JPEG_SCANS} are supported (a progressive JPEG has about 10)."
        )


def _jpeg(data: bytes) -> tuple[int, int, int] | None:
    at = 2
    for _ in range(MAX_WALK_STEPS):
        if at + 4 > len(data):
            break
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        (length,) = struct.unpack_from(">H", data, at + 2)
        # Start of frame: baseline, extended, progressive, lossless (not DHT, JPG, DAC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack_from(">HH", data, at + 5)
            return width, height, 1
        at += 2 + length
    return None


def _png(data: bytes) -> tuple[int, int, int] | None:
    width, height = struct.unpack_from(">II", data, 16)
    animation_frames = 0
    at = 8
    # An animated PNG declares its frames in acTL, before the first IDAT. They are the
    # frames that play: a default image without an fcTL before IDAT is not one of them.
    for _ in range(MAX_WALK_STEPS):
        if at + 8 > len(data):
            break
        length, kind = struct.unpack_from(">I4s", data, at)
        if kind == b"acTL":
            (animation_frames,) = struct.unpack_from(">I", data, at + 8)
        elif kind in (b"IDAT", b"IEND"):
            break
        at += 12 + length
    if not animation_frames:
        return width, height, 1
    return width, height, min(animation_frames, MAX_FRAMES)


def gif_frames(data: bytes) -> tuple[int, tuple[int, int]]:
    """How many frames a GIF has, and the canvas all of them together reach.

    A walk over the block structure (no LZW decoding); a truncated file gives what was
    read so far.
    """
    if len(data) < 13:
        return 0, (0, 0)
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    steps = [0]
    while at < len(data):
        if steps[0] > MAX_GIF_STEPS:
            # Blocks cut this small are no encoder's: count them as too many frames.
            return MAX_FRAMES, (width, height)
        steps[0] += 1
        kind = data[at]
        if kind == 0x2C and at + 10 <= len(data):  # image descriptor
            left, top, w, h, local = struct.unpack_from("<HHHHB", data, at + 1)
            width, height = max(width, left + w), max(height, top + h)
            frames += 1
            at += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1  # + LZW code size
        elif kind == 0x21:  # extension: label, then sub-blocks
            at += 2
        else:  # the trailer, or garbage
            break
        at = _skip_sub_blocks(data, at, steps)
    return frames, (width, height)


# Bytes of sub-blocks looked at per step (a frame's data rarely runs longer).
_SKIP_WINDOW = 256 * 1024


def _skip_sub_blocks(data: bytes, at: int, steps: list[int]) -> int:
    """Where the sub-blocks starting at ``at`` end (just past their zero terminator).

    Image data comes in full 255-byte sub-blocks, so their length bytes sit 256 bytes
    apart: the run of them is skipped at once (a strided slice, stripped of 0xFF),
    rather than one sub-block at a time in Python, which took milliseconds per MB.
    Each step counts in ``steps[0]``, and the walk stops past ``MAX_GIF_STEPS``.
    """
    while at < len(data) and data[at] and steps[0] <= MAX_GIF_STEPS:
        steps[0] += 1
        lengths = data[at : at + _SKIP_WINDOW : 256]
        full = len(lengths) - len(lengths.lstrip(b"\xff"))
        if full:
            at += 256 * full
            continue
        at += data[at] + 1
    return at + 1


def _gif(data: bytes) -> tuple[int, int, int] | None:
    width, height = struct.unpack_from("<HH", data, 6)
    frames, _ = gif_frames(data)
    return width, height, frames


def _webp(data: bytes) -> tuple[int, int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        frames = 0
        at = 12
        while at + 8 <= len(data):
            chunk, length = data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "little")
            frames += chunk == b"ANMF"
            if frames >= MAX_FRAMES:
                break
            at += 8 + length + (length & 1)
        return width, height, frames or 1
    if kind == b"VP8 ":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF, 1
    if kind == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    return None


def _bmp(data: bytes) -> tuple[int, int, int] | None:
    (header,) = struct.unpack_from("<I", data, 14)
    if header == 12:  # OS/2 1.x
        width, height = struct.unpack_from("<HH", data, 18)
        return width, height, 1
    width, height = struct.unpack_from("<ii", data, 18)
    return width, abs(height), 1  # a negative height is a top-down bitmap


def _tiff(data: bytes) -> tuple[int, int, int] | None:
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    offset_format = order + ("Q" if big else "I")
    count_format, entry_size = (order + "Q", 20) if big else (order + "H", 12)
    offset = struct.unpack_from(offset_format, data, 8 if big else 4)[0]
    size: tuple[int, int] | None = None
    pages = 0
    seen: set[int] = set()
    # The first IFD gives the size; the chain of IFDs counts the pages.
    while offset and offset not in seen and offset + 8 <= len(data) and pages < MAX_FRAMES:
        seen.add(offset)
        (count,) = struct.unpack_from(count_format, data, offset)
        at = offset + (8 if big else 2)
        if size is None:
            tags: dict[int, int] = {}
            for _ in range(min(count, 512)):
                tag, kind = struct.unpack_from(order + "HH", data, at)
                value_at = at + (12 if big else 8)
                if tag in (256, 257):
                    value_format = order + ("H" if kind == 3 else "I")
                    tags[tag] = struct.unpack_from(value_format, data, value_at)[0]
                at += entry_size
            if 256 not in tags or 257 not in tags:
                return None
            size = (tags[256], tags[257])
        pages += 1
        next_at = offset + (8 if big else 2) + count * entry_size
        if next_at + 8 > len(data):
            break
        offset = struct.unpack_from(offset_format, data, next_at)[0]
    if size is None:
        return None
    return size[0], size[1], max(pages, 1)


def _isobmff(data: bytes) -> tuple[int, int, int] | None:
    """The primary image's size as shown (its clean aperture when it has one) and, for
    an image sequence, the pictures of its track."""
    frames = min(sequence_frames(data) or 1, MAX_FRAMES)
    item = primary_item(data)
    if item is not None and item.size is not None:
        width, height = item.clean_aperture[2:] if item.clean_aperture else item.size
        return width, height, frames
    # No readable item structure (a cut header): the first spatial extent ("ispe") is
    # the largest in the files phones and encoders write (thumbnails come after).
    at = data.find(b"ispe")
    if at < 4:
        return None
    width, height = struct.unpack_from(">II", data, at + 8)
    return width, height, frames


_READERS = {
    "jpeg": _jpeg,
    "png": _png,
    "gif": _gif,
    "webp": _webp,
    "bmp": _bmp,
    "tiff": _tiff,
    "heif": _isobmff,
    "avif": _isobmff,
}
