"""Resizing: every output from the smallest decoded or derived image that holds enough detail.

The cascade reuses a larger output as the source of a smaller one; the Lanczos pass of
a large output is split into horizontal bands on the imaging threads (Pillow releases
the GIL while it resamples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import as_completed
from typing import Protocol

from PIL import Image

from chalicelib.media.geometry import Plan
from worker.imaging import engine, threads

# An intermediate serves a smaller output only when it holds at least this many times
# the output's pixels per side, so a cascade never costs visible sharpness.
CASCADE_GAP = 2.0
# Pillow first shrinks by an integer factor (cheap box filter) down to this multiple
# of the target, then finishes with Lanczos: near-identical output, much less work.
REDUCING_GAP = 2.0
# Outputs at least this tall are resampled in horizontal bands on the imaging threads:
# a 1280 px preview takes about half the wall time on two cores. Smaller outputs are
# not worth the hand-off.
BAND_MIN_ROWS = 256
# Bands per imaging thread, each at least MIN_BAND_ROWS tall. Smaller bands hold less
# memory at once (a 12 MP job's peak: 120.7 MiB at 4 per thread, 118.5 at 8) for a
# little more work: the filter's support is read again at every band's edges.
BANDS_PER_THREAD = 8
MIN_BAND_ROWS = 64
# Lanczos' support, in source pixels at scale 1 (Pillow's LANCZOS is Lanczos-3).
LANCZOS_LOBES = 3
# Modes with alpha, and their premultiplied forms, which resampling works in.
_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


class Resizable(Protocol):
    """An output being made: its plan, and the picture once resized."""

    plan: Plan
    image: Image.Image | None


def cascade(
    base: Image.Image,
    upright: tuple[int, int],
    outputs: Sequence[Resizable],
    base_scale: tuple[float, float] | None = None,
) -> None:
    """Resize every output from the smallest uncropped image that still holds enough detail.

    ``base_scale``: the base's pixels per upright source pixel, a side, when its size
    rounds it (a PNG box-reduced by 3 while it decoded: 10000 px become 3334, a third
    exactly); by default its size over ``upright``.
    """
    scale = base_scale or (base.width / upright[0], base.height / upright[1])
    sources: list[tuple[float, Image.Image]] = [(scale[0], base)]
    for output in sorted(outputs, key=lambda o: -o.plan.scale):
        same = next(
            (
                img
                for _, img in sources[1:]
                if output.plan.uncropped and img.size == output.plan.size
            ),
            None,
        )
        if same is not None:
            # Another output already has exactly this picture (the caption's base is
            # usually the preview): share it; encoding does not change it.
            output.image = same
            continue
        factor, image = sources[0]
        for candidate_factor, candidate in sources:
            if candidate_factor >= output.plan.scale * CASCADE_GAP and candidate_factor < factor:
                factor, image = candidate_factor, candidate
        left, top, right, bottom = output.plan.crop
        # Per-axis factors: a rounded intermediate (1280x1047 from 2200x1800) does not
        # keep the exact aspect ratio, and a box past its edge is an error in Pillow.
        fx, fy = scale if image is base else (image.width / upright[0], image.height / upright[1])
        box = (
            left * fx,
            top * fy,
            min(right * fx, image.width),
            min(bottom * fy, image.height),
        )
        output.image = resize(image, output.plan.size, box)
        if output.plan.uncropped:
            sources.append((output.image.width / upright[0], output.image))


def resize(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    """``image.resize(size, LANCZOS, box=box, reducing_gap=REDUCING_GAP)``, on several
    cores, its horizontal pass always before its vertical one.

    The cheap integer reduction Pillow's ``reducing_gap`` does first is done here once
    for the whole region; the Lanczos passes are then split into horizontal bands of
    the output. Pillow places each output row's filter by its position in the source
    and reads past the band's box, and every band makes its passes in the same order,
    so the bands join without a seam.
    """
    if size == image.size and box == (0, 0, *image.size):
        return image.copy()  # as Pillow does: nothing to resample, colour kept as is
    premultiplied = _PREMULTIPLIED.get(image.mode)
    if premultiplied is not None:
        # Resampling with alpha needs premultiplied colour. Pillow converts the whole
        # image for every reduce and resize call, so once per band; convert it once here.
        return _resize(image.convert(premultiplied), size, box).convert(image.mode)
    return _resize(image, size, box)


def _resize(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    left, top, right, bottom = box
    fx = int((right - left) / size[0] / REDUCING_GAP) or 1
    fy = int((bottom - top) / size[1] / REDUCING_GAP) or 1
    if fx > 1 or fy > 1:
        # Reduce the region plus a margin for the Lanczos support (3 lobes at the
        # remaining scale), aligned to whole blocks.
        mx = LANCZOS_LOBES * (right - left) / size[0] + fx
        my = LANCZOS_LOBES * (bottom - top) / size[1] + fy
        x0 = max(0, int((left - mx) // fx) * fx)
        y0 = max(0, int((top - my) // fy) * fy)
        x1 = min(image.width, math.ceil((right + mx) / fx) * fx)
        y1 = min(image.height, math.ceil((bottom + my) / fy) * fy)
        image = image.reduce((fx, fy), box=(x0, y0, x1, y1))
        left, right = (left - x0) / fx, min((right - x0) / fx, image.width)
        top, bottom = (top - y0) / fy, min((bottom - y0) / fy, image.height)
    pool = threads.pool() if size[1] >= BAND_MIN_ROWS else None
    if pool is None:
        return _lanczos(image, size, (left, top, right, bottom))
    # More bands than threads: a band's horizontal pass keeps its source rows at the
    # output's width, so with small bands only a few of those buffers are alive at
    # once, and each band is pasted (and freed) as soon as it is done.
    bands = max(1, min(threads.thread_count() * BANDS_PER_THREAD, size[1] // MIN_BAND_ROWS))
    rows = [size[1] * i // bands for i in range(bands + 1)]
    step = (bottom - top) / size[1]

    def band(i: int) -> tuple[int, Image.Image]:
        box = (left, top + rows[i] * step, right, top + rows[i + 1] * step)
        return i, _lanczos(image, (size[0], rows[i + 1] - rows[i]), box)

    out = Image.new(image.mode, size)
    for done in as_completed([pool.submit(band, i) for i in range(bands)]):
        i, part = done.result()
        out.paste(part, (0, rows[i]))
    return out


# Pillow-SIMD (12.1) always makes a resize's horizontal pass first, over only the
# source rows its vertical filter reads (Resample.c), so a band can be one call on the
# whole image: the same pixels as the two calls below, without copying the band's
# source rows first (about 5 % of a 12 MP job's CPU). Pillow 13 picks the order it
# deems cheaper (Resample.c's horizontal_first), so it keeps the two calls.
# tests/unit/worker/imaging/test_resize.py holds both paths to the same pixels.
ONE_CALL_BANDS = engine.current().name == "pillow-simd"


def _lanczos(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    """Lanczos from ``box`` of ``image`` to ``size``: the horizontal pass, then the vertical.

    Always in that order, as two calls. One ``resize`` call lets Pillow pick the order
    it deems cheaper, and a band (which reads a few rows past its edges) may get the
    other order than the whole picture or its neighbour: up to 10 levels apart on a
    photo, a seam. Only the source rows the vertical filter reads are resampled.
    """
    lanczos = Image.Resampling.LANCZOS
    if ONE_CALL_BANDS:
        return image.resize(size, lanczos, box=box)
    return _two_calls(image, size, box)


def _two_calls(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    lanczos = Image.Resampling.LANCZOS
    left, top, right, bottom = box
    scale = (bottom - top) / size[1]
    support = LANCZOS_LOBES * max(scale, 1.0)
    # Pillow's window of output row y is int(centre -+ support + 0.5), centre = top +
    # (y + 0.5) * scale; one row more on each side stays clear of rounding.
    first = max(0, int(top + 0.5 * scale - support + 0.5) - 1)
    last = min(image.height, int(bottom - 0.5 * scale + support + 0.5) + 2)
    if (first, last) != (0, image.height):
        image = image.crop((0, first, image.width, last))
    height = last - first
    wide = image.resize((size[0], height), lanczos, box=(left, 0, right, height))
    return wide.resize(size, lanczos, box=(0, top - first, size[0], bottom - first))
