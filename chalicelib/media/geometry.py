"""Box arithmetic for the fits: output size and the source region each rendition takes.

Pure (no Pillow, no I/O): the worker cuts its outputs by it, and the cost model
prices the same sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Where a cover crop's window sits when nothing else is said: centred on both axes
# (fractions of the free room, as ``chalicelib.media.options.COMPASS`` gives them).
CENTERED = (0.5, 0.5)


@dataclass(frozen=True)
class Plan:
    """How one output is cut from the upright source.

    ``crop`` is the region of the source (in source pixels, floats) that is scaled to
    ``size``; ``scale`` is the largest linear factor applied (how much detail the output
    needs from the source).
    """

    size: tuple[int, int]
    crop: tuple[float, float, float, float]
    scale: float
    uncropped: bool


def cover_size(source: tuple[int, int], target: float | tuple[float, float]) -> tuple[float, float]:
    """The largest window of ``target``'s aspect ratio inside ``source`` (width, height).

    ``target`` is an aspect ratio (width / height) or a (width, height) box: what a
    ``cover`` rendition of that box keeps of the source, wherever the window sits.
    """
    sw, sh = source
    if sw <= 0 or sh <= 0:
        raise ValueError(f"source size must be positive, got {source}")
    tw, th = (target, 1.0) if isinstance(target, int | float) else target
    if not (tw > 0 and th > 0 and math.isfinite(tw) and math.isfinite(th)):
        raise ValueError(f"target must be a positive aspect ratio or size, got {target}")
    scale = max(tw / sw, th / sh)
    return min(float(sw), tw / scale), min(float(sh), th / scale)


def plan(
    source: tuple[int, int],
    width: int | None,
    height: int | None,
    fit: str,
    max_side: int,
    placement: tuple[float, float] = CENTERED,
) -> Plan:
    """Plan a rendition of a ``source``-sized upright image into a width x height box.

    ``contain`` never upscales; ``cover`` and ``fill`` give exactly the box. With one
    side open every fit scales to the given side, and the open side is capped at
    ``max_side``. ``placement`` is where a ``cover`` crop's window sits, as fractions
    (fx, fy) of the free room on each axis: (0, 0) keeps the top-left corner, (0.5,
    0.5) the centre, (1, 1) the bottom-right corner (``gravity.placement`` works it
    out from a gravity). The other fits crop nothing and ignore it.
    """
    sw, sh = source
    full = (0.0, 0.0, float(sw), float(sh))
    if width is None or height is None:
        if width is not None:
            scale = width / sw
        else:
            assert height is not None
            scale = height / sh
        scale = min(scale, 1.0, max_side / sw, max_side / sh)
        return Plan(_scaled(source, scale), full, scale, True)
    if fit == "contain":
        scale = min(width / sw, height / sh, 1.0)
        return Plan(_scaled(source, scale), full, scale, True)
    if fit == "cover":
        fx, fy = (min(max(f, 0.0), 1.0) for f in placement)
        crop_w, crop_h = cover_size(source, (width, height))
        left, top = (sw - crop_w) * fx, (sh - crop_h) * fy
        crop = (left, top, left + crop_w, top + crop_h)
        return Plan((width, height), crop, max(width / sw, height / sh), crop == full)
    # fill: stretch each axis on its own.
    return Plan((width, height), full, max(width / sw, height / sh), False)


def pixel_window(plan: Plan, source: tuple[int, int]) -> tuple[int, int, int, int]:
    """``plan``'s crop as whole source pixels, ``(left, top, width, height)``, inside ``source``.

    What the result reports; the resampling keeps the exact float window. The size is
    the window's own, rounded (so every gravity reports the same size for a box), and
    the corner the nearest pixel that keeps it inside the picture.
    """
    sw, sh = source
    left, top, right, bottom = plan.crop
    width = min(max(round(right - left), 1), sw)
    height = min(max(round(bottom - top), 1), sh)
    x = min(max(round(left), 0), sw - width)
    y = min(max(round(top), 0), sh - height)
    return x, y, width, height


def _scaled(source: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(source[0] * scale)), max(1, round(source[1] * scale))
