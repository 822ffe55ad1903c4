"""Box arithmetic for the fits: output size and the source region each rendition takes (pure)."""

from __future__ import annotations

from dataclasses import dataclass


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


def plan(
    source: tuple[int, int],
    width: int | None,
    height: int | None,
    fit: str,
    max_side: int,
) -> Plan:
    """Plan a rendition of a ``source``-sized upright image into a width x height box.

    ``contain`` never upscales; ``cover`` and ``fill`` give exactly the box. With one
    side open every fit scales to the given side, and the open side is capped at
    ``max_side``.
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
        scale = max(width / sw, height / sh)
        crop_w, crop_h = min(sw, width / scale), min(sh, height / scale)
        left, top = (sw - crop_w) / 2, (sh - crop_h) / 2
        crop = (left, top, left + crop_w, top + crop_h)
        return Plan((width, height), crop, scale, crop == full)
    # fill: stretch each axis on its own.
    return Plan((width, height), full, max(width / sw, height / sh), False)


def _scaled(source: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(source[0] * scale)), max(1, round(source[1] * scale))
