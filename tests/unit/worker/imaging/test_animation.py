"""Animations: frame timing, APNG default images, multi-image HEIF, GIF coverage and alpha."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageSequence

from chalicelib.media.image_header import read_header
from tests.support import gifgen, imagegen
from tests.support.helpers import StageRecorder
from worker.imaging.encode import gif_timing
from worker.imaging.process import ImageLimits, ImageReport, RenderedOutput, process_image

LIMITS = ImageLimits(max_pixels=50_000_000, max_dimension=20_000, max_frames=50)
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def run(data: bytes, *renditions: dict[str, Any]) -> ImageReport:
    options = {"renditions": list(renditions)} if renditions else None
    return process_image(data, "", options, LIMITS, StageRecorder())


def frames_of(out: RenderedOutput) -> list[tuple[Image.Image, int]]:
    image = Image.open(io.BytesIO(out.data))
    return [
        (f.convert("RGBA"), int(f.info.get("duration", 0))) for f in ImageSequence.Iterator(image)
    ]


def kept(fmt: str, width: int, height: int) -> dict[str, Any]:
    return {
        "name": "anim",
        "width": width,
        "height": height,
        "fit": "fill",
        "format": fmt,
        "keep_animation": True,
    }


def still(fmt: str, width: int, height: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": "still",
        "width": width,
        "height": height,
        "fit": "fill",
        "format": fmt,
        **extra,
    }


def sequence(fmt: str, durations: list[int], size: tuple[int, int] = (64, 48)) -> bytes:
    colours = [RED, GREEN, BLUE, WHITE]
    images = [Image.new("RGB", size, colours[i % 4]) for i in range(len(durations))]
    return imagegen.encoded(
        images[0], fmt, save_all=True, append_images=images[1:], duration=durations, loop=0
    )


def near(pixel: tuple[int, ...]) -> tuple[int, ...]:
    """An RGB(A) pixel of a lossy output, each channel snapped to 0 or 255."""
    return tuple(255 if v > 127 else 0 for v in pixel[:3])


# --- timing -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["AVIF", "WEBP", "PNG", "GIF"])
def test_a_kept_animation_keeps_every_frames_duration(fmt: str) -> None:
    # AVIF sets a frame's duration only once it is loaded: every frame after the
    # first used to get 100 ms (a 40 ms clip played 2.5 times too slowly).
    durations = [40, 40, 80, 40]
    report = run(sequence(fmt, durations), kept("webp", 32, 24))
    got = [d for _, d in frames_of(report.outputs[0])]
    assert got == durations
    assert sum(got) == sum(durations)


@pytest.mark.parametrize(
    "durations",
    [[33] * 30, [167] * 5, [17] * 45, [40, 5, 40, 5, 5, 40], [1] * 10, [1000, 15, 25]],
)
def test_a_gif_keeps_the_total_duration_and_plays_no_frame_under_20_ms(
    durations: list[int],
) -> None:
    # Pillow truncates to centiseconds (33 ms frames played at 30); browsers show a
    # frame of 10 ms or less for 100 ms.
    report = run(sequence("WEBP", durations), kept("gif", 32, 24))
    got = [d for _, d in frames_of(report.outputs[0])]
    assert min(got) >= 20
    assert abs(sum(got) - max(20, sum(durations))) <= 10, (got, sum(durations))


def test_gif_timing_drops_only_frames_too_short_to_play() -> None:
    kept, delays = gif_timing([33] * 6)
    assert kept == list(range(6)) and sum(delays) == 200  # 198 on the 10 ms grid
    kept, delays = gif_timing([16] * 6)  # 60 fps: every other frame or so
    assert kept[0] == 0 and 3 <= len(kept) <= 4 and sum(delays) == 100
    assert gif_timing([100, 100]) == ([0, 1], [100, 100])


# --- APNG's default image -------------------------------------------------------------


def apng_with_hidden_default() -> bytes:
    """An APNG whose default image (white) is not part of its three-frame animation."""
    default = Image.new("RGB", (40, 30), WHITE)
    frames = [Image.new("RGB", (40, 30), c) for c in (RED, GREEN, BLUE)]
    return imagegen.encoded(
        default, "PNG", save_all=True, append_images=frames, default_image=True, duration=50
    )


def test_apngs_hidden_default_image_is_not_a_frame() -> None:
    data = apng_with_hidden_default()
    assert Image.open(io.BytesIO(data)).info.get("default_image")  # what Pillow reads
    report = run(data, kept("webp", 40, 30), still("png", 40, 30))
    assert report.facts["frames"] == 3
    assert report.facts["animated"] is True
    animation = frames_of(report.outputs[0])
    assert [near(f.getpixel((20, 15))) for f, _ in animation] == [RED, GREEN, BLUE]
    # A still shows the default image, as every reader that does not animate does.
    png = Image.open(io.BytesIO(report.outputs[1].data)).convert("RGB")
    assert png.getpixel((20, 15)) == WHITE


def test_the_header_counts_an_apngs_frames_as_the_animation_has() -> None:
    header = read_header(apng_with_hidden_default())
    assert header is not None and header.frames == 3


def test_an_apng_whose_default_image_is_its_first_frame_keeps_it() -> None:
    report = run(sequence("PNG", [50, 50, 50]), kept("webp", 32, 24))
    assert report.facts["frames"] == 3
    assert len(frames_of(report.outputs[0])) == 3


# --- HEIF holding several still images -----------------------------------------------


def test_a_heif_with_two_still_images_is_not_animated() -> None:
    first = pillow_heif.from_pillow(Image.new("RGB", (64, 48), RED))
    first.add_from_pillow(Image.new("RGB", (32, 24), BLUE))
    buffer = io.BytesIO()
    first.save(buffer, quality=90)
    report = run(buffer.getvalue(), still("png", 64, 48))
    assert report.facts["animated"] is False
    assert report.facts["frames"] == 2
    assert (report.facts["width"], report.facts["height"]) == (64, 48)
    picture = Image.open(io.BytesIO(report.outputs[0].data)).convert("RGB")
    red = np.asarray(picture)[24, 32]
    assert red[0] > 200 and red[2] < 60  # the primary image, not the second


# --- GIF: the canvas the first frame leaves undrawn ----------------------------------

PALETTE = [(0, 0, 0), RED, BLUE, GREEN]


def undersized_gif() -> bytes:
    # Screen 20x20 with background colour 1 (red); frame 1 is a 10x10 blue square at
    # (5, 5), frame 2 a green 20x10 band at the top, frame 3 clears it (disposal 2).
    return gifgen.gif(
        (20, 20),
        PALETTE,
        [
            gifgen.Frame(5, 5, 10, 10, index=2),
            gifgen.Frame(0, 0, 20, 10, index=3, disposal=2),
            gifgen.Frame(5, 5, 10, 10, index=2),
        ],
        background=1,
    )


def test_a_gifs_undrawn_canvas_is_transparent_in_a_still() -> None:
    report = run(undersized_gif(), still("png", 20, 20))
    assert report.facts["has_alpha"] is True
    png = Image.open(io.BytesIO(report.outputs[0].data)).convert("RGBA")
    assert png.getpixel((1, 1))[3] == 0  # was opaque black (palette entry 0) or red
    assert png.getpixel((1, 18))[3] == 0
    assert png.getpixel((10, 10)) == (*BLUE, 255)


def test_a_gifs_undrawn_canvas_stays_transparent_through_the_animation() -> None:
    report = run(undersized_gif(), kept("webp", 20, 20))
    frames = [f for f, _ in frames_of(report.outputs[0])]
    assert len(frames) == 3
    assert frames[0].getpixel((1, 1))[3] == 0
    assert near(frames[1].getpixel((1, 1))) == GREEN and frames[1].getpixel((1, 1))[3] == 255
    assert frames[1].getpixel((1, 18))[3] == 0  # never drawn
    assert frames[2].getpixel((1, 1))[3] == 0  # disposed to background: transparent
    assert frames[2].getpixel((10, 10))[3] == 255


def test_a_gif_that_covers_its_screen_is_unchanged() -> None:
    report = run(imagegen.animated("GIF"), still("png", 120, 80))
    assert report.facts["has_alpha"] is False
    png = Image.open(io.BytesIO(report.outputs[0].data))
    assert png.mode == "RGB"


# --- GIF output: partial alpha ------------------------------------------------------


def half_transparent_png() -> bytes:
    """Red at alpha 128 on the left, fully transparent on the right, an opaque green dot."""
    image = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    image.paste((255, 0, 0, 128), (0, 0, 20, 20))
    image.paste((*GREEN, 255), (24, 4, 28, 8))
    return imagegen.encoded(image, "PNG")


def test_a_gif_output_composites_partial_alpha_onto_its_background() -> None:
    report = run(half_transparent_png(), still("gif", 40, 20, background="#0000ff"))
    gif = Image.open(io.BytesIO(report.outputs[0].data)).convert("RGBA")
    r, g, b, a = gif.getpixel((5, 10))
    # 128/255 red over blue, opaque: not the hidden pure red at full opacity.
    assert a == 255 and abs(r - 128) <= 3 and g <= 3 and abs(b - 127) <= 3
    assert gif.getpixel((35, 10))[3] == 0
    assert gif.getpixel((26, 6)) == (*GREEN, 255)


def test_a_kept_gif_animation_composites_partial_alpha_too() -> None:
    frames = [Image.new("RGBA", (20, 20), (255, 0, 0, 128)) for _ in range(2)]
    data = imagegen.encoded(
        frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True
    )
    report = run(data, {**kept("gif", 20, 20), "background": "#000000"})
    for frame, _ in frames_of(report.outputs[0]):
        r, g, b, a = frame.getpixel((10, 10))
        assert a == 255 and abs(r - 128) <= 3 and g <= 3 and b <= 3


# --- APNG disposal -------------------------------------------------------------------


def test_an_apng_frame_disposed_to_previous_leaves_what_was_under_it() -> None:
    # Green; a red square blended over and disposed "to previous"; then a blue dot in
    # a corner: the square must be gone again in the third frame.
    green = Image.new("RGBA", (40, 30), (*GREEN, 255))
    square = green.copy()
    square.paste((*RED, 255), (10, 10, 30, 20))
    dot = green.copy()
    dot.paste((*BLUE, 255), (0, 0, 4, 4))
    data = imagegen.encoded(
        green,
        "PNG",
        save_all=True,
        append_images=[square, dot],
        duration=100,
        disposal=[0, 2, 0],  # APNG_DISPOSE_OP_NONE, _PREVIOUS, _NONE
        blend=[0, 1, 1],  # APNG_BLEND_OP_SOURCE, _OVER, _OVER
    )
    report = run(data, kept("webp", 40, 30))
    frames = [near(f.getpixel((20, 15))) for f, _ in frames_of(report.outputs[0])]
    assert frames[0] == GREEN and RED in frames
    assert frames[-1] == GREEN
