"""A 12 MP phone photo in every codec and quality phones and apps use completes, upright.

The scene is a real photo of the corpus (recurser's Landscape_1.jpg) enlarged to
4032x3024, the size of a 12 MP phone sensor: smooth like a real photo, so modern codecs
compress it 100-1000 times, the ratio the old bomb rule refused. Each file carries the
orientation of a phone held upright (6) the way phones write it: irot/imir boxes in
HEIC and AVIF, the EXIF tag in JPEG and WebP.
"""

from __future__ import annotations

import io
from contextlib import nullcontext
from functools import cache

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from chalicelib.core.settings import Settings
from tests.corpus.test_corpus import CORPUS
from worker.imaging.process import ImageLimits, process_image

pytestmark = pytest.mark.slow

SETTINGS = Settings()
LIMITS = ImageLimits(
    SETTINGS.max_image_pixels,
    SETTINGS.max_image_dimension,
    SETTINGS.max_image_frames,
    SETTINGS.max_decode_bytes,
)
SENSOR = (4032, 3024)
CASES = [
    *[("avif", q) for q in (30, 60, 90)],
    *[("heic", q) for q in (30, 50, 90)],
    *[("webp", q) for q in (50, 75, 95)],
    *[("jpeg", q) for q in (60, 95)],
]


@cache
def upright_scene() -> Image.Image:
    photo = Image.open(CORPUS / "exif-orientation-examples" / "Landscape_1.jpg").convert("RGB")
    # Portrait, as a phone held upright sees it.
    return photo.resize((SENSOR[1], SENSOR[0]), Image.Resampling.BICUBIC)


def phone_file(fmt: str, quality: int) -> bytes:
    """The scene as the sensor stores it (landscape), with orientation 6 to show it."""
    stored = upright_scene().transpose(Image.Transpose.ROTATE_90)
    assert stored.size == SENSOR
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    if fmt == "heic":
        pillow_heif.from_pillow(stored).save(buffer, quality=quality, exif=exif.tobytes())
    elif fmt == "avif":
        stored.save(buffer, "AVIF", quality=quality, speed=8, exif=exif)
    elif fmt == "webp":
        stored.save(buffer, "WEBP", quality=quality, method=2, exif=exif)
    else:
        stored.save(buffer, "JPEG", quality=quality, exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize(("fmt", "quality"), CASES, ids=[f"{f}-q{q}" for f, q in CASES])
def test_a_12_mp_phone_photo_completes_upright(fmt: str, quality: int) -> None:
    data = phone_file(fmt, quality)
    if fmt in ("avif", "heic"):
        assert b"irot" in data
    ratio = SENSOR[0] * SENSOR[1] * 4 / len(data)
    print(f"{fmt} q{quality}: {len(data) / 1000:.0f} KB, decodes {ratio:.0f}x its size")
    report = process_image(data, "", None, LIMITS, lambda _name: nullcontext())
    assert (report.facts["width"], report.facts["height"]) == (3024, 4032)
    thumbnail = Image.open(io.BytesIO(report.outputs[0].data)).convert("RGB")
    assert thumbnail.size == (384, 512)
    expected = upright_scene().resize(thumbnail.size, Image.Resampling.LANCZOS)
    sideways = upright_scene().transpose(Image.Transpose.ROTATE_180)
    difference = np.abs(np.asarray(thumbnail, np.int16) - np.asarray(expected, np.int16)).mean()
    wrong = sideways.resize(thumbnail.size, Image.Resampling.LANCZOS)
    wrong_difference = np.abs(np.asarray(thumbnail, np.int16) - np.asarray(wrong, np.int16)).mean()
    assert difference < 8 < wrong_difference, (difference, wrong_difference)
