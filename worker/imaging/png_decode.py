"""PNG decoding: libspng behind the strict pre-check, whole or in bands shrunk as they
arrive; Pillow for everything else.

A PNG takes the fast way when it passes ``worker.imaging.png.precheck`` (so it holds
nothing Pillow refuses), stores 8-bit samples (grey, grey+alpha, RGB, RGBA or palette
indices: other bit depths and kept animations are Pillow's) and no output keeps its
animation. libspng then decodes it with every checksum checked and refuses image
data that ends before the last row, which Pillow completes with the rows left black:
the separate completeness check (a second inflation of the whole stream) is only
needed on Pillow's way. The decoded samples become the same Pillow image Pillow's own
decode gives (same mode, same ``info``: the ICC profile and the tRNS colour come from
Pillow's reading of the header), so colour management and everything after it are
unchanged; ``tests/unit/worker/imaging/test_png_decode.py`` holds the two decodes equal.

Large non-interlaced PNGs whose outputs are much smaller are decoded in bands of rows
(libspng's row API), each band turned to the working mode and box-reduced by an integer
factor at once, as libvips' shrink-on-load does: the memory is that of the reduced
picture and one band, not of the whole picture. The factor is the one the resize would
apply first anyway (``REDUCING_GAP``), so the outputs differ from the whole decode's only
by the rounding of one more premultiplication of alpha and the reduced picture's edge.

When libspng refuses what passed the pre-check (a stream that ends early, a damaged
deflate stream with right CRCs, data it is stricter about than Pillow), Pillow decodes
the file as before and says what it is, at full size if the decode budget allows it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from worker.imaging import spng
from worker.imaging.colour import to_working_mode
from worker.imaging.png import PngLayout, precheck
from worker.imaging.resize import REDUCING_GAP
from worker.imaging.source import Source

log = logging.getLogger(__name__)

# (colour type, bit depth) -> the mode Pillow decodes it in; only these take libspng.
FAST_MODES = {(0, 8): "L", (2, 8): "RGB", (3, 8): "P", (4, 8): "LA", (6, 8): "RGBA"}
# A picture is decoded in bands (and shrunk while it decodes) from this size on, when its
# outputs allow a reduction of at least 2 a side: smaller ones gain nothing worth a path.
BANDED_MIN_PIXELS = 16_000_000
# Pixels of one band (rounded to whole reduction blocks): small enough that a band's few
# copies (libspng's rows, Pillow's band, its working and premultiplied forms) stay near
# 16 MB (budget.BAND_BYTES_PER_PIXEL); large enough that a band's fixed costs (a colour transform
# built per band for a PNG with an ICC profile) stay small.
BAND_PIXELS = 1 << 20


@dataclass(frozen=True)
class PngPlan:
    """How a PNG that passed the pre-check is decoded."""

    layout: PngLayout
    mode: str  # Pillow's mode for these samples
    reduction: int  # 1: whole; more: in bands, box-reduced by this factor a side
    band_rows: int  # rows a band (a multiple of ``reduction``); 0 when whole

    @property
    def band_pixels(self) -> int:
        return self.band_rows * self.layout.width


def plan_png(source: Source, data: bytes, scale: float, frames: int) -> PngPlan | None:
    """The fast decode for this PNG, or None when Pillow decodes it.

    ``scale``: the largest output's size over the source's (0 when unknown); ``frames``:
    the frames to decode (more than 1 only when an output keeps the animation).
    """
    if source.format != "png" or frames != 1 or source.crop is not None:
        return None
    if not spng.available():
        return None
    layout = precheck(data)
    if layout is None:
        return None
    mode = FAST_MODES.get((layout.colour, layout.depth))
    if (
        mode is None
        or source.image.mode != mode
        or source.stored_size
        != (
            layout.width,
            layout.height,
        )
    ):
        return None
    reduction = band_reduction(layout, scale)
    rows = band_rows(layout.width, reduction) if reduction > 1 else 0
    return PngPlan(layout, mode, reduction, rows)


def band_reduction(layout: PngLayout, scale: float) -> int:
    """The integer factor a side a banded decode shrinks by: what the resize's
    ``reducing_gap`` would reduce the largest output's source by; 1 (a whole decode)
    for an interlaced or smaller picture."""
    if layout.interlaced or layout.width * layout.height < BANDED_MIN_PIXELS or scale <= 0:
        return 1
    factor = int(1 / (scale * REDUCING_GAP))
    return max(1, min(factor, layout.width, layout.height))


def band_rows(width: int, reduction: int) -> int:
    """Rows a band: about ``BAND_PIXELS``, whole blocks of ``reduction`` rows."""
    blocks = max(1, round(BAND_PIXELS / (width * reduction)))
    return blocks * reduction


def decode_png(source: Source, data: bytes, plan: PngPlan, max_side: int) -> Image.Image:
    """The picture in the working mode (sRGB RGB or RGBA), upright: whole, or reduced by
    ``plan.reduction`` a side. Raises ``spng.SpngError`` when libspng refuses the data."""
    info = dict(source.image.info)
    palette = source.image.palette
    colours = None
    if palette is not None:
        # As Pillow holds it: still raw (PLTE's bytes, Pillow converts them at load) or not.
        raw = palette.rawmode
        colours = (raw, bytes(palette.palette)) if raw else (palette.mode, palette.tobytes())
    if plan.reduction == 1:
        samples = spng.decode(data, max_side)
        frame = to_working_mode(_image(samples, plan.mode, info, colours))
    else:
        frame = _decode_reduced(data, plan, info, max_side, colours)
    if source.transpose is not None:
        frame = frame.transpose(source.transpose)
    return frame


def _image(
    samples: NDArray[np.uint8],
    mode: str,
    info: dict[str | tuple[int, int], Any],
    palette: tuple[str, bytes] | None = None,
) -> Image.Image:
    """A Pillow image of libspng's samples, as Pillow's decode would give it (a palette
    image's indices with the palette Pillow read from PLTE)."""
    height, width = samples.shape[:2]
    if mode in ("L", "P", "RGBA"):
        # Same memory layout as Pillow's: shared, not copied (Pillow copies on a write).
        image = Image.frombuffer(mode, (width, height), samples, "raw", mode, 0, 1)
    else:
        image = Image.frombytes(mode, (width, height), samples.tobytes(), "raw", mode)
    if mode == "P" and palette is not None:
        image.putpalette(palette[1], palette[0])
    image.info = info
    return image


def _decode_reduced(
    data: bytes,
    plan: PngPlan,
    info: dict[str | tuple[int, int], Any],
    max_side: int,
    palette: tuple[str, bytes] | None = None,
) -> Image.Image:
    factor = plan.reduction
    width, height = plan.layout.width, plan.layout.height
    reduced: Image.Image | None = None
    top = 0
    for samples in spng.decode_bands(data, plan.band_rows, max_side):
        working = to_working_mode(_image(samples, plan.mode, info, palette))
        del samples
        if working.mode == "RGBA":
            # Box-reducing needs premultiplied colour; the whole reduced picture stays
            # premultiplied until the last band is in.
            working = working.convert("RGBa")
        part = working.reduce(factor)
        del working
        if reduced is None:
            size = (math.ceil(width / factor), math.ceil(height / factor))
            reduced = Image.new(part.mode, size)
        reduced.paste(part, (0, top))
        top += part.height
    assert reduced is not None
    return reduced.convert("RGBA") if reduced.mode == "RGBa" else reduced
