"""Animations: which frames play, how long each shows, and what a GIF leaves uncovered.

Pillow's readers need three corrections, fenced here and checked against the
installed Pillow in tests/unit/worker/imaging/test_animation.py:

- an APNG whose default image is not part of the animation (no ``fcTL`` before
  ``IDAT``; Pillow's ``info["default_image"]``) comes out as an extra frame 0: it is
  what a still shows (as libpng, libvips and every non-APNG reader do) but never a
  frame of the animation, and not counted in ``frames``;
- a HEIF holding several still images (a burst, a depth image as an item) is not an
  animation: pillow-heif opens the primary image and counts the others as frames;
- a GIF's canvas outside what its frames have drawn is transparent (browsers, libvips,
  the format's reference renderings), where Pillow paints the background colour or
  palette entry 0 into it when the GIF has no transparent colour;
- an APNG frame that blends over the canvas and is disposed "to previous": Pillow
  composes such a frame into the very canvas it keeps for that disposal once the frame
  is loaded before the next seek (as here, to read each frame), so the next frame
  started from the disposed frame instead of from what was under it
  (web-platform-tests' dispose-in-region-previous). ``playing_frames`` keeps a copy of
  that canvas across the load (``PngImageFile._prev_im``, fenced in worker/upstream.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageSequence

# How long a frame without a stated duration shows (ms), as browsers do.
DEFAULT_DURATION_MS = 100


def hidden_default_image(image: Image.Image) -> bool:
    """True if Pillow's frame 0 is an APNG's default image that the animation skips."""
    return (
        image.format == "PNG"
        and bool(image.info.get("default_image"))
        and int(getattr(image, "n_frames", 1) or 1) > 1
    )


def frame_facts(image: Image.Image, fmt: str) -> tuple[int, bool]:
    """How many frames the source has (as its animation plays) and whether it animates.

    GIFs are counted by the caller from their block structure (no decode).
    """
    frames = int(getattr(image, "n_frames", 1) or 1)
    if hidden_default_image(image):
        frames -= 1
    if fmt == "heif":
        # pillow-heif's frames are the file's top-level still images.
        return frames, False
    return frames, frames > 1 and bool(getattr(image, "is_animated", False))


def playing_frames(image: Image.Image) -> Iterator[Image.Image]:
    """The frames of the animation in order, each loaded (so its duration is read)."""
    skip = 1 if hidden_default_image(image) else 0
    for index, frame in enumerate(ImageSequence.Iterator(image)):
        if index < skip:
            continue
        # Some plugins (AVIF) set a frame's duration only once it is loaded.
        _load_keeping_apng_canvas(frame)
        yield frame


def _load_keeping_apng_canvas(frame: Image.Image) -> None:
    """Load the frame; for an APNG, keep the canvas Pillow saved before it intact.

    Pillow's ``load_end`` pastes a blend-over frame into ``_prev_im`` and makes that
    the image, so a later "dispose to previous" would restore the frame itself.
    """
    canvas = getattr(frame, "_prev_im", None) if frame.format == "PNG" else None
    kept = canvas.copy() if canvas is not None else None
    frame.load()
    if kept is not None and getattr(frame, "_prev_im", None) is frame.im:
        frame._prev_im = kept  # type: ignore[attr-defined]


def duration_of(frame: Image.Image) -> int:
    """The loaded frame's duration in whole ms (at least 1; 100 when none is stated)."""
    value = frame.info.get("duration")
    if not value:
        return DEFAULT_DURATION_MS
    return max(1, round(float(value)))


class GifCoverage:
    """Which pixels of a GIF's canvas the frames shown so far have drawn.

    Fed each frame in order (after Pillow seeked to it), it gives the frame with the
    canvas nobody drew left transparent. Disposal is followed as the format says:
    2 (restore to background) clears the frame's area again, 3 (restore to previous)
    gives back what was drawn before it.
    """

    def __init__(self) -> None:
        self._drawn: np.ndarray | None = None
        self._restore: np.ndarray | None = None
        self._extent: tuple[int, int, int, int] | None = None
        self._disposal = 0

    def apply(self, frame: Image.Image, rgba: Image.Image) -> Image.Image:
        """``rgba`` (the composed frame, RGB or RGBA) with the undrawn canvas transparent."""
        width, height = rgba.size
        drawn = self._drawn
        if drawn is None or drawn.shape != (height, width):
            grown = np.zeros((height, width), dtype=bool)
            if drawn is not None:
                h, w = min(height, drawn.shape[0]), min(width, drawn.shape[1])
                grown[:h, :w] = drawn[:h, :w]
            drawn = grown
        if self._extent is not None:
            if self._disposal == 2:
                x0, y0, x1, y1 = self._extent
                drawn[y0:y1, x0:x1] = False
            elif self._disposal == 3 and self._restore is not None:
                h = min(height, self._restore.shape[0])
                w = min(width, self._restore.shape[1])
                drawn = np.zeros((height, width), dtype=bool)
                drawn[:h, :w] = self._restore[:h, :w]
        self._restore = drawn.copy()
        extent = getattr(frame, "dispose_extent", None) or (0, 0, width, height)
        x0, y0, x1, y1 = (max(0, int(v)) for v in extent)
        drawn[y0:y1, x0:x1] = True
        self._drawn, self._extent = drawn, (x0, y0, x1, y1)
        self._disposal = int(getattr(frame, "disposal_method", 0) or 0)
        if drawn.all():
            return rgba
        out = rgba if rgba.mode == "RGBA" else rgba.convert("RGBA")
        alpha = np.asarray(out.getchannel("A")) * drawn
        out.putalpha(Image.fromarray(alpha.astype(np.uint8), "L"))
        return out


def first_frame_uncovered(image: Image.Image) -> bool:
    """True if a GIF's first frame leaves part of the canvas undrawn (read after opening)."""
    extent = getattr(image, "dispose_extent", None)
    if image.format != "GIF" or extent is None:
        return False
    x0, y0, x1, y1 = extent
    width, height = image.size
    return x0 > 0 or y0 > 0 or x1 < width or y1 < height
