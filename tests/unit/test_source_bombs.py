"""open_source refuses decompression bombs that stay within the pixel limit."""

from __future__ import annotations

import pytest

from chalicelib.errors import ImageTooLarge
from tests import imagegen
from tests.hostile import corpus
from worker.imaging.source import gif_extent, open_source

LIMITS = {"max_pixels": 100_000_000, "max_dimension": 20_000, "max_frames": 200}


@pytest.mark.parametrize(
    "data",
    [
        corpus.png_deep_compression(8000),
        corpus.webp_lossless_with_dimensions(8000, 8000),
        corpus.bmp_rle8_bomb(8000),
        corpus.jpeg_progressive(6000),
        corpus.gif((1, 1), [(1, 1), (8000, 8000)]),
    ],
    ids=["png", "webp", "bmp-rle", "jpeg-progressive", "gif-later-frame"],
)
def test_bombs_in_the_pixel_limit_are_refused(data: bytes) -> None:
    with pytest.raises(ImageTooLarge, match="decompression bomb"):
        open_source(data, **LIMITS)


def test_real_images_pass() -> None:
    for data in (imagegen.jpeg(4000, 3000), corpus.VALID["png"], imagegen.animated("GIF", 4)):
        assert open_source(data, **LIMITS).width > 0


def test_gif_extent_reads_every_frame() -> None:
    assert gif_extent(corpus.gif((10, 10), [(5, 5), (300, 20)])) == (300, 20)
    assert gif_extent(imagegen.animated("GIF", 3, (120, 80))) == (120, 80)
    assert gif_extent(b"GIF89a") == (0, 0)


def test_a_large_empty_jpeg_is_refused_once_its_outputs_are_planned() -> None:
    """A baseline JPEG decodes at the outputs' scale: with a thumbnail only, 1/8 of a
    10000x10000 header is small (it decodes, or turns out corrupt); a 4096 rendition
    would need a half-size decode, which the planned-scale check refuses as a bomb."""
    import contextlib
    from contextlib import nullcontext

    from chalicelib.errors import CorruptImage
    from worker.imaging import ImageLimits, process_image

    data = corpus.jpeg_with_dimensions(10_000, 10_000)
    limits = ImageLimits(max_pixels=100_000_000, max_dimension=20_000, max_frames=200)
    thumbnail = {"renditions": [{"name": "t", "width": 512}]}
    large = {"renditions": [{"name": "l", "width": 4096}]}
    with contextlib.suppress(CorruptImage):
        process_image(data, "", thumbnail, limits, lambda _name: nullcontext())
    with pytest.raises(ImageTooLarge, match="decompression bomb"):
        process_image(data, "", large, limits, lambda _name: nullcontext())
