"""PNG image data that ends before its last row is corrupt, as libpng and libvips say."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from chalicelib.core.errors import CorruptImage
from tests.support import imagegen
from tests.support.helpers import StageRecorder
from worker.imaging.png import ADAM7_PASSES, check_complete, expected_bytes
from worker.imaging.process import ImageLimits, process_image

LIMITS = ImageLimits(max_pixels=50_000_000, max_dimension=20_000, max_frames=50)


def png_with_rows(width: int, height: int, rows: int, interlace: int = 0) -> bytes:
    """An RGB PNG whose one IDAT holds a complete zlib stream of only ``rows`` rows."""
    raw = b"".join(b"\x00" + bytes([200, 100, 50]) * width for _ in range(rows))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + imagegen.png_chunk(b"IHDR", header)
        + imagegen.png_chunk(b"IDAT", zlib.compress(raw))
        + imagegen.png_chunk(b"IEND", b"")
    )


def test_half_the_rows_is_corrupt() -> None:
    data = png_with_rows(32, 32, 16)
    Image.open(io.BytesIO(data)).load()  # Pillow: no error, the bottom half black
    with pytest.raises(CorruptImage, match="ends early"):
        process_image(data, "", None, LIMITS, StageRecorder())


def test_every_row_present_completes() -> None:
    report = process_image(png_with_rows(32, 32, 32), "", None, LIMITS, StageRecorder())
    assert report.facts["width"] == 32


@pytest.mark.parametrize(
    ("size", "depth", "colour", "interlaced", "expected"),
    [
        ((32, 32), 8, 2, False, 32 * (1 + 96)),
        ((10, 3), 1, 0, False, 3 * (1 + 2)),
        ((16, 16), 16, 6, False, 16 * (1 + 16 * 8)),
        # Adam7 on 8x8: passes of 1x1, 1x1, 2x1, 2x2, 4x2, 4x4, 8x4 pixels.
        ((8, 8), 8, 0, True, 2 + 2 + 3 + 2 * 3 + 2 * 5 + 4 * 5 + 4 * 9),
        ((1, 1), 8, 0, True, 2),
    ],
)
def test_expected_bytes(
    size: tuple[int, int], depth: int, colour: int, interlaced: bool, expected: int
) -> None:
    assert expected_bytes(*size, depth, colour, interlaced) == expected


def interlaced_png(pixels: np.ndarray, passes: int = 7) -> bytes:
    """An Adam7 RGB PNG of ``pixels``, its data holding only the first ``passes`` passes."""
    raw = bytearray()
    for x, y, dx, dy in ADAM7_PASSES[:passes]:
        part = pixels[y::dy, x::dx]
        if part.size:
            for row in part:
                raw += b"\x00" + row.tobytes()
    height, width = pixels.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + imagegen.png_chunk(b"IHDR", header)
        + imagegen.png_chunk(b"IDAT", zlib.compress(bytes(raw)))
        + imagegen.png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(37, 23), (1, 1), (5, 9)])
def test_interlaced_pngs(size: tuple[int, int]) -> None:
    pixels = np.random.default_rng(3).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    whole = interlaced_png(pixels)
    assert (np.asarray(Image.open(io.BytesIO(whole)).convert("RGB")) == pixels).all()
    check_complete(whole)
    if size != (1, 1):
        with pytest.raises(CorruptImage):
            check_complete(interlaced_png(pixels, passes=6))
