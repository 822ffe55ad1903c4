"""Facts computed from pixels: dominant colours and a perceptual hash."""

from __future__ import annotations

import math
from typing import Any

import imagehash
from PIL import Image


def dominant_colors(image: Image.Image, count: int = 5) -> list[dict[str, Any]]:
    """The ``count`` most common colours of a small RGB(A) image, with their shares.

    Transparent pixels are left out; shares are fractions of the opaque pixels, so
    they add up to at most 1 (each is rounded down).
    """
    mask = None
    rgb = image
    if image.mode == "RGBA":
        mask = image.getchannel("A").point(lambda a: 255 if a >= 128 else 0)
        rgb = image.convert("RGB")
    elif image.mode != "RGB":
        rgb = image.convert("RGB")
    # Median cut splits colour space where the pixels are; fast octree lumps most of a
    # smooth photo into one bucket. A few spare colours keep the top ones distinct.
    quantized = rgb.quantize(colors=count + 3, method=Image.Quantize.MEDIANCUT)
    histogram = quantized.histogram(mask=mask)[:256]
    palette = quantized.getpalette() or []
    total = sum(histogram)
    if total == 0:
        return []
    ranked = sorted(
        ((n, index) for index, n in enumerate(histogram) if n), key=lambda t: (-t[0], t[1])
    )
    colors = []
    for n, index in ranked[:count]:
        r, g, b = palette[index * 3 : index * 3 + 3]
        colors.append(
            {"hex": f"#{r:02x}{g:02x}{b:02x}", "share": math.floor(n / total * 10_000) / 10_000}
        )
    return colors


def perceptual_hash(image: Image.Image) -> str:
    """A 64-bit DCT perceptual hash as 16 hex digits (imagehash's ``phash``)."""
    return str(imagehash.phash(image))
