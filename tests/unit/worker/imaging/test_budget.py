"""The decode budget: the pure cost arithmetic, bombs refused with figures, real photos pass."""

from __future__ import annotations

import io
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from chalicelib.core.errors import ImageTooLarge
from chalicelib.core.settings import Settings
from chalicelib.media.image_header import gif_frames
from tests.hostile import corpus
from tests.support import imagegen
from worker.imaging.budget import (
    DecodeCost,
    decode_cost,
    human_bytes,
    jpeg_reduction,
    over_budget_message,
)
from worker.imaging.process import ImageLimits, ImageReport, process_image

CORPUS = Path(__file__).resolve().parents[3] / "corpus"
DEFAULT = ImageLimits(100_000_000, 20_000, 200)
SMALL_BUDGET = ImageLimits(100_000_000, 20_000, 200, max_decode_bytes=64 * 2**20)


def run(data: bytes, options: Any = None, limits: ImageLimits = DEFAULT) -> ImageReport:
    return process_image(data, "", options, limits, lambda _name: nullcontext())


# --- the pure arithmetic ----------------------------------------------------------


def test_cost_counts_the_decoded_frame_and_the_working_copy() -> None:
    # 8-bit grey: 1 byte stored + 4 for the RGB working copy.
    assert decode_cost(1000, 1000, "L", "png").bytes == 5_000_000
    # RGB is stored in 4 bytes a pixel by Pillow.
    assert decode_cost(1000, 1000, "RGB", "png").bytes == 8_000_000
    assert decode_cost(1000, 1000, "I;16", "png").bytes == 6_000_000


def test_cost_counts_the_codec_buffers() -> None:
    png = decode_cost(4032, 3024, "RGB", "png").bytes
    assert decode_cost(4032, 3024, "RGB", "avif").bytes > png
    assert decode_cost(4032, 3024, "RGB", "heif").bytes > png
    assert decode_cost(4032, 3024, "RGB", "webp").bytes > png


def test_shrink_on_load_divides_each_side() -> None:
    full = decode_cost(8000, 6000, "RGB", "jpeg")
    quarter = decode_cost(8000, 6000, "RGB", "jpeg", reduction=4)
    assert (quarter.width, quarter.height) == (2000, 1500)
    assert quarter.bytes * 16 == full.bytes
    # Odd sides round up, as libjpeg does.
    assert decode_cost(1001, 999, "L", "jpeg", reduction=2).width == 501


def test_progressive_jpeg_coefficients_stay_full_size() -> None:
    baseline = decode_cost(8000, 8000, "L", "jpeg", reduction=8).bytes
    progressive = decode_cost(8000, 8000, "L", "jpeg", reduction=8, progressive_bands=1).bytes
    assert progressive - baseline == 8000 * 8000 * 2


def test_a_png_decoded_in_bands_costs_its_reduced_picture_and_one_band() -> None:
    whole = decode_cost(10000, 10000, "RGBA", "png")
    banded = decode_cost(10000, 10000, "RGBA", "png", reduction=3, band_pixels=990_000)
    assert (banded.width, banded.height) == (3334, 3334)
    assert banded.bytes == 3334 * 3334 * 8 + 990_000 * 16
    assert banded.bytes * 7 < whole.bytes
    # Without alpha the reduced picture needs no premultiplied copy converted back.
    opaque = decode_cost(10000, 10000, "RGB", "png", reduction=3, band_pixels=990_000)
    assert opaque.bytes == 3334 * 3334 * 4 + 990_000 * 16


def test_every_decoded_frame_counts() -> None:
    one = decode_cost(640, 480, "RGBA", "gif")
    forty = decode_cost(640, 480, "RGBA", "gif", frames=40)
    assert forty.bytes == 40 * one.bytes
    assert forty.describe() == "40 frames of 640x480 RGBA"


@pytest.mark.parametrize(
    ("scale", "reduction"),
    [(0.0, 1), (1.0, 1), (0.6, 1), (0.5, 2), (0.3, 2), (0.25, 4), (0.13, 4), (0.125, 8), (0.01, 8)],
)
def test_jpeg_reduction(scale: float, reduction: int) -> None:
    assert jpeg_reduction(scale) == reduction


def test_message_gives_the_numbers() -> None:
    cost = DecodeCost(bytes=int(1.2 * 2**30), width=20000, height=20000, mode="RGB", frames=1)
    message = over_budget_message(cost, 768 * 2**20)
    assert message == "Decoding needs about 1.2 GB (20000x20000 RGB); the budget is 768 MB."
    assert over_budget_message(cost, cost.bytes) is None
    assert human_bytes(512 * 2**10) == "512 KB"


def test_the_default_budget_is_the_setting() -> None:
    assert DEFAULT.max_decode_bytes == Settings().max_decode_bytes == 768 * 2**20
    assert Settings.from_env({"MAX_DECODE_BYTES": "1000"}).max_decode_bytes == 1000


# --- true bombs are refused, with figures ----------------------------------------------


def test_a_huge_png_header_is_refused_with_its_size() -> None:
    data = imagegen.png_header_bomb(100_000, 100_000)
    assert len(data) < 50_000
    with pytest.raises(ImageTooLarge, match="declares 10000000000 pixels; at most 100000000"):
        run(data)


