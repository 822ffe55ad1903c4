"""HEIF/AVIF containers: AVIF's clean aperture (then irot, then imir), codings named."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chalicelib.core.errors import UnsupportedImage
from tests.support import imagegen, isobmff
from tests.support.helpers import StageRecorder
from worker.imaging.process import ImageLimits, ImageReport, process_image

LIMITS = ImageLimits(max_pixels=50_000_000, max_dimension=20_000, max_frames=50)


def run(data: bytes, *renditions: dict[str, Any]) -> ImageReport:
    options = {"renditions": list(renditions)} if renditions else None
    return process_image(data, "", options, LIMITS, StageRecorder())


def quadrants() -> Image.Image:
    """64x48: a black bar 8 px wide on the left (outside the aperture), then four
    coloured quadrants, so that any turn or mirror shows."""
    image = Image.new("RGB", (64, 48), (0, 0, 0))
    colours = [(230, 30, 30), (30, 200, 30), (30, 30, 230), (230, 230, 30)]
    for i, colour in enumerate(colours):
        left = 8 + (i % 2) * 28
        top = (i // 2) * 24
        image.paste(colour, (left, top, left + 28, top + 24))
    return image


APERTURE = (8, 0, 64, 48)  # clap 56x48, centred 4 px right of the picture's centre


def avif_with(*properties: bytes) -> bytes:
    data = imagegen.encoded(quadrants(), "AVIF", quality=95)
    return isobmff.with_properties(data, isobmff.clap(56, 48, 4, 0), *properties)


def png_output(report: ImageReport) -> Image.Image:
    return Image.open(io.BytesIO(report.outputs[0].data)).convert("RGB")


def close(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).mean())


def as_is(width: int, height: int) -> dict[str, Any]:
    return {"name": "out", "width": width, "height": height, "fit": "fill", "format": "png"}


def test_an_avifs_clean_aperture_is_applied() -> None:
    # Used to come out 64x48 with the black bar the authors meant to hide.
    report = run(avif_with(), as_is(56, 48))
    assert (report.facts["width"], report.facts["height"]) == (56, 48)
    expected = quadrants().crop(APERTURE)
    assert close(png_output(report), expected) < 4
    assert report.outputs[0].crop == (0, 0, 56, 48)


@pytest.mark.parametrize(
    ("properties", "turn"),
    [
        ((isobmff.irot(1),), lambda i: i.transpose(Image.Transpose.ROTATE_90)),
        ((isobmff.irot(3),), lambda i: i.transpose(Image.Transpose.ROTATE_270)),
        # imir's mode (ISO/IEC 23008-12:2022; "axis" before): 0 exchanges top and
        # bottom, 1 left and right, as libheif, libavif and libvips read it.
        ((isobmff.imir(0),), lambda i: i.transpose(Image.Transpose.FLIP_TOP_BOTTOM)),
        ((isobmff.imir(1),), lambda i: i.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        (
            (isobmff.irot(1), isobmff.imir(0)),
            lambda i: i.transpose(Image.Transpose.ROTATE_90).transpose(
                Image.Transpose.FLIP_TOP_BOTTOM
            ),
        ),
        (
            (isobmff.irot(3), isobmff.imir(1)),
            lambda i: i.transpose(Image.Transpose.ROTATE_270).transpose(
                Image.Transpose.FLIP_LEFT_RIGHT
            ),
        ),
    ],
)
def test_the_crop_comes_before_the_rotation_and_the_mirror(
    properties: tuple[bytes, ...], turn: Any
) -> None:
    expected = turn(quadrants().crop(APERTURE))
    report = run(avif_with(*properties), as_is(*expected.size))
    assert (report.facts["width"], report.facts["height"]) == expected.size
    assert close(png_output(report), expected) < 4


def test_cover_crops_are_placed_on_the_cropped_frame() -> None:
    # A west-gravity cover crop of the displayed picture starts at its left edge: the
    # first quadrant column, not the hidden bar.
    cover = {**as_is(28, 48), "fit": "cover", "gravity": "west"}
    report = run(avif_with(), cover)
    assert report.outputs[0].crop == (0, 0, 28, 48)
    expected = quadrants().crop((8, 0, 36, 48))
    assert close(png_output(report), expected) < 4


def test_an_invalid_clean_aperture_is_ignored() -> None:
    data = imagegen.encoded(quadrants(), "AVIF", quality=95)
    # 57 px wide centred on the picture: a fractional left edge, which readers ignore.
    report = run(isobmff.with_properties(data, isobmff.clap(57, 48)), as_is(64, 48))
    assert (report.facts["width"], report.facts["height"]) == (64, 48)


def test_a_heic_keeps_libheifs_own_clean_aperture() -> None:
    # pillow-heif pads 300x201 to whole blocks and writes a clap; libheif applies it.
    report = run(imagegen.heic(300, 201), as_is(300, 201))
    assert (report.facts["width"], report.facts["height"]) == (300, 201)


@pytest.mark.parametrize(
    ("item_type", "named"),
    [
        (b"jpeg", "JPEG"),
        (b"j2k1", "JPEG 2000"),
        (b"avc1", "AVC (H.264)"),
        (b"unci", "uncompressed"),
    ],
)
def test_a_heif_coded_with_another_codec_is_unsupported_and_named(
    item_type: bytes, named: str
) -> None:
    # A valid file (a JPEG-coded HEIF holds a plain JPEG as its item) that libheif here
    # cannot decode: it used to fail as truncated or corrupt.
    coded = imagegen.jpeg(64, 48) if item_type == b"jpeg" else b"\x00" * 64
    data = isobmff.single_item_heif(item_type, coded, (64, 48))
    with pytest.raises(UnsupportedImage) as raised:
        run(data, as_is(64, 48))
    assert f"A HEIF image coded with {named} is not supported." == raised.value.message


def avif_without_alpha_ispe() -> tuple[bytes, bytes]:
    """An RGBA AVIF as written, and the same with its alpha item's ispe association
    pointed at its pixi instead (what early encoders wrote: no ispe on the alpha)."""
    rgba = Image.new("RGBA", (64, 48), (200, 40, 40, 255))
    rgba.paste((40, 40, 200, 90), (0, 0, 32, 48))
    rgba.paste((0, 0, 0, 0), (48, 0, 64, 48))
    data = imagegen.encoded(rgba, "AVIF", quality=90)
    # Item 2 (the alpha) lists ispe (1), pixi (5), av1C (6, essential), auxC (7).
    entry = bytes([0x00, 0x02, 0x04, 0x01, 0x05, 0x86, 0x07])
    assert data.count(entry) == 1
    return data, data.replace(entry, bytes([0x00, 0x02, 0x04, 0x05, 0x05, 0x86, 0x07]))


def test_an_avif_whose_alpha_has_no_ispe_opens_with_its_alpha() -> None:
    whole, early = avif_without_alpha_ispe()
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(early), formats=["AVIF"])  # libavif's strict check
    report = run(early, as_is(64, 48))
    assert report.facts["has_alpha"] is True
    got = Image.open(io.BytesIO(report.outputs[0].data))
    expected = Image.open(io.BytesIO(run(whole, as_is(64, 48)).outputs[0].data))
    assert got.mode == "RGBA"
    assert got.tobytes() == expected.tobytes()  # the same pixels, the alpha identical
    assert got.getpixel((56, 10))[3] == 0 and got.getpixel((10, 10))[3] in range(85, 96)
