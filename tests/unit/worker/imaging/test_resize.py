"""The resize on the imaging threads: the same pixels in bands as in one piece.

``worker.imaging.resize.resize`` cuts a large output into horizontal bands resized
on several threads, after Pillow's ``reducing_gap`` step done once. Each band and
the whole picture are resampled horizontally first, then vertically (one Pillow
call may pick either order, and a band could get the other one than its
neighbour: a seam, up to 10 levels on a photo), so the result is that of two Pillow
calls in that order, whatever the band count, and with or without threads. Exactly
so where a band's edges fall on exact binary fractions of source rows (the default
renditions' scales: 1.5625, 2.5, 1.5); elsewhere Pillow's single-precision box
moves a filter tap by a rounding, so a value may differ by one level.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from worker.imaging import resize as resizing
from worker.imaging import threads

LANCZOS = Image.Resampling.LANCZOS
# (source, output, exact): exact where the row step is an exact binary fraction.
CASES = [
    ((2000, 1500), (1280, 960), True),  # a JPEG decoded at 1/2, to the preview
    ((1280, 960), (512, 384), True),  # the thumbnail cascaded from the preview
    ((4000, 3000), (1280, 960), True),  # with an integer reduction first
    ((1920, 1080), (1280, 720), True),
    ((1024, 768), (1000, 750), False),  # near 1:1, where Pillow's own order flips
    ((801, 1203), (300, 451), False),  # odd sizes, a portrait
    ((640, 3000), (128, 600), True),  # tall and narrow
]


def _difference(a: Image.Image, b: Image.Image) -> float:
    """The largest difference of a pixel value; with alpha, of the colour as it shows
    (times its alpha: one premultiplied level is many where alpha is near zero)."""
    assert (a.mode, a.size) == (b.mode, b.size)
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.mode == "RGBA":
        x[..., :3] *= x[..., 3:] / 255
        y[..., :3] *= y[..., 3:] / 255
    return float(np.abs(x - y).max())


def _noise(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes(mode, size, rng.randbytes(size[0] * size[1] * len(mode)))


def _two_calls(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The reference: Pillow's reduction as ``reducing_gap=2`` does it, then the
    horizontal pass of the whole picture, then the vertical one."""
    fx = int(image.width / size[0] / resizing.REDUCING_GAP) or 1
    fy = int(image.height / size[1] / resizing.REDUCING_GAP) or 1
    if fx > 1 or fy > 1:
        image = image.reduce((fx, fy))
    wide = image.resize((size[0], image.height), LANCZOS, box=(0, 0, image.width, image.height))
    return wide.resize(size, LANCZOS, box=(0, 0, size[0], image.height))


@pytest.fixture(params=[1, 8], ids=lambda n: f"{n}-bands-per-thread")
def bands_per_thread(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    if threads.pool() is None:
        pytest.skip("one usable core: no bands")
    monkeypatch.setattr(resizing, "BANDS_PER_THREAD", request.param)
    return int(request.param)


@pytest.mark.parametrize(("source", "target", "exact"), CASES)
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_bands_give_the_two_pass_resize(
    bands_per_thread: int, source: tuple[int, int], target: tuple[int, int], exact: bool, mode: str
) -> None:
    image = _noise(source, mode, seed=source[0] * 7 + len(mode))
    got = resizing.resize(image, target, (0, 0, *source))
    expected = _two_calls(image.convert({"RGBA": "RGBa"}.get(mode, mode)), target)
    expected = expected.convert(mode)
    # With alpha, one level of premultiplied colour and one of alpha can meet: 2.
    assert _difference(got, expected) <= (0 if exact else 1 if mode != "RGBA" else 2)


@pytest.mark.parametrize("seed", range(12))
def test_bands_and_one_piece_agree_on_crops(
    bands_per_thread: int, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """A cover crop's box has fractional edges; bands must still join without a seam."""
    rng = random.Random(seed)
    source = (rng.randint(600, 2400), rng.randint(600, 2400))
    image = _noise(source, "RGB", seed)
    left, top = rng.uniform(0, source[0] / 3), rng.uniform(0, source[1] / 3)
    right = rng.uniform(source[0] * 2 / 3, source[0])
    bottom = rng.uniform(source[1] * 2 / 3, source[1])
    target = (rng.randint(256, 900), rng.randint(256, 900))
    banded = resizing.resize(image, target, (left, top, right, bottom))
    monkeypatch.setattr(resizing, "BAND_MIN_ROWS", 10**9)  # one piece, no threads
    whole = resizing.resize(image, target, (left, top, right, bottom))
    assert _difference(banded, whole) <= 1


@pytest.mark.parametrize(("source", "target", "exact"), CASES)
def test_one_call_bands_are_the_two_calls_where_the_engine_allows_them(
    source: tuple[int, int], target: tuple[int, int], exact: bool
) -> None:
    """Pillow-SIMD resamples a band in one call on the whole image (its horizontal pass
    always first); the pixels must be those of the crop and two calls, band by band."""
    if not resizing.ONE_CALL_BANDS:
        pytest.skip("this engine may pick the vertical pass first: two calls")
    image = _noise(source, "RGB", seed=source[1])
    scale = source[1] / target[1]
    for top_row, bottom_row in ((0, target[1] // 3), (target[1] // 3, target[1])):
        box = (0.0, top_row * scale, float(source[0]), bottom_row * scale)
        size = (target[0], bottom_row - top_row)
        one = resizing._lanczos(image, size, box)
        two = resizing._two_calls(image, size, box)
        # Off exact binary fractions the single-precision box may move a tap by a rounding.
        assert _difference(one, two) <= (0 if exact else 1)
