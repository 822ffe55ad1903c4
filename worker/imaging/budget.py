"""What decoding a source costs in memory, decided from its header: the per-job decode budget."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Bytes a pixel takes in Pillow's memory, by mode. Pillow stores every 2-, 3- and
# 4-band 8-bit mode (LA, RGB, CMYK, ...) in 4 bytes a pixel, and I and F in 4.
MODE_BYTES = {
    "1": 1,
    "L": 1,
    "P": 1,
    "I;16": 2,
    "I;16B": 2,
    "I;16L": 2,
    "I;16N": 2,
}
WIDE_MODE_BYTES = 4
# The working copy every decode makes: the sRGB RGB(A) image that colour management,
# orientation and the resizes start from (4 bytes a pixel in Pillow).
WORKING_BYTES = 4
# What a codec holds beside Pillow's image while it decodes, per decoded pixel:
# libheif's RGB(A) plane plus the HEVC decoder's YUV 4:2:0 picture (1.5 bytes at
# 8 bits, twice that at 10 or 12), libavif's YUV picture plus the RGB(A) copy handed
# to Pillow; libwebp's RGBA buffer and the copy Pillow reads it through (measured:
# a 64 MP WebP adds 970 MiB to a worker, 15.9 bytes a pixel; bench/decode_budget.py).
# PNG, GIF, BMP, TIFF and JPEG decode straight into Pillow's image.
CODEC_BYTES = {"heif": 4 + 3.0, "avif": 4 + 3.0, "webp": 8.0}
# A PNG decoded in bands holds one band at once beside the reduced picture: libspng's
# samples, Pillow's band, its working and premultiplied copies (worker/imaging/png_decode.py).
BAND_BYTES_PER_PIXEL = 16
# A progressive JPEG keeps every DCT coefficient of the whole image (2 bytes each, all
# components) until the last scan, whatever scale it is decoded at.
PROGRESSIVE_COEFFICIENT_BYTES = 2


@dataclass(frozen=True)
class DecodeCost:
    """The memory a decode needs and what it is made of, for the budget's message."""

    bytes: int
    width: int  # as decoded, after shrink-on-load
    height: int
    mode: str
    frames: int

    def describe(self) -> str:
        """``"8000x6000 RGB"``, ``"40 frames of 640x480 RGBA"``."""
        picture = f"{self.width}x{self.height} {self.mode}"
        return picture if self.frames == 1 else f"{self.frames} frames of {picture}"


def decode_cost(
    width: int,
    height: int,
    mode: str,
    fmt: str,
    *,
    frames: int = 1,
    reduction: int = 1,
    progressive_bands: int = 0,
    band_pixels: int = 0,
) -> DecodeCost:
    """Memory (bytes) decoding ``frames`` frames of ``width`` x ``height`` pixels needs.

    ``width``/``height``/``mode`` are the header's full-size picture; ``reduction`` is
    the shrink-on-load factor a side (JPEG DCT scaling: 1, 2, 4 or 8); ``frames`` the
    frames actually decoded (1 for a still output, every frame when an output keeps
    the animation). ``progressive_bands`` is the component count of a progressive
    JPEG, whose coefficients are held at full size. ``band_pixels``: the pixels of one
    band of a PNG decoded in bands and shrunk by ``reduction`` as they arrive (then
    only the reduced picture, in the working mode ``mode``, and one band are held).
    Pure arithmetic, no Pillow.
    """
    decoded_w = math.ceil(width / max(reduction, 1))
    decoded_h = math.ceil(height / max(reduction, 1))
    per_pixel = MODE_BYTES.get(mode, WIDE_MODE_BYTES) + WORKING_BYTES + CODEC_BYTES.get(fmt, 0.0)
    if band_pixels:
        # Only the reduced picture is held whole, in the working mode (``mode`` is then
        # RGB or RGBA), and once more while a premultiplied one is converted back.
        per_pixel = WORKING_BYTES * (2 if mode in ("RGBA", "LA") else 1)
    total = math.ceil(frames * decoded_w * decoded_h * per_pixel)
    total += width * height * progressive_bands * PROGRESSIVE_COEFFICIENT_BYTES
    total += band_pixels * BAND_BYTES_PER_PIXEL
    return DecodeCost(total, decoded_w, decoded_h, mode, frames)


def jpeg_reduction(scale: float, gap: float = 1.0) -> int:
    """The JPEG DCT scaling (1, 2, 4 or 8 a side) for outputs at most ``scale`` of the source.

    The largest factor that still leaves the decode at least ``gap`` times the size of
    the largest output; 1 when the outputs are unknown (``scale`` 0) or near full size.
    """
    if scale <= 0:
        return 1
    for reduction in (8, 4, 2):
        if reduction * scale * gap <= 1:
            return reduction
    return 1


def human_bytes(count: int) -> str:
    """``805306368`` -> ``"768 MB"``, ``1288490189`` -> ``"1.2 GB"`` (binary units)."""
    if count >= 2**30:
        return f"{count / 2**30:.1f} GB"
    if count >= 2**20:
        return f"{count / 2**20:.0f} MB"
    return f"{max(count, 0) / 2**10:.0f} KB"


def over_budget_message(cost: DecodeCost, budget: int) -> str | None:
    """The refusal's message when ``cost`` is over ``budget``, else ``None``."""
    if cost.bytes <= budget:
        return None
    return (
        f"Decoding needs about {human_bytes(cost.bytes)} ({cost.describe()}); "
        f"the budget is {human_bytes(budget)}."
    )
