"""HDR (PQ, HLG) AVIF/HEIF turned into SDR sRGB; colour matrices libavif refuses named."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from chalicelib.core.errors import UnsupportedImage
from tests.support import imagegen, isobmff
from tests.support.helpers import StageRecorder
from worker.imaging.hdr import HLG, KNEE, PQ, REFERENCE_WHITE, pq_to_nits, roll_off, to_sdr
from worker.imaging.process import ImageLimits, ImageReport, process_image

LIMITS = ImageLimits(max_pixels=50_000_000, max_dimension=20_000, max_frames=50)
BT709_TO_BT2020 = np.array(
    [[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]]
)


def sdr_patches() -> Image.Image:
    """Sixteen flat colour patches whose linear light stays under the tone curve's knee."""
    rng = np.random.default_rng(7)
    colours = rng.integers(20, 225, (16, 3))
    image = np.zeros((64, 64, 3), np.uint8)
    for i, colour in enumerate(colours):
        y, x = divmod(i, 4)
        image[y * 16 : y * 16 + 16, x * 16 : x * 16 + 16] = colour
    return Image.fromarray(image, "RGB")


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)


def pq_encode(nits: np.ndarray) -> np.ndarray:
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.power(np.clip(nits / 10000, 0, 1), m1)
    return np.power((c1 + c2 * y) / (1 + c3 * y), m2)


def pq_signal(sdr: Image.Image) -> Image.Image:
    """``sdr`` graded as PQ BT.2020 (its white at 203 cd/m²), in 8 bits."""
    linear = srgb_to_linear(np.asarray(sdr, np.float64) / 255) @ BT709_TO_BT2020.T
    signal = pq_encode(linear * REFERENCE_WHITE)
    return Image.fromarray(np.round(signal * 255).astype(np.uint8), "RGB")


def pq_avif(sdr: Image.Image) -> bytes:
    """The PQ grade of ``sdr`` as an AVIF (4:4:4) whose nclx box says PQ, BT.2020."""
    data = imagegen.encoded(pq_signal(sdr), "AVIF", quality=100, subsampling="4:4:4")
    return isobmff.set_nclx(data, primaries=9, transfer=16)


def run(data: bytes) -> ImageReport:
    rendition = {"name": "out", "width": 64, "height": 64, "fit": "fill", "format": "png"}
    return process_image(data, "", {"renditions": [rendition]}, LIMITS, StageRecorder())


def delta_e(a: Image.Image, b: Image.Image) -> float:
    lab_a = rgb2lab(np.asarray(a.convert("RGB")) / 255)
    lab_b = rgb2lab(np.asarray(b.convert("RGB")) / 255)
    return float(deltaE_ciede2000(lab_a, lab_b).mean())


def test_a_pq_avif_is_shown_as_its_sdr_grade() -> None:
    sdr = sdr_patches()
    report = run(pq_avif(sdr))
    out = Image.open(io.BytesIO(report.outputs[0].data))
    # Shown as if it were sRGB the PQ signal is washed out: mean ΔE00 15.3. What is
    # left (2.5) is 8-bit PQ's coarse steps and the codec's YUV rounding.
    assert delta_e(out, sdr) < 3


def test_the_conversion_alone_matches_the_sdr_grade() -> None:
    sdr = sdr_patches()
    signal = pq_signal(sdr)
    assert delta_e(signal, sdr) > 10
    assert delta_e(to_sdr(signal, PQ, 9), sdr) < 1  # measured 0.64


def test_hlg_reference_white_is_near_sdr_white() -> None:
    # HLG's 75 % signal is BT.2408's reference white (203 cd/m² on a 1000 cd/m² display).
    grey = Image.new("RGB", (4, 4), (191, 191, 191))
    assert abs(to_sdr(grey, HLG, 9).getpixel((0, 0))[0] - 242) <= 2  # the curve's 0.9


def test_the_tone_curve() -> None:
    values = np.array([0.0, 0.5, KNEE, 1.0, 4.9, 50.0], np.float32)
    mapped = roll_off(values)
    assert list(mapped[:3]) == pytest.approx([0.0, 0.5, KNEE])
    assert mapped[3] == pytest.approx(0.9)
    assert (np.diff(mapped) > 0).all() and mapped[-1] < 1.0
    assert float(pq_to_nits(np.array([1.0]))[0]) == pytest.approx(10000)


@pytest.mark.parametrize(
    ("matrix", "named"),
    [
        (10, "BT.2020 constant-luminance"),
        (13, "chromaticity-derived constant-luminance"),
        (14, "ICtCp"),
    ],
)
def test_a_colour_matrix_libavif_refuses_is_named(matrix: int, named: str) -> None:
    data = imagegen.encoded(sdr_patches(), "AVIF", quality=90)
    with pytest.raises(UnsupportedImage) as raised:
        run(isobmff.set_nclx(data, primaries=9, transfer=16, matrix=matrix))
    assert raised.value.message == f"An AVIF with the {named} colour matrix is not supported."
