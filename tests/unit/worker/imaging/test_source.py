"""Opening sources: all eight orientations applied exactly once, valid variants named."""

from __future__ import annotations

import io
from contextlib import nullcontext

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageOps

from chalicelib.core.errors import UnsupportedImage
from tests.support import imagegen
from worker.imaging.process import ImageLimits, process_image
from worker.imaging.source import ORIENTED_ON_LOAD, open_source, transpose_for

LIMITS = ImageLimits(50_000_000, 20_000, 50)
# The inverse of each orientation's transpose: what a camera stores for an upright scene.
_STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
FORMATS = ["jpeg", "tiff", "png", "webp", "avif", "heic"]


def upright_scene() -> Image.Image:
    """96x64, four quadrants of different colours: every transpose of it differs."""
    scene = Image.new("RGB", (96, 64), (230, 230, 230))
    scene.paste((220, 30, 30), (0, 0, 48, 32))
    scene.paste((30, 170, 60), (48, 0, 96, 32))
    scene.paste((40, 70, 220), (0, 32, 48, 64))
    return scene


def stored(orientation: int) -> Image.Image:
    scene = upright_scene()
    method = _STORE[orientation]
    return scene if method is None else scene.transpose(method)


def write(fmt: str, orientation: int) -> bytes:
    """The stored picture written as ``fmt`` with ``orientation`` where phones put it:
    EXIF for JPEG, PNG (eXIf), WebP; the TIFF tag; irot/imir boxes for AVIF and HEIC."""
    picture = stored(orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    if fmt == "jpeg":
        return imagegen.encoded(picture, "JPEG", quality=95, exif=exif)
    if fmt == "png":
        return imagegen.encoded(picture, "PNG", exif=exif)
    if fmt == "webp":
        return imagegen.encoded(picture, "WEBP", lossless=True, exif=exif)
    if fmt == "tiff":
        return imagegen.encoded(picture, "TIFF", tiffinfo={0x0112: orientation})
    if fmt == "avif":
        # Pillow turns the EXIF orientation into the container's irot/imir boxes.
        return imagegen.encoded(picture, "AVIF", quality=95, exif=exif)
    heif = pillow_heif.from_pillow(picture)
    buffer = io.BytesIO()
    heif.save(buffer, quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def difference(a: Image.Image, b: Image.Image) -> float:
    if a.size != b.size:
        return 255.0
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


@pytest.mark.parametrize("fmt", ["avif", "heic"])
def test_container_formats_carry_orientation_in_irot_imir(fmt: str) -> None:
    for orientation in range(2, 9):
        data = write(fmt, orientation)
        assert b"irot" in data or b"imir" in data, orientation
    assert b"irot" not in write(fmt, 1) and b"imir" not in write(fmt, 1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_which_codec_applies_orientation_is_what_the_worker_assumes(fmt: str) -> None:
    """Pillow 13 applies a TIFF's orientation while loading and libheif applies HEIF's
    irot/imir; for the others the decoded pixels come out as stored."""
    image = Image.open(io.BytesIO(write(fmt, 6)))
    image.load()
    applied = image.size == (96, 64)  # stored 64x96
    name = "heif" if fmt == "heic" else fmt
    assert applied == (name in ORIENTED_ON_LOAD)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_orientation_comes_out_upright_once(fmt: str, orientation: int) -> None:
    data = write(fmt, orientation)
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    scene = upright_scene()
    # The file itself is right: Pillow's own reference view of it is the upright scene.
    assert difference(reference, scene) < 6
    options = {"renditions": [{"name": "full", "width": 96, "height": 96, "format": "png"}]}
    report = process_image(data, "", options, LIMITS, lambda _name: nullcontext())
    assert (report.facts["width"], report.facts["height"]) == (96, 64)
    out = Image.open(io.BytesIO(report.outputs[0].data)).convert("RGB")
    assert out.size == (96, 64)
    # Compared with every way the picture could have been turned, upright is closest.
    candidates = {
        o: difference(out, scene.transpose(m) if (m := transpose_for(o)) else scene)
        for o in range(1, 9)
    }
    assert min(candidates, key=lambda o: candidates[o]) == 1, candidates
    assert difference(out, reference) < 6


@pytest.mark.parametrize("padding", [0, 70_000])
def test_a_scan_bomb_is_refused_before_any_decode(padding: int) -> None:
    from chalicelib.core.errors import UnsupportedImage
    from worker.imaging.source import open_source

    bomb = imagegen.progressive_scan_bomb(4000, 3000, 30_000, padding=padding)
    with pytest.raises(UnsupportedImage, match="scans"):
        open_source(bomb, 50_000_000, 20_000, 200)


@pytest.mark.parametrize(("pages", "loop"), [(40_000, False), (5_000, True)])
def test_tiff_pages_are_counted_by_the_bounded_walk_before_pillow(pages: int, loop: bool) -> None:
    from chalicelib.core.errors import ImageTooLarge
    from worker.imaging.source import open_source

    tiff = imagegen.tiff_page_chain(pages, 70_000, loop=loop)
    with pytest.raises(ImageTooLarge, match="frames"):
        open_source(tiff, 50_000_000, 20_000, 200)


@pytest.mark.parametrize(("marker", "bits"), [(0xC1, 12), (0xC3, 16)])
def test_a_jpeg_of_another_precision_is_an_unsupported_variant(marker: int, bits: int) -> None:
    # A 12-bit (extended) or 16-bit (lossless) JPEG is valid; Pillow decodes only 8 bits,
    # and the failure used to read "truncated or corrupt".
    data = bytearray(imagegen.jpeg(64, 48))
    sof = data.find(b"\xff\xc0")
    data[sof + 1], data[sof + 4] = marker, bits
    with pytest.raises(UnsupportedImage, match=f"A {bits}-bit JPEG is not supported"):
        open_source(bytes(data), 50_000_000, 20_000, 50)


@pytest.mark.parametrize("side", [16384, 16777216])
def test_a_webp_declaring_a_canvas_over_the_limits_is_too_large_on_every_engine(
    side: int,
) -> None:
    """Checked from the VP8X header before libwebp sees it (Pillow 13 does so itself,
    Pillow-SIMD 12 does not: libwebp's refusal of a 2^24 canvas read as corrupt)."""
    from chalicelib.core.errors import ImageTooLarge
    from tests.hostile.corpus import webp_vp8x_canvas

    with pytest.raises(ImageTooLarge):
        open_source(webp_vp8x_canvas(side, side), 100_000_000, 20_000, 200)
