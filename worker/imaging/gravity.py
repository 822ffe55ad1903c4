"""Where a cover crop's window sits in the source: centre, compass point, focus point or `auto`."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from chalicelib.media.geometry import cover_size
from chalicelib.media.options import COMPASS, GRAVITIES

__all__ = [
    "ANALYSIS_SIDE",
    "COMPASS",
    "GRAVITIES",
    "Window",
    "attention_map",
    "best_window",
    "cover_size",
    "crop_window",
    "placement",
]

# (left, top, width, height) in source pixels. Floats, like ``geometry.Plan.crop``: the
# window keeps the target's aspect ratio exactly and is resampled with sub-pixel
# precision; whoever reports it rounds (``geometry.pixel_window``).
Window = tuple[float, float, float, float]

# Longest side of the copy the attention map is computed on. Coarse on purpose, as
# libvips' 32x32: a box-filtered copy this small has averaged grass, gravel and
# foliage into flat colour, so what is left of the edges are the outlines of things.
# 40 rather than 32 or 48 because the cues' weights matter least there on the
# subjects corpus (docs/BENCHMARKS.md). The window is placed to within 1/160 of the
# picture (quarter steps of the map), well under what the eye sees in a thumbnail.
ANALYSIS_SIDE = 40

# Weights of the three cues, each on a 0..1-ish scale (see ``attention_map``).
DETAIL_WEIGHT = 1.0
SKIN_WEIGHT = 1.0
SATURATION_WEIGHT = 0.25
# Surround of the detail cue, as a fraction of the map's longest side: an edge counts
# by how much it stands out from the edges around it, so a field of uniform texture
# scores little and an outline against it scores high.
SURROUND = 0.25
# Skin tones in BT.601 CbCr (0..1), after the classic skin-locus studies (Chai and
# Ngan; Hsu et al.): a compact ellipse around a reddish-orange hue that holds light
# and dark skin alike once luma is factored out.
SKIN_CB, SKIN_CR = 0.43, 0.60
SKIN_CB_SPREAD, SKIN_CR_SPREAD = 0.04, 0.035
# Luma outside this range carries no reliable hue: shadows and blown highlights.
HUE_LUMA_MIN, HUE_LUMA_MAX = 0.15, 0.95
# Saturation below this is the colour of ordinary surfaces, not of something that
# draws the eye.
SATURATION_FLOOR = 0.35
# Interest near the top of the frame counts up to this much more, near the bottom this
# much less (linearly in between). Detail piles up towards the bottom of photographs,
# which is the foreground nearest the lens (ground, hands, laps, tables, burnt-in
# captions), and a person's or an animal's head is above its body; without this the
# window slides down onto torsos and floors (measured on the subjects corpus: see
# docs/BENCHMARKS.md). Mild on purpose: a clear subject low in the frame still wins.
UPRIGHT_BIAS = 0.25
# Two windows whose scores differ by less than this (relative) are a tie; the one
# nearer the centre wins, so flat or symmetric pictures crop like ``center``.
TIE = 1e-6

_FloatArray = NDArray[np.float32]


def crop_window(
    source_size: tuple[int, int],
    target: float | tuple[float, float],
    gravity: str = "center",
    focus: tuple[float, float] | None = None,
    image: Image.Image | NDArray[np.float32] | None = None,
) -> Window:
    """The window ``(left, top, width, height)`` of ``source_size`` a cover crop keeps.

    ``target`` is the output's aspect ratio (width / height) or its (width, height).
    ``gravity`` is one of ``GRAVITIES``:

    - ``center`` and the eight compass points push the window against that side or
      corner (``north`` keeps the top, ``southwest`` the bottom-left corner);
    - ``focus`` centres the window on ``focus`` = (x, y), fractions of the source's
      width and height from its top-left corner, as far as the picture allows;
    - ``auto`` puts it where it holds the most of what draws the eye (see
      ``attention_map``), computed on ``image``: the upright source or any smaller
      copy of it, RGB or RGBA (a copy larger than ``ANALYSIS_SIDE`` is shrunk here
      first), or the ``attention_map`` of one, so that a job with several
      renditions computes it once. Without ``image`` it is ``center``.

    The window always lies inside the source and has the target's aspect ratio
    exactly (in floats); for a picture already of that ratio it is the whole picture.
    """
    width, height = cover_size(source_size, target)
    fx, fy = placement(source_size, (width, height), gravity, focus, image)
    sw, sh = source_size
    return (sw - width) * fx, (sh - height) * fy, width, height


def placement(
    source_size: tuple[int, int],
    window: tuple[float, float],
    gravity: str,
    focus: tuple[float, float] | None = None,
    image: Image.Image | NDArray[np.float32] | None = None,
) -> tuple[float, float]:
    """Where a ``window`` (width, height) sits in ``source_size`` under ``gravity``.

    The answer is what ``geometry.plan`` takes: fractions (fx, fy) of the free room on
    each axis, 0 flush left or top, 1 flush right or bottom. ``focus`` and ``image``
    as for ``crop_window``.
    """
    sw, sh = source_size
    width, height = window
    if gravity in COMPASS:
        return COMPASS[gravity]
    if gravity == "focus":
        if focus is None:
            raise ValueError("gravity 'focus' needs a focus point (x, y)")
        x, y = focus
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"focus must be fractions in 0..1, got {focus}")
        return (
            _placement(x * sw - width / 2, sw - width),
            _placement(y * sh - height / 2, sh - height),
        )
    if gravity == "auto":
        if image is None or (width >= sw and height >= sh):
            return COMPASS["center"]
        interest = image if isinstance(image, np.ndarray) else attention_map(image)
        return best_window(interest, width / sw, height / sh)
    raise ValueError(f"unknown gravity {gravity!r}; one of {', '.join(GRAVITIES)}")


def attention_map(image: Image.Image) -> _FloatArray:
    """How much each pixel of a small copy of ``image`` draws the eye (float32, >= 0).

    The cues of libvips' ``attention`` strategy, each computed on the copy:

    - detail: the absolute Laplacian of luma, divided by the mean of the edges
      around it (a surround of ``SURROUND``), minus one: an outline against a calm
      or uniformly textured background stands out; the texture itself does not;
    - skin: closeness to skin tones in the CbCr plane, for lit pixels;
    - saturation: HSV saturation above ``SATURATION_FLOOR``, for lit pixels.

    The sum is weighted by height in the frame (``UPRIGHT_BIAS``). Transparent pixels
    have no interest: colour is premultiplied by alpha (so the outline of a cut-out
    counts as an edge) and the map is multiplied by it.
    """
    small = _analysis_copy(image)
    pixels = np.asarray(small, dtype=np.float32) / 255.0
    rgb = pixels[..., :3]
    alpha = pixels[..., 3] if pixels.shape[-1] == 4 else None
    if alpha is not None:
        rgb = rgb * alpha[..., None]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    lit = (luma > HUE_LUMA_MIN) & (luma < HUE_LUMA_MAX)

    edges = np.abs(_laplacian(luma))
    surround = _blur(edges, max(1.0, SURROUND * max(edges.shape)))
    # The floor keeps a lone edge on a flat picture finite and ignores JPEG noise.
    floor = 0.1 * float(edges.mean()) + 1e-3
    detail = np.clip(edges / (surround + floor) - 1.0, 0.0, None)

    cb = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b
    skin_distance = ((cb - SKIN_CB) / SKIN_CB_SPREAD) ** 2 + ((cr - SKIN_CR) / SKIN_CR_SPREAD) ** 2
    skin = np.where(lit, np.exp(-0.5 * skin_distance), 0.0)

    high, low = rgb.max(axis=-1), rgb.min(axis=-1)
    hsv_saturation = (high - low) / np.maximum(high, 1e-6)
    saturation = np.where(
        lit, np.clip((hsv_saturation - SATURATION_FLOOR) / (1 - SATURATION_FLOOR), 0, 1), 0.0
    )

    interest = DETAIL_WEIGHT * detail + SKIN_WEIGHT * skin + SATURATION_WEIGHT * saturation
    rows = interest.shape[0]
    interest = interest * (1 + UPRIGHT_BIAS * (1 - 2 * (np.arange(rows) + 0.5) / rows))[:, None]
    if alpha is not None:
        interest = interest * alpha
    return interest.astype(np.float32)


def best_window(interest: _FloatArray, width: float, height: float) -> tuple[float, float]:
    """Where the window holding the most ``interest`` sits, as ``COMPASS`` puts it.

    The answer is a fraction of the free room on each axis (0 = flush left or top,
    0.5 = centred, 1 = flush right or bottom), so the caller places the window with
    the same arithmetic as a compass point and a tie lands exactly on ``center``.

    ``width`` and ``height`` are the window's size as fractions of the map's. Every
    position is tried, a step of a quarter map pixel apart along each free axis,
    plus both extremes and the middle; a summed-area table makes each one four lookups, and
    bilinear interpolation of the table gives the exact sum over windows that do not
    fall on whole pixels. Ties go to the window nearest the centre.
    """
    rows, cols = interest.shape
    if not (0 < width <= 1 and 0 < height <= 1):
        raise ValueError(f"window fractions must be in (0, 1], got {width}, {height}")
    table = np.zeros((rows + 1, cols + 1), dtype=np.float64)
    table[1:, 1:] = interest.astype(np.float64).cumsum(axis=0).cumsum(axis=1)
    win_w, win_h = width * cols, height * rows
    xs = _positions(cols - win_w)
    ys = _positions(rows - win_h)
    x, y = np.meshgrid(xs, ys)
    scores = (
        _integral(table, x + win_w, y + win_h)
        - _integral(table, x, y + win_h)
        - _integral(table, x + win_w, y)
        + _integral(table, x, y)
    )
    best = float(scores.max())
    near = scores >= best - TIE * max(abs(best), 1e-12)
    offset = (x - (cols - win_w) / 2) ** 2 + (y - (rows - win_h) / 2) ** 2
    index = np.unravel_index(int(np.argmin(np.where(near, offset, np.inf))), scores.shape)
    return _placement(float(x[index]), cols - win_w), _placement(float(y[index]), rows - win_h)


def _placement(offset: float, room: float) -> float:
    return min(max(offset / room, 0.0), 1.0) if room > 1e-9 else 0.5


def _analysis_copy(image: Image.Image) -> Image.Image:
    """``image`` as RGB or RGBA, shrunk to ``ANALYSIS_SIDE`` on its longest side if larger."""
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if alpha else "RGB"
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        # Palettes and high bit depths do not resample; 8-bit grey shrinks as it is,
        # three times cheaper than converting the full-size copy first.
        image = image.convert(mode)
    scale = ANALYSIS_SIDE / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        # BOX averages every source pixel (no aliasing of fine texture); reducing_gap
        # lets Pillow do most of the shrink as a cheap integer reduction first.
        image = image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
    return image if image.mode == mode else image.convert(mode)


def _laplacian(plane: _FloatArray) -> _FloatArray:
    padded = np.pad(plane, 1, mode="edge")
    return 4 * plane - padded[:-2, 1:-1] - padded[2:, 1:-1] - padded[1:-1, :-2] - padded[1:-1, 2:]


def _blur(plane: _FloatArray, sigma: float) -> _FloatArray:
    """Gaussian blur with mirrored edges, as two small matrix products."""
    rows = _gaussian_matrix(plane.shape[0], sigma)
    cols = _gaussian_matrix(plane.shape[1], sigma)
    return (rows @ plane @ cols.T).astype(np.float32)


@lru_cache(maxsize=32)
def _gaussian_matrix(n: int, sigma: float) -> _FloatArray:
    # Row i holds the weights output pixel i takes from each input pixel; taps that
    # fall off an edge are reflected back into the picture, so rows sum to 1.
    radius = int(3 * sigma)
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    taps /= taps.sum()
    matrix = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        j = np.abs(i + offsets)
        j = np.where(j >= n, 2 * (n - 1) - j, j)
        np.add.at(matrix[i], np.clip(j, 0, n - 1), taps)
    # Cached and shared between calls (and threads): never to be written to.
    matrix.flags.writeable = False
    return matrix


def _positions(room: float) -> NDArray[np.float64]:
    """Window offsets to try along an axis with ``room`` map pixels of free play.

    Quarter-pixel steps, both extremes, and the exact middle, so that a tie (a flat
    or symmetric picture) lands exactly on today's centre crop.
    """
    if room <= 1e-9:
        return np.zeros(1)
    return np.unique(np.append(np.arange(0.0, room, 0.25), [room / 2, room]))


def _integral(
    table: NDArray[np.float64], x: NDArray[np.float64], y: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The summed-area table at fractional (x, y): exact for a piecewise-constant map."""
    rows, cols = table.shape[0] - 1, table.shape[1] - 1
    x = np.clip(x, 0.0, cols)
    y = np.clip(y, 0.0, rows)
    x0 = np.minimum(np.floor(x).astype(np.intp), cols - 1)
    y0 = np.minimum(np.floor(y).astype(np.intp), rows - 1)
    fx, fy = x - x0, y - y0
    return (
        table[y0, x0] * (1 - fx) * (1 - fy)
        + table[y0, x0 + 1] * fx * (1 - fy)
        + table[y0 + 1, x0] * (1 - fx) * fy
        + table[y0 + 1, x0 + 1] * fx * fy
    )
