"""Encoding outputs: per-format settings, alpha flattening, and no metadata ever written."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from PIL import Image

from chalicelib.media.formats import OUTPUT_FORMATS
from chalicelib.media.options import Encoding


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` as an RGB tuple."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def flatten(image: Image.Image, background: str) -> Image.Image:
    """Composite an RGBA image onto an opaque ``background`` colour."""
    if image.mode != "RGBA":
        return image if image.mode == "RGB" else image.convert("RGB")
    flat = Image.new("RGB", image.size, hex_to_rgb(background))
    flat.paste(image, mask=image.getchannel("A"))
    return flat


def gif_alpha(image: Image.Image, background: str) -> Image.Image:
    """``image`` with only the alpha GIF can carry: each partly transparent pixel
    composited onto ``background`` and made opaque, the fully transparent ones kept.

    GIF has one transparent palette entry and no partial alpha; Pillow would write a
    partly transparent pixel fully opaque, showing the colour hidden under its alpha.
    """
    if image.mode != "RGBA":
        return image
    alpha = image.getchannel("A")
    if not any(alpha.histogram()[1:255]):
        return image
    flat = flatten(image, background)
    # Opaque wherever any alpha was; fully transparent pixels stay transparent.
    flat.putalpha(alpha.point(lambda a: 255 if a else 0))
    return flat


def _save_params(encoding: Encoding) -> dict[str, Any]:
    # Speed-leaning settings comparable to libvips' defaults: no Huffman optimisation
    # for JPEG, libwebp's method 4, libavif speed 6, zlib level 6.
    fmt = encoding.format
    quality = encoding.quality or OUTPUT_FORMATS[fmt].default_quality
    if fmt == "jpeg":
        return {"quality": quality, "optimize": False}
    if fmt == "webp":
        return {"quality": quality, "method": 4}
    if fmt == "avif":
        return {"quality": quality, "speed": 6}
    if fmt == "png":
        return {"compress_level": 6}
    return {}


def _clean(image: Image.Image) -> Image.Image:
    # Plugins fall back to ``image.info`` for exif, xmp and icc_profile; an empty info
    # guarantees that nothing from the source travels into an output.
    image.info = {}
    return image


def encode(image: Image.Image, encoding: Encoding) -> bytes:
    """Encode one still image as ``encoding`` says; alpha it does not keep is flattened
    onto its background (a format without alpha: JPEG)."""
    if not encoding.keeps_alpha:
        image = flatten(image, encoding.background)
    elif encoding.format == "gif":
        image = gif_alpha(image, encoding.background)
    buffer = io.BytesIO()
    _clean(image).save(buffer, OUTPUT_FORMATS[encoding.format].pillow, **_save_params(encoding))
    return buffer.getvalue()


# Browsers show a GIF frame of 0 or 10 ms for 100 ms: 20 ms is the shortest that plays.
GIF_MIN_DELAY_MS = 20


def gif_timing(durations: Sequence[int]) -> tuple[list[int], list[int]]:
    """Which frames a GIF keeps, and their delays in whole centiseconds (in ms).

    GIF counts time in centiseconds, and Pillow truncates each duration (33 ms frames
    played at 30: a clip 10 % fast; 167 ms at 160). Here each frame's start is put on
    the 10 ms grid, so the animation's total stays within 10 ms of the source's; a
    frame that would then show for under 20 ms (a 60 fps source) is dropped, the
    frame showing on either side of it taking its time, as a frame-rate conversion
    does, rather than played at a speed browsers slow to 100 ms.
    """
    starts, elapsed = [], 0
    for duration in durations:
        starts.append(elapsed)
        elapsed += duration
    grid = [int(t / 10 + 0.5) * 10 for t in (*starts, elapsed)]
    kept = [0]
    for index in range(1, len(durations)):
        if grid[index] - grid[kept[-1]] >= GIF_MIN_DELAY_MS:
            kept.append(index)
        elif len(kept) > 1 and grid[index] - grid[kept[-2]] >= GIF_MIN_DELAY_MS:
            # Two starts too close: the later frame, the one still showing after, stays.
            kept[-1] = index
    # The last kept frame runs to the end: too short, and the one before takes its time.
    if len(kept) > 1 and grid[-1] - grid[kept[-1]] < GIF_MIN_DELAY_MS:
        kept.pop()
    ends = [grid[i] for i in kept[1:]] + [grid[-1]]
    delays = [max(GIF_MIN_DELAY_MS, end - grid[i]) for i, end in zip(kept, ends, strict=True)]
    return kept, delays


def encode_animation(
    frames: Sequence[Image.Image],
    durations: Sequence[int],
    loop: int,
    encoding: Encoding,
) -> bytes:
    """Encode RGBA ``frames`` as an animated GIF or WebP."""
    buffer = io.BytesIO()
    if encoding.format == "gif":
        kept, durations = gif_timing(durations)
        frames = [gif_alpha(frames[i], encoding.background) for i in kept]
    first, rest = _clean(frames[0]), [_clean(f) for f in frames[1:]]
    params: dict[str, Any] = {"save_all": True, "append_images": rest, "loop": loop}
    params["duration"] = list(durations)
    if encoding.format == "gif":
        # Each frame is a full picture, so clear to transparent before drawing the next.
        params["disposal"] = 2
    else:
        params.update(_save_params(encoding))
    first.save(buffer, OUTPUT_FORMATS[encoding.format].pillow, **params)
    return buffer.getvalue()
