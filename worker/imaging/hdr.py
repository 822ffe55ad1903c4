"""HDR pictures (PQ or HLG transfer) turned into SDR sRGB with a documented tone mapping.

libavif and libheif hand Pillow the coded signal as 8-bit RGB without applying its
transfer function: a PQ (SMPTE ST 2084) or HLG (ARIB STD-B67) picture shown as if it
were sRGB looks washed out. The conversion, per pixel:

1. the signal to display light: PQ's EOTF (absolute, cd/m²); HLG's inverse OETF and
   its OOTF for a 1000 cd/m² display (system gamma 1.2);
2. scaled so that BT.2408's HDR reference white (203 cd/m²) is SDR white (1.0);
3. BT.2020 or Display P3 primaries to BT.709 (sRGB) in linear light;
4. tone mapped on the brightest channel (hue kept): identity up to 0.8, above it
   highlights rolled off towards 1.0 (``x = 0.8 + e * 0.2 / (e + 0.2)``, e the excess
   over 0.8), so diffuse white lands at 0.9 and nothing clips hard;
5. out-of-gamut negatives clipped, sRGB's transfer function, 8 bits.

Pictures are converted in bands of rows, so the float copy stays small.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image

PQ, HLG = 16, 18
REFERENCE_WHITE = 203.0  # cd/m², ITU-R BT.2408
KNEE = 0.8
_BAND_ROWS = 256
# Linear-light primaries to BT.709, by H.273 colour primaries code point.
_TO_BT709 = {
    9: np.array(
        [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]],
        dtype=np.float32,
    ),
    12: np.array(
        [[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]],
        dtype=np.float32,
    ),
}
_BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)


def pq_to_nits(signal: NDArray[np.float64]) -> NDArray[np.float64]:
    """SMPTE ST 2084's EOTF: a [0, 1] signal to cd/m²."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = np.power(np.clip(signal, 0, 1), 1 / m2)
    return 10000 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)


def hlg_to_scene(signal: NDArray[np.float64]) -> NDArray[np.float64]:
    """ARIB STD-B67's inverse OETF: a [0, 1] signal to scene light in [0, 1]."""
    a, b = 0.17883277, 0.28466892
    c = 0.5 - a * np.log(4 * a)
    signal = np.clip(signal, 0, 1)
    return np.where(signal <= 0.5, signal**2 / 3, (np.exp((signal - c) / a) + b) / 12)


def srgb_encode(linear: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.where(
        linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055
    ).astype(np.float32)


def roll_off(value: NDArray[np.float32]) -> NDArray[np.float32]:
    """Identity up to ``KNEE``, then a curve of slope 1 at the knee that tends to 1.0."""
    excess = np.maximum(value - KNEE, 0)
    room = 1 - KNEE
    return np.where(value <= KNEE, value, KNEE + excess * room / (excess + room)).astype(np.float32)


def to_sdr(image: Image.Image, transfer: int, primaries: int) -> Image.Image:
    """An RGB(A) picture coded with PQ or HLG, as SDR sRGB of the same mode."""
    if transfer not in (PQ, HLG) or image.mode not in ("RGB", "RGBA"):
        return image
    levels = np.arange(256, dtype=np.float64) / 255
    # Each 8-bit level's linear light relative to reference white (HLG: scene light,
    # its OOTF needs the pixel's luminance and is applied per pixel below).
    table = pq_to_nits(levels) / REFERENCE_WHITE if transfer == PQ else hlg_to_scene(levels)
    table = table.astype(np.float32)
    matrix = _TO_BT709.get(primaries)
    pixels = np.asarray(image)
    out = np.empty_like(pixels)
    for top in range(0, pixels.shape[0], _BAND_ROWS):
        band = pixels[top : top + _BAND_ROWS]
        rgb = table[band[..., :3]]
        if transfer == HLG:
            luminance = np.maximum(rgb @ _BT2020_LUMA, 1e-6)
            rgb = rgb * (1000 / REFERENCE_WHITE * np.power(luminance, 0.2))[..., None]
        if matrix is not None:
            rgb = rgb @ matrix.T
        rgb = np.maximum(rgb, 0)
        brightest = np.maximum(rgb.max(axis=-1), 1e-6)
        rgb = rgb * (roll_off(brightest) / brightest)[..., None]
        encoded = srgb_encode(np.clip(rgb, 0, 1))
        out[top : top + _BAND_ROWS, ..., :3] = np.round(encoded * 255).astype(np.uint8)
        if pixels.shape[-1] == 4:
            out[top : top + _BAND_ROWS, ..., 3] = band[..., 3]
    return Image.fromarray(out, image.mode)
