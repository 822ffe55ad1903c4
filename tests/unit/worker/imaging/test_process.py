"""process_image: every input format, orientation, privacy, each option, captions, errors."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import pytest
from PIL import Image, ImageChops

from chalicelib.core.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from chalicelib.media.options import parse_options
from tests.support import imagegen
from tests.support.helpers import StageRecorder
from worker.imaging.caption import draw_caption, pick_font
from worker.imaging.process import ImageLimits, ImageReport, RenderedOutput, process_image

LIMITS = ImageLimits(max_pixels=50_000_000, max_dimension=20_000, max_frames=50)


def run(
    data: bytes,
    text: str = "",
    options: Any = None,
    limits: ImageLimits = LIMITS,
) -> ImageReport:
    return process_image(data, text, parse_options(options), limits, StageRecorder())


def output(report: ImageReport, name: str) -> RenderedOutput:
    return next(o for o in report.outputs if o.name == name)


def opened(out: RenderedOutput) -> Image.Image:
    image = Image.open(io.BytesIO(out.data))
    image.load()
    return image


def renditions(*items: dict[str, Any], caption: dict[str, Any] | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"renditions": list(items)}
    if caption is not None:
        options["caption"] = caption
    return options


FORMATS: dict[str, tuple[Callable[[], bytes], tuple[int, int], str]] = {
    "jpeg": (imagegen.jpeg, (400, 300), "jpeg"),
    "png": (imagegen.png_with_alpha, (300, 200), "png"),
    "gif": (imagegen.animated, (120, 80), "gif"),
    "webp": (imagegen.webp, (300, 200), "webp"),
    "bmp": (imagegen.bmp, (300, 200), "bmp"),
    "tiff": (imagegen.tiff, (300, 200), "tiff"),
    "heic": (imagegen.heic, (300, 200), "heif"),
    "avif": (imagegen.avif, (300, 200), "avif"),
}


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_each_input_format_gives_the_default_renditions(kind: str) -> None:
    make, size, fmt = FORMATS[kind]
    report = run(make())
    assert report.facts["format"] == fmt
    assert (report.facts["width"], report.facts["height"]) == size
    assert [o.name for o in report.outputs] == ["thumbnail", "preview"]
    for out in report.outputs:
        image = opened(out)
        assert image.format == "JPEG"
        assert image.size == (out.width, out.height) == size  # small sources: no upscaling
        assert out.content_type == "image/jpeg"


def test_facts_describe_the_source() -> None:
    facts = run(imagegen.png_with_alpha()).facts
    assert facts["mode"] == "RGBA"
    assert facts["has_alpha"] is True
    assert facts["animated"] is False
    assert facts["frames"] == 1
    assert len(facts["phash"]) == 16
    int(facts["phash"], 16)
    colors = facts["dominant_colors"]
    assert 1 <= len(colors) <= 5
    assert sum(c["share"] for c in colors) <= 1
    # Transparent pixels do not count: the opaque half is all blue.
    assert colors[0]["hex"] == "#{:02x}{:02x}{:02x}".format(*imagegen.BLUE)
    assert colors[0]["share"] > 0.9


def test_animated_gif_facts() -> None:
    facts = run(imagegen.animated(frames=5)).facts
    assert facts["animated"] is True
    assert facts["frames"] == 5


def test_phash_is_stable_across_formats() -> None:
    a = int(run(imagegen.png_with_alpha()).facts["phash"], 16)
    b = int(run(imagegen.jpeg()).facts["phash"], 16)
    c = int(run(imagegen.bmp(400, 300)).facts["phash"], 16)
    assert bin(b ^ c).count("1") <= 6
    assert bin(a ^ b).count("1") > 6


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def corner_colors(image: Image.Image) -> dict[str, tuple[int, ...]]:
    rgb = image.convert("RGB")
    w, h = rgb.size
    inset = max(1, min(w, h) // 20)
    return {
        "top_left": pixel(rgb, (inset, inset)),
        "top_right": pixel(rgb, (w - 1 - inset, inset)),
        "bottom_left": pixel(rgb, (inset, h - 1 - inset)),
        "bottom_right": pixel(rgb, (w - 1 - inset, h - 1 - inset)),
    }


def is_red(pixel: tuple[int, ...]) -> bool:
    r, g, b = pixel[:3]
    return r > 150 and g < 90 and b < 90


@pytest.mark.parametrize(
    ("orientation", "corner", "size"),
    [
        (1, "top_left", (400, 300)),
        (3, "bottom_right", (400, 300)),
        (6, "top_right", (300, 400)),
        (8, "bottom_left", (300, 400)),
    ],
)
def test_outputs_are_upright(orientation: int, corner: str, size: tuple[int, int]) -> None:
    # The caption goes in the middle so that it leaves the corners alone.
    caption = {"position": "center", "style": "stroke"}
    report = run(imagegen.rotated_jpeg(orientation=orientation), "Upright", {"caption": caption})
    assert (report.facts["width"], report.facts["height"]) == size
    assert report.facts["exif"]["orientation"] == orientation
    for out in report.outputs:
        image = opened(out)
        assert image.size == size
        corners = corner_colors(image)
        assert is_red(corners[corner]), (out.name, corners)
        assert sum(is_red(c) for c in corners.values()) == 1


def test_exif_facts() -> None:
    exif = run(imagegen.rotated_jpeg()).facts["exif"]
    assert exif == {
        "make": "TestMake",
        "model": "TestModel 1",
        "taken_at": "2023-05-01T12:34:56",
        "orientation": 6,
        "had_gps": True,
    }
    none = run(imagegen.png_with_alpha()).facts["exif"]
    assert none == {
        "make": None,
        "model": None,
        "taken_at": None,
        "orientation": None,
        "had_gps": False,
    }


def test_heic_orientation_and_exif() -> None:
    report = run(imagegen.heic(300, 200, exif=imagegen.exif_bytes(orientation=6)))
    assert report.facts["format"] == "heif"
    assert report.facts["exif"]["had_gps"] is True
    assert report.facts["exif"]["orientation"] == 6
    # Upright: 6 turns the stored 300x200 picture a quarter, marker to the top right.
    assert (report.facts["width"], report.facts["height"]) == (200, 300)
    assert is_red(corner_colors(opened(report.outputs[0]))["top_right"])


def test_no_output_carries_exif_or_gps() -> None:
    options = renditions(
        {"name": "j", "width": 200, "format": "jpeg"},
        {"name": "p", "width": 200, "format": "png"},
        {"name": "w", "width": 200, "format": "webp"},
        {"name": "a", "width": 200, "format": "avif"},
        {"name": "g", "width": 200, "format": "gif"},
    )
    for source in (
        imagegen.rotated_jpeg(),
        imagegen.heic(exif=imagegen.exif_bytes()),
        imagegen.encoded(imagegen.marked_image(), "PNG", exif=imagegen.exif_bytes()),
        imagegen.encoded(imagegen.marked_image(), "WEBP", exif=imagegen.exif_bytes()),
    ):
        report = run(source, "private", options)
        assert len(report.outputs) == 6
        for out in report.outputs:
            image = opened(out)
            assert not image.getexif(), out.name
            assert "exif" not in image.info, out.name
            assert "xmp" not in image.info and "XML:com.adobe.xmp" not in image.info
            assert b"TestMake" not in out.data and b"Exif\x00" not in out.data


@pytest.mark.parametrize(
    ("rendition", "size"),
    [
        ({"width": 200, "height": 200, "fit": "contain"}, (200, 150)),
        ({"width": 200, "height": 200, "fit": "cover"}, (200, 200)),
        ({"width": 200, "height": 50, "fit": "fill"}, (200, 50)),
        ({"width": 100}, (100, 75)),
        ({"height": 60}, (80, 60)),
        ({"width": 800, "height": 800, "fit": "contain"}, (400, 300)),
        ({"width": 800, "height": 800, "fit": "cover"}, (800, 800)),
    ],
)
def test_fits(rendition: dict[str, Any], size: tuple[int, int]) -> None:
    report = run(imagegen.jpeg(400, 300), options=renditions({"name": "r", **rendition}))
    out = report.outputs[0]
    assert (out.width, out.height) == size == opened(out).size


def test_cover_crops_the_centre() -> None:
    # Red left third, green middle, blue right third; a square cover keeps the middle.
    image = Image.new("RGB", (300, 100), imagegen.GREEN)
    image.paste(imagegen.RED, (0, 0, 100, 100))
    image.paste(imagegen.BLUE, (200, 0, 300, 100))
    data = imagegen.encoded(image, "PNG")
    options = renditions({"name": "sq", "width": 50, "height": 50, "fit": "cover", "format": "png"})
    out = opened(run(data, options=options).outputs[0]).convert("RGB")
    for x in (2, 47):
        got = pixel(out, (x, 25))
        assert all(abs(a - b) <= 4 for a, b in zip(got, imagegen.GREEN, strict=True))


@pytest.mark.parametrize(
    ("fmt", "pil_format", "content_type"),
    [
        ("jpeg", "JPEG", "image/jpeg"),
        ("png", "PNG", "image/png"),
        ("webp", "WEBP", "image/webp"),
        ("avif", "AVIF", "image/avif"),
        ("gif", "GIF", "image/gif"),
    ],
)
def test_output_formats(fmt: str, pil_format: str, content_type: str) -> None:
    out = run(imagegen.jpeg(), options=renditions({"name": "r", "width": 120, "format": fmt}))
    rendered = out.outputs[0]
    assert rendered.format == fmt
    assert rendered.content_type == content_type
    assert opened(rendered).format == pil_format


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "avif"])
def test_quality_changes_the_size(fmt: str) -> None:
    data = imagegen.tiff(400, 300)
    low = run(data, options=renditions({"name": "r", "width": 400, "format": fmt, "quality": 5}))
    high = run(data, options=renditions({"name": "r", "width": 400, "format": fmt, "quality": 95}))
    assert len(low.outputs[0].data) < len(high.outputs[0].data)


def test_alpha_is_flattened_onto_the_background_for_jpeg() -> None:
    options = renditions(
        {"name": "red", "width": 300, "format": "jpeg", "background": "#ff0000"},
        {"name": "default", "width": 300, "format": "jpeg"},
        {"name": "keep", "width": 300, "format": "png"},
    )
    report = run(imagegen.png_with_alpha(), options=options)
    red = pixel(opened(output(report, "red")).convert("RGB"), (20, 100))
    assert red[0] > 240 and red[1] < 15 and red[2] < 15
    white = pixel(opened(output(report, "default")).convert("RGB"), (20, 100))
    assert min(white) > 240
    keep = opened(output(report, "keep"))
    assert keep.mode == "RGBA"
    assert pixel(keep, (20, 100))[3] == 0


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_keep_animation(fmt: str) -> None:
    options = renditions(
        {"name": "anim", "width": 60, "format": fmt, "keep_animation": True},
        {"name": "still", "width": 60, "format": fmt},
    )
    report = run(imagegen.animated(frames=4), options=options)
    anim = Image.open(io.BytesIO(output(report, "anim").data))
    assert getattr(anim, "n_frames", 1) == 4
    assert anim.size == (60, 40)
    colors = []
    for index in range(4):
        anim.seek(index)
        colors.append(pixel(anim.convert("RGB"), (30, 20)))
    assert is_red(colors[0]) and not is_red(colors[1])
    still = Image.open(io.BytesIO(output(report, "still").data))
    assert getattr(still, "n_frames", 1) == 1
    assert is_red(pixel(still.convert("RGB"), (30, 20)))


def test_animated_webp_source_keeps_animation_as_gif() -> None:
    options = renditions({"name": "a", "width": 60, "format": "gif", "keep_animation": True})
    out = run(imagegen.animated("WEBP", frames=3), options=options).outputs[0]
    assert getattr(Image.open(io.BytesIO(out.data)), "n_frames", 1) == 3


def test_stages_are_reported() -> None:
    stages = StageRecorder()
    process_image(imagegen.jpeg(), "Hi", parse_options(None), LIMITS, stages)
    assert stages.names == ["probe", "decode", "resize", "caption", "facts", "encode"]


# --- captions ---------------------------------------------------------------

CAPTION_PNG = {"format": "png", "size": 400}


def changed_pixels(a: Image.Image, b: Image.Image) -> int:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return diff.point(lambda v: 255 if v > 40 else 0).histogram()[255]


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world — café",
        "Καλημέρα κόσμε",
        "Привет, мир",
    ],
)
@pytest.mark.parametrize("style", ["band", "stroke"])
def test_caption_is_drawn(text: str, style: str) -> None:
    options = renditions(
        {"name": "plain", "width": 400, "height": 400, "format": "png"},
        caption={**CAPTION_PNG, "style": style},
    )
    report = run(imagegen.jpeg(400, 300), text, options)
    captioned = output(report, "captioned")
    assert (captioned.width, captioned.height) == (400, 300)
    changed = changed_pixels(opened(output(report, "plain")), opened(captioned))
    assert changed > 500


@pytest.mark.parametrize(
    ("first", "second"),
    [("Hamburg", "Vienna"), ("Αθήνα", "Σπάρτη"), ("Москва", "Казань")],
)
def test_glyphs_are_real_not_missing_boxes(first: str, second: str) -> None:
    # Missing glyphs all draw the same box, so two different words of the same
    # script would come out alike; real glyphs differ.
    base = Image.new("RGB", (400, 200), (90, 120, 160))
    a = draw_caption(base, first, position="center", max_font_size=40)
    b = draw_caption(base, second, position="center", max_font_size=40)
    assert changed_pixels(a, b) > 200
    assert pick_font(first) == "DejaVuSans-Bold.ttf"


def test_uncovered_script_is_detected() -> None:
    from worker.imaging import caption

    assert caption._covers("DejaVuSans-Bold.ttf", "Grüße Ωμέγα Щука")
    assert not caption._covers("DejaVuSans-Bold.ttf", "漢字")


@pytest.mark.parametrize(
    ("position", "band"),
    [("top", (0, 100)), ("center", (100, 200)), ("bottom", (200, 300))],
)
def test_caption_position(position: str, band: tuple[int, int]) -> None:
    base = Image.new("RGB", (400, 300), (128, 128, 128))
    drawn = draw_caption(base, "Position test", position=position, style="stroke", max_font_size=24)
    diff = ImageChops.difference(base, drawn).convert("L")
    bbox = diff.getbbox()
    assert bbox is not None
    assert band[0] <= bbox[1] and bbox[3] <= band[1]


def test_long_text_wraps_and_fits() -> None:
    base = Image.new("RGB", (300, 300), (200, 200, 200))
    text = "A fairly long caption that cannot possibly fit on one line of a small image " * 3
    drawn = draw_caption(base, text, position="bottom", style="band", max_font_size=64)
    bbox = ImageChops.difference(base, drawn).convert("L").getbbox()
    assert bbox is not None and bbox[1] >= 300 * 0.55


def test_huge_text_is_cut_not_failed() -> None:
    base = Image.new("RGB", (200, 100), (0, 0, 0))
    drawn = draw_caption(base, "Überlang " * 1500 + "Einwortohneleerzeichen" * 50)
    assert drawn.size == base.size


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_blank_text_gives_no_captioned_output(text: str) -> None:
    names = [o.name for o in run(imagegen.jpeg(), text).outputs]
    assert "captioned" not in names


def test_caption_can_be_disabled() -> None:
    report = run(imagegen.jpeg(), "Hi", {"caption": {"enabled": False}})
    assert "captioned" not in [o.name for o in report.outputs]


def test_caption_on_transparent_png_keeps_alpha() -> None:
    options = {"caption": {"format": "png", "size": 300}}
    out = output(run(imagegen.png_with_alpha(), "Ωμέγα", options), "captioned")
    assert opened(out).mode == "RGBA"


# --- refusals ---------------------------------------------------------------


@pytest.mark.parametrize("data", [imagegen.SVG, imagegen.PDF, imagegen.EPS, b"", b"hello" * 20])
def test_other_formats_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImage):
        run(data)


@pytest.mark.parametrize(
    "data",
    [
        imagegen.jpeg(400, 300)[:1500],
        imagegen.png_with_alpha()[:200],
        imagegen.png_with_alpha()[:40],
        imagegen.animated()[:100],
        imagegen.webp()[:60],
        imagegen.tiff()[:300],
        imagegen.heic()[:300],
        imagegen.avif()[:200],
    ],
)
def test_truncated_images_are_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptImage):
        run(data)


def test_corrupted_jpeg_body_is_corrupt_or_still_decodes() -> None:
    data = bytearray(imagegen.jpeg())
    for index in range(300, len(data) - 2, 97):
        data[index] = 0xFF
    with suppress(CorruptImage):
        run(bytes(data))


def test_header_bomb_is_refused_before_decoding() -> None:
    # The pixel data is a few bytes: decoding would fail as corrupt, so too_large
    # proves the header was checked first.
    with pytest.raises(ImageTooLarge):
        run(imagegen.png_header_bomb())
    with pytest.raises(ImageTooLarge):
        run(imagegen.png_header_bomb(8000, 8000), limits=ImageLimits(1_000_000, 20_000, 10))
    with pytest.raises(ImageTooLarge):
        run(imagegen.png_header_bomb(30_000, 10))


def test_too_many_frames() -> None:
    with pytest.raises(ImageTooLarge):
        run(imagegen.animated(frames=6), limits=ImageLimits(50_000_000, 20_000, 5))
    run(imagegen.animated(frames=5), limits=ImageLimits(50_000_000, 20_000, 5))


def test_keeping_a_long_animation_counts_every_frame() -> None:
    options = renditions({"name": "a", "width": 60, "format": "gif", "keep_animation": True})
    with pytest.raises(ImageTooLarge):
        run(imagegen.animated(frames=5), options=options, limits=ImageLimits(40_000, 20_000, 50))


def test_large_jpeg_is_decoded_small() -> None:
    # 3000x2000 JPEG, thumbnail only: DCT scaling decodes at 1/4 and the output is exact.
    data = imagegen.jpeg(3000, 2000)
    out = run(data, options=renditions({"name": "t", "width": 300})).outputs[0]
    assert (out.width, out.height) == (300, 200)
    assert is_red(corner_colors(opened(out))["top_left"])


@pytest.mark.parametrize(
    ("mode", "fmt", "params"),
    [
        ("L", "JPEG", {}),
        ("CMYK", "JPEG", {}),
        ("CMYK", "TIFF", {}),
        ("1", "BMP", {}),
        ("P", "PNG", {}),
        ("P", "PNG", {"transparency": 0}),
        ("LA", "PNG", {}),
    ],
)
def test_unusual_modes_give_rgb_outputs(mode: str, fmt: str, params: dict[str, Any]) -> None:
    data = imagegen.encoded(imagegen.marked_image(200, 100).convert(mode), fmt, **params)
    report = run(data)
    assert report.facts["mode"] == mode
    image = opened(report.outputs[0])
    assert image.mode == "RGB"
    assert image.size == (200, 100)


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    data = imagegen.encoded(Image.new("I;16", (50, 40), 30_000), "PNG")
    value = pixel(opened(run(data).outputs[0]), (5, 5))
    assert 100 < value[0] < 135
