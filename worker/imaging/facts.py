"""Facts computed from pixels: dominant colours and a perceptual hash."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

# imagehash's phash parameters: a 32x32 grey image, the 8x8 lowest DCT frequencies.
HASH_SIDE = 8
DCT_SIDE = HASH_SIDE * 4


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


@lru_cache(maxsize=1)
def _dct_rows() -> np.ndarray:
    # The first HASH_SIDE rows of the unnormalized DCT-II matrix, the transform
    # scipy.fftpack.dct applies by default: 2 * cos(pi * k * (2n + 1) / (2N)).
    k = np.arange(HASH_SIDE)[:, None]
    n = np.arange(DCT_SIDE)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * DCT_SIDE))


def perceptual_hash(image: Image.Image) -> str:
    """A 64-bit DCT perceptual hash as 16 hex digits, equal to ``str(imagehash.phash(image))``.

    Computed here with two small matrix products instead of imagehash, whose phash
    imports scipy: that import alone is about 18 MB of every worker process.
    """
    grey = image.convert("L").resize((DCT_SIDE, DCT_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    rows = _dct_rows()
    low = rows @ pixels @ rows.T  # DCT along both axes, low frequencies only
    bits = (low > np.median(low)).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"
