"""Test images made in code: every input format, rotated photos with EXIF and GPS, bombs."""

from __future__ import annotations

import io
import struct
import zlib

import pillow_heif
from PIL import Image, ImageDraw

RED = (220, 20, 20)
GREEN = (20, 200, 40)
BLUE = (30, 60, 220)
BACKGROUND = (235, 235, 235)


def marked_image(width: int = 400, height: int = 300, mode: str = "RGB") -> Image.Image:
    """A light image with a red square in its top-left corner (``width`` x ``height``)."""
    image = Image.new(mode, (width, height), BACKGROUND if mode == "RGB" else (*BACKGROUND, 255))
    side = max(4, min(width, height) // 5)
    image.paste(RED if mode == "RGB" else (*RED, 255), (0, 0, side, side))
    return image


def exif_bytes(
    orientation: int | None = 6,
    gps: bool = True,
    make: str = "TestMake",
    model: str = "TestModel 1",
    taken_at: str = "2023:05:01 12:34:56",
) -> bytes:
    """EXIF with camera make and model, capture time, an orientation and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    if orientation is not None:
        exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = taken_at
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    return exif.tobytes()


def rotated_jpeg(
    width: int = 400, height: int = 300, orientation: int = 6, gps: bool = True
) -> bytes:
    """A JPEG stored sideways: the red marker is top-left in storage, EXIF says ``orientation``.

    Shown upright with orientation 6 (rotate 90 degrees clockwise) the marker ends up in
    the top-right corner and the picture is ``height`` x ``width``.
    """
    buffer = io.BytesIO()
    marked_image(width, height).save(
        buffer, "JPEG", quality=90, exif=exif_bytes(orientation=orientation, gps=gps)
    )
    return buffer.getvalue()


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    """``image`` saved as ``fmt`` (a Pillow format name)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(width: int = 400, height: int = 300, **params: object) -> bytes:
    return encoded(marked_image(width, height), "JPEG", **{"quality": 90, **params})


def png_with_alpha(width: int = 300, height: int = 200) -> bytes:
    """An RGBA PNG: the left half fully transparent, the right half opaque blue."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((*BLUE, 255), (width // 2, 0, width, height))
    return encoded(image, "PNG")


def animated(fmt: str = "GIF", frames: int = 4, size: tuple[int, int] = (120, 80)) -> bytes:
    """An animation whose frames are solid red, green, blue, ... (100 ms each)."""
    colors = [RED, GREEN, BLUE, (240, 200, 0), (0, 200, 200), (200, 0, 200)]
    images = [Image.new("RGB", size, colors[i % len(colors)]) for i in range(frames)]
    return encoded(images[0], fmt, save_all=True, append_images=images[1:], duration=100, loop=0)


def webp(width: int = 300, height: int = 200) -> bytes:
    return encoded(marked_image(width, height), "WEBP", quality=90)


def bmp(width: int = 300, height: int = 200) -> bytes:
    return encoded(marked_image(width, height), "BMP")


def tiff(width: int = 300, height: int = 200) -> bytes:
    return encoded(marked_image(width, height), "TIFF")


def heic(width: int = 300, height: int = 200, exif: bytes | None = None) -> bytes:
    """A HEIC (HEVC in HEIF), as iPhones write, through pillow-heif."""
    heif = pillow_heif.from_pillow(marked_image(width, height))
    buffer = io.BytesIO()
    params = {"exif": exif} if exif else {}
    heif.save(buffer, quality=90, **params)
    return buffer.getvalue()


def avif(width: int = 300, height: int = 200) -> bytes:
    return encoded(marked_image(width, height), "AVIF", quality=90)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny, well-formed PNG whose header declares ``width`` x ``height`` pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10" fill="red"/></svg>'
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    b"newpath 0 0 moveto 10 10 lineto stroke\n%%EOF\n"
)


def busy_patch(size: tuple[int, int], spot: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A calm grey picture with one busy, skin-toned patch centred on ``spot``."""
    image = Image.new(mode, size, (128, 128, 128, 255) if mode == "RGBA" else (128, 128, 128))
    draw = ImageDraw.Draw(image)
    x, y = spot
    r = min(size) // 10
    draw.ellipse((x - r, y - r, x + r, y + r), fill=(224, 172, 140))
    for i in range(-r, r, max(2, r // 6)):
        draw.line((x + i, y - r, x + i, y + r), fill=(40, 30, 20), width=1)
    return image


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """A JPEG's segments as (marker, bytes), each scan's entropy-coded data with its SOS."""
    segments: list[tuple[int, bytes]] = []
    at = 2
    while at < len(data):
        marker = data[at + 1]
        if marker == 0xD9:
            break
        (length,) = struct.unpack_from(">H", data, at + 2)
        end = at + 2 + length
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        segments.append((marker, data[at:end]))
        at = end
    return segments


def _comments(size: int) -> bytes:
    out = b""
    while size > 0:
        chunk = min(size, 65_000)
        out += b"\xff\xfe" + struct.pack(">H", chunk + 2) + b"\x00" * chunk
        size -= chunk
    return out


def progressive_scan_bomb(
    width: int = 4000,
    height: int = 3000,
    scans: int = 30_000,
    padding: int = 0,
    gap_after_frame: int = 0,
) -> bytes:
    """A valid progressive greyscale JPEG of ``scans`` scans, each a few bytes.

    A flat picture's AC scans are end-of-band runs only; the last AC scan (with the
    Huffman table before it) is repeated until there are ``scans``. libjpeg decodes
    every one (a repeated scan is a warning), each a pass over all the blocks.
    ``padding`` bytes of comment before the frame push the scans that far in;
    ``gap_after_frame`` bytes after it keep the size in the first bytes and the scans
    past them.
    """
    base = encoded(Image.new("L", (width, height), 128), "JPEG", progressive=True, quality=75)
    segments = _jpeg_segments(base)
    last_scan = max(i for i, (marker, _) in enumerate(segments) if marker == 0xDA)
    repeat = segments[last_scan][1]
    if segments[last_scan - 1][0] == 0xC4:
        repeat = segments[last_scan - 1][1] + repeat
    existing = sum(1 for marker, _ in segments if marker == 0xDA)
    head = b"\xff\xd8" + _comments(padding)
    body = b"".join(
        part + (_comments(gap_after_frame) if marker == 0xC2 else b"") for marker, part in segments
    )
    return head + body + repeat * max(0, scans - existing) + b"\xff\xd9"


def tiff_page_chain(pages: int = 40_000, first_ifd_at: int = 70_000, loop: bool = False) -> bytes:
    """A little-endian TIFF of ``pages`` 1x1 bilevel pages whose IFD chain starts at
    ``first_ifd_at`` (past the first bytes a reader may look at); ``loop`` points the
    last page back at the first."""
    pixel_at = 8
    entry_count = 8
    ifd_size = 2 + entry_count * 12 + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", first_ifd_at) + b"\x00")
    out += b"\x00" * (first_ifd_at - len(out))
    for page in range(pages):
        at = first_ifd_at + page * ifd_size
        last = page == pages - 1
        following = (first_ifd_at if loop else 0) if last else at + ifd_size
        entries = [
            (256, 3, 1, 1),  # width
            (257, 3, 1, 1),  # height
            (258, 3, 1, 1),  # bits per sample
            (259, 3, 1, 1),  # no compression
            (262, 3, 1, 0),  # white is zero
            (273, 4, 1, pixel_at),  # strip offsets
            (278, 3, 1, 1),  # rows per strip
            (279, 4, 1, 1),  # strip byte counts
        ]
        out += struct.pack("<H", entry_count)
        for tag, kind, count, value in entries:
            out += struct.pack("<HHII", tag, kind, count, value)
        out += struct.pack("<I", following)
    return bytes(out)