def test_a_gif_of_ten_thousand_frames_is_refused() -> None:
    with pytest.raises(ImageTooLarge, match="10000 frames; at most 200"):
        run(corpus.gif_many_frames(10_000))


def test_a_jpeg_declaring_65535_a_side_is_refused() -> None:
    with pytest.raises(ImageTooLarge, match="declares 4294836225 pixels"):
        run(corpus.jpeg_with_dimensions(65_535, 65_535))


@pytest.mark.parametrize(
    ("data", "described"),
    [
        # Grey+alpha, decoded in bands, shrunk by 3 a side for the 1280 preview: the
        # reduced picture (RGBA, and its premultiplied form) and one band, 101 MB, are
        # still over 64 MB.
        (corpus.png((10000, 10000, 8, 4), corpus.deflated_zeros(10000 * 20001)), "3334x3334 RGBA"),
        (corpus.webp_lossless_with_dimensions(8000, 8000), "8000x8000 RGB"),
        (corpus.bmp_rle8_bomb(8000), "8000x8000 P"),
        (corpus.jpeg_progressive(6000), "1500x1500 L"),
    ],
    ids=["png", "webp", "bmp-rle", "jpeg-progressive"],
)
def test_flat_images_over_the_budget_are_refused(data: bytes, described: str) -> None:
    with pytest.raises(ImageTooLarge) as refused:
        run(data, limits=SMALL_BUDGET)
    message = refused.value.message
    assert f"({described}); the budget is 64 MB." in message
    assert "bomb" not in message


def test_a_large_png_needs_the_budget_of_what_its_outputs_need() -> None:
    # 8000x8000 grey: 320 MB whole, refused under 64 MB until PNGs were decoded in
    # bands; shrunk by 3 a side while it decodes, it costs 43 MB for the default outputs.
    data = corpus.png_deep_compression(8000)
    report = run(data, limits=SMALL_BUDGET)
    assert (report.facts["width"], report.facts["height"]) == (8000, 8000)
    assert max(o.width for o in report.outputs) == 1280
    big = {"renditions": [{"name": "big", "width": 4096}]}  # needs the whole picture
    with pytest.raises(ImageTooLarge, match=r"\(8000x8000 L\); the budget is 64 MB"):
        run(data, big, SMALL_BUDGET)


def test_a_kept_animation_costs_every_frame_on_its_largest_canvas() -> None:
    data = corpus.gif((1, 1), [(1, 1), (3000, 3000)])
    assert gif_frames(data)[1] == (3000, 3000)
    still = {"renditions": [{"name": "s", "width": 64, "format": "gif"}]}
    animation = {
        "renditions": [{"name": "a", "width": 64, "format": "gif", "keep_animation": True}]
    }
    run(data, still, SMALL_BUDGET)  # one 1x1 frame decoded
    with pytest.raises(ImageTooLarge, match=r"2 frames of 3000x3000 RGBA"):
        run(data, animation, SMALL_BUDGET)


# --- real pictures pass, whatever their compression ratio ----------------------------


def photo_like(width: int, height: int) -> Image.Image:
    """A smooth picture that modern codecs compress 500-1000 times (a phone photo does
    not compress that well, but it is what the old ratio rule refused)."""
    small = Image.open(io.BytesIO(imagegen.encoded(imagegen.marked_image(64, 48), "PNG")))
    return small.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)


def test_a_12_mp_avif_of_a_hundred_kilobytes_passes() -> None:
    data = imagegen.encoded(photo_like(4032, 3024), "AVIF", quality=60, speed=8)
    assert len(data) < 200_000
    report = run(data)
    assert (report.facts["width"], report.facts["height"]) == (4032, 3024)


def test_a_5k_screenshot_png_passes() -> None:
    shot = Image.new("RGB", (5120, 2880), (246, 246, 246))
    shot.paste((30, 30, 30), (0, 0, 5120, 120))
    shot.paste((20, 110, 220), (400, 600, 2000, 1400))
    data = imagegen.encoded(shot, "PNG")
    assert len(data) < 150_000
    assert run(data).facts["width"] == 5120


def test_a_50_mp_jpeg_passes() -> None:
    data = imagegen.encoded(photo_like(8660, 5773), "JPEG", quality=80)
    report = run(data, {"renditions": [{"name": "big", "width": 4096}]})
    assert report.outputs[0].width == 4096


def test_a_multi_page_fax_passes() -> None:
    pages = [Image.new("1", (1728, 2200), 1) for _ in range(3)]
    data = imagegen.encoded(
        pages[0], "TIFF", compression="group4", save_all=True, append_images=pages[1:]
    )
    assert len(data) < 10_000
    report = run(data)
    assert report.facts["frames"] == 3 and report.facts["width"] == 1728


def test_a_gif_frame_past_the_limits_matters_only_when_frames_are_decoded() -> None:
    # Pillow's decompression_bomb_extents.gif: a 100x100 GIF whose later frame claims
    # 65635x65635. Its first frame is a fine still; its animation is not.
    data = (CORPUS / "pillow" / "decompression_bomb_extents.gif").read_bytes()
    report = run(data)
    assert (report.facts["width"], report.facts["height"]) == (100, 100)
    animation = {
        "renditions": [{"name": "a", "width": 64, "format": "gif", "keep_animation": True}]
    }
    with pytest.raises(ImageTooLarge, match="animation"):
        run(data, animation)
