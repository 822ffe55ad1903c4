"""The peer corpus through the worker's image pipeline, held to the outcomes in expected.csv.

Every file other projects publish as test images (tests/corpus/SOURCES.md) runs through
``worker.imaging.process.process_image`` with the service's default limits, as a job would, and
must end as its row in ``expected.csv`` says: ``completed`` or ``failed <code>``. Beside
the table: what Pillow converts fine the service completes; what Pillow finds truncated
or damaged never completes; golden checks of orientation (against
``ImageOps.exif_transpose``) and colour (against LittleCMS, in CIEDE2000).
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from contextlib import nullcontext
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, ImageSequence
from skimage.color import deltaE_ciede2000, rgb2lab

from chalicelib.core.errors import ServiceError
from chalicelib.core.settings import Settings
from chalicelib.media.formats import INPUT_FORMATS
from worker.imaging.process import ImageLimits, ImageReport, process_image
from worker.imaging.source import transpose_for

CORPUS = Path(__file__).resolve().parent
# The plugins the worker lets open files (MPO is reached through JPEG's).
PILLOW_FORMATS = [f.pillow[0] for f in INPUT_FORMATS.values()]
NOT_IMAGES = {
    "LICENSE",
    "README.txt",
    "SOURCES.md",
    "expected.csv",
    "subjects.csv",  # the hand-marked subject boxes (tests/support/subjects.py)
    "test_corpus.py",
    "__init__.py",
}
OUTCOMES = {
    "completed",
    "failed corrupt_image",
    "failed unsupported_image",
    "failed image_too_large",
}
_DEFAULTS = Settings()
LIMITS = ImageLimits(
    max_pixels=_DEFAULTS.max_image_pixels,
    max_dimension=_DEFAULTS.max_image_dimension,
    max_frames=_DEFAULTS.max_image_frames,
    max_decode_bytes=_DEFAULTS.max_decode_bytes,
)


def read_rows() -> list[dict[str, str]]:
    with (CORPUS / "expected.csv").open(newline="") as table:
        return list(csv.DictReader(table))


ROWS = read_rows()
EXPECTED = {row["file"]: row for row in ROWS}


def data_of(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def run(data: bytes, options: Any = None) -> ImageReport:
    return process_image(data, "", options, LIMITS, lambda _name: nullcontext())


def outcome(data: bytes) -> tuple[str, str]:
    try:
        run(data)
    except ServiceError as error:
        return f"failed {error.code}", error.message
    return "completed", ""


@cache
def pillow_result(name: str) -> Exception | None:
    """None if Pillow (its allowed plugins, default limits) opens, loads, orients and
    converts the file without an error; else the error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data_of(name)), formats=PILLOW_FORMATS)
            image.load()
            ImageOps.exif_transpose(image).convert("RGB")
    except Exception as error:
        return error
    return None


def test_every_file_has_a_row_a_source_and_a_licence() -> None:
    on_disk = {
        str(path.relative_to(CORPUS))
        for path in CORPUS.rglob("*")
        if path.is_file()
        and path.name not in NOT_IMAGES
        and path.suffix != ".py"
        and "__pycache__" not in path.parts
    }
    assert on_disk == set(EXPECTED)
    sources = (CORPUS / "SOURCES.md").read_text()
    for row in ROWS:
        assert f"`{row['file']}`" in sources, row["file"]
        assert row["outcome"] in OUTCOMES, row
        assert row["outcome"] == "completed" or row["reason"], f"{row['file']}: give a reason"
    for folder in {name.split("/")[0] for name in EXPECTED}:
        assert (CORPUS / folder / "LICENSE").is_file(), folder
    total = sum((CORPUS / name).stat().st_size for name in EXPECTED)
    assert total < 10 * 2**20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outcome_is_the_recorded_one(name: str) -> None:
    got, message = outcome(data_of(name))
    assert got == EXPECTED[name]["outcome"], f"{name}: {message}"
    # Messages give numbers and name variants; nobody is accused of a bomb.
    assert "bomb" not in message.lower()


# Valid files Pillow refuses to open that the worker repairs first (container_repair.py).
REPAIRED_BEFORE_OPENING = {
    "generated/avif-alpha-without-ispe.avif",
    "libavif/alpha_noispe.avif",
}
# Damaged files Pillow converts without an error (libpng, libspng and libvips refuse them).
PILLOW_MISSES_DAMAGE = {"generated/png-half-the-rows.png"}


def test_what_pillow_converts_fine_the_service_completes() -> None:
    fine = [name for name in EXPECTED if pillow_result(name) is None]
    assert len(fine) > 150
    refused = [name for name in fine if EXPECTED[name]["outcome"] != "completed"]
    assert sorted(refused) == sorted(PILLOW_MISSES_DAMAGE)


_DAMAGE = re.compile(r"truncat|data stream|frame sequence|broken|decoder error", re.I)


def test_what_pillow_finds_damaged_never_completes() -> None:
    damaged = {name for name in EXPECTED if _DAMAGE.search(str(pillow_result(name) or ""))}
    assert len(damaged) >= 10
    completed = [name for name in damaged if EXPECTED[name]["outcome"] == "completed"]
    assert completed == []


def test_the_table_covers_every_accepted_format_and_outcome() -> None:
    formats = set()
    for name, row in EXPECTED.items():
        if row["outcome"] == "completed" and name not in REPAIRED_BEFORE_OPENING:
            formats.add(Image.open(CORPUS / name).format)
    assert formats >= {"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "HEIF"}
    assert {row["outcome"] for row in ROWS} == OUTCOMES


# --- golden checks ---------------------------------------------------------------------


def rendered(name: str, side: int = 256, fmt: str = "png") -> Image.Image:
    options = {"renditions": [{"name": "g", "width": side, "height": side, "format": fmt}]}
    out = run(data_of(name), options).outputs[0]
    image = Image.open(io.BytesIO(out.data))
    image.load()
    return image


def reference_view(name: str, size: tuple[int, int]) -> Image.Image:
    """Pillow's own upright view of the file, at ``size``."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data_of(name))))
    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


ORIENTED = [
    *[
        f"exif-orientation-examples/{kind}_{n}.jpg"
        for kind in ("Landscape", "Portrait")
        for n in range(9)
    ],
    *[f"pillow/hopper_orientation_{n}.{ext}" for n in range(2, 9) for ext in ("jpg", "webp")],
    *[f"pillow/g4_orientation_{n}.tif" for n in range(1, 9)],
    *[f"pillow/avif/rot{r}mir{m}.avif" for r in range(4) for m in range(2)],
    "pillow/crash-74d2a78403a5a59db1fb0a2b8735ac068a75f6e3.tif",
    "libvips/avif-orientation-6.avif",
]


@pytest.mark.parametrize("name", ORIENTED)
def test_orientation_matches_exif_transpose(name: str) -> None:
    out = rendered(name).convert("RGB")
    reference = reference_view(name, out.size)
    # The upright view is closer than any other way of turning the picture.
    scores = {}
    for orientation in range(1, 9):
        method = transpose_for(orientation)
        turned = reference if method is None else reference.transpose(method)
        if turned.size == out.size:
            scores[orientation] = mean_difference(out, turned)
    assert min(scores, key=lambda o: scores[o]) == 1, scores
    assert scores[1] < 8, scores


@pytest.mark.parametrize("kind", ["Landscape", "Portrait"])
def test_the_orientation_set_comes_out_as_one_picture(kind: str) -> None:
    upright = rendered(f"exif-orientation-examples/{kind}_1.jpg").convert("RGB")
    for n in (0, *range(2, 9)):
        out = rendered(f"exif-orientation-examples/{kind}_{n}.jpg").convert("RGB")
        assert out.size == upright.size, n
        assert mean_difference(out, upright) < 8, n


def test_avif_irot_imir_comes_out_as_the_unturned_file() -> None:
    upright = rendered("pillow/avif/rot0mir0.avif").convert("RGB")
    for r in range(4):
        for m in range(2):
            out = rendered(f"pillow/avif/rot{r}mir{m}.avif").convert("RGB")
            assert mean_difference(out, upright) < 8, (r, m)


def to_lab(image: Image.Image) -> np.ndarray:
    return rgb2lab(np.asarray(image.convert("RGB"), np.float64) / 255)


# Files with an embedded profile, and whether it is far from sRGB (the conversion shows).
PROFILED = {
    "pillow/icc_profile.png": False,
    "pillow/flower2.jpg": False,
    "pillow/flower2.webp": False,
    "pillow/hopper.iccprofile.tif": False,
    "pillow/frame_size.mpo": False,  # Display P3, but muted colours
    "pillow/avif/xmp_tags_orientation.avif": True,  # ColorMatch RGB
    "libvips/sample-xyb.jpg": True,  # JPEG XL's XYB, a LUT profile
    "libvips/avif-orientation-6.avif": True,  # Display P3, from a phone
}


@pytest.mark.parametrize("name", sorted(PROFILED))
def test_colour_matches_littlecms(name: str) -> None:
    source = Image.open(io.BytesIO(data_of(name)))
    source.load()
    profile = ImageCms.ImageCmsProfile(io.BytesIO(source.info["icc_profile"]))
    reference = ImageCms.profileToProfile(
        source.convert("RGB"),
        profile,
        ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent(ImageCms.getDefaultIntent(profile)),
        outputMode="RGB",
    )
    assert reference is not None
    out = rendered(name).convert("RGB")
    # Orientation as Pillow applies it, so that only colour is compared.
    reference.info["exif"] = source.info.get("exif", b"")
    reference = ImageOps.exif_transpose(reference).resize(out.size, Image.Resampling.LANCZOS)
    delta = float(deltaE_ciede2000(to_lab(out), to_lab(reference)).mean())
    assert delta < 1.5, delta
    if PROFILED[name]:
        # The check can fail: the unconverted pixels are visibly off.
        raw = (
            ImageOps.exif_transpose(source)
            .convert("RGB")
            .resize(out.size, Image.Resampling.LANCZOS)
        )
        assert float(deltaE_ciede2000(to_lab(raw), to_lab(reference)).mean()) > delta + 1.0


def test_sixteen_bit_grey_with_trns_keeps_its_transparency() -> None:
    # i_trns.png: 16-bit samples 0-255 (near black at 16 bits, as libvips shows it) and
    # tRNS 255. The transparent pixels are exactly those of value 255.
    samples = np.asarray(Image.open(CORPUS / "pillow/i_trns.png"))
    out = rendered("pillow/i_trns.png", side=64)
    assert out.mode == "RGBA"
    alpha = np.asarray(out.getchannel("A"))
    assert np.array_equal(alpha == 0, samples == 255)
    assert (alpha == 0).sum() == 559


# --- public files of the classes issue 25 found wrong (libavif/, pillow-heif/) ---------


def rgba_difference(a: Image.Image, b: Image.Image) -> float:
    return float(
        np.abs(
            np.asarray(a.convert("RGBA"), np.int16) - np.asarray(b.convert("RGBA"), np.int16)
        ).mean()
    )


@pytest.mark.parametrize("name", ["abc_color_irot_alpha_irot", "abc_color_irot_alpha_NOirot"])
def test_avif_irot_turns_the_alpha_plane_with_the_picture(name: str) -> None:
    # Encoded from abc.png with irot angle 1 (90 degrees anticlockwise); libavif's own
    # test decodes both files alike (the second was written without the alpha's irot).
    source = Image.open(CORPUS / "libavif/abc.png").transpose(Image.Transpose.ROTATE_90)
    out = rendered(f"libavif/{name}.avif", side=512)
    assert out.size == source.size == (256, 512)
    assert out.mode == "RGBA"
    assert rgba_difference(out, source) < 2


def test_an_avif_with_unknown_non_essential_properties_shows_only_irot() -> None:
    # 12x34 coded; irot angle 1; `clop` and `imor` are unknown and non-essential.
    report = run(data_of("libavif/clop_irot_imor.avif"))
    assert (report.facts["width"], report.facts["height"]) == (34, 12)


def test_an_idat_avif_matches_the_png_it_was_made_from() -> None:
    out = rendered("libavif/draw_points_idat.avif", side=33)
    assert rgba_difference(out, Image.open(CORPUS / "libavif/draw_points.png")) < 2


def test_trns_before_or_after_plte_gives_the_same_transparency() -> None:
    after = rendered("libavif/circle-trns-after-plte.png", side=100)
    before = rendered("libavif/circle-trns-before-plte.png", side=100)
    assert after.mode == before.mode == "RGBA"
    assert rgba_difference(after, before) == 0
    assert np.asarray(after.getchannel("A")).min() == 0  # the green background is clear


@pytest.mark.parametrize(
    "name",
    [
        "libavif/colors-animated-8bpc.avif",
        "libavif/colors-animated-8bpc-alpha-exif-xmp.avif",
        "libavif/colors-animated-12bpc-keyframes-0-2-3.avif",
        "pillow/apng/delay_round.png",  # a hidden default image, then 500 and 1000 ms
        "pillow/apng/different_durations.png",
    ],
)
def test_a_kept_animation_keeps_its_timing(name: str) -> None:
    image = Image.open(CORPUS / name)
    source = []
    for frame in ImageSequence.Iterator(image):
        frame.load()  # the AVIF plugin reads a frame's duration as it loads it
        source.append(frame.info.get("duration"))
    if image.info.get("default_image"):
        source = source[1:]  # APNG's default image is not part of the animation
    for fmt in ("webp", "gif"):
        options = {
            "renditions": [
                {"name": "a", "width": 64, "height": 64, "format": fmt, "keep_animation": True}
            ]
        }
        out = Image.open(io.BytesIO(run(data_of(name), options).outputs[0].data))
        got = []
        for frame in ImageSequence.Iterator(out):
            frame.load()
            got.append(frame.info["duration"])
        if fmt == "webp":
            assert got == source
        else:  # GIF holds centiseconds: the total within 10 ms
            assert abs(sum(got) - sum(source)) <= 10, (got, source)


def test_a_pq_avif_is_tone_mapped_toward_its_sdr_grade() -> None:
    # The same photograph graded HDR (PQ, BT.2020) and SDR (sRGB) in Camera Raw.
    hdr = rendered("libavif/seine_hdr_rec2020.avif", side=400).convert("RGB")
    sdr = rendered("libavif/seine_sdr_gainmap_srgb.avif", side=400).convert("RGB")
    shown_raw = Image.open(CORPUS / "libavif/seine_hdr_rec2020.avif").convert("RGB")
    delta = float(deltaE_ciede2000(to_lab(hdr), to_lab(sdr)).mean())
    raw = float(deltaE_ciede2000(to_lab(shown_raw.resize(hdr.size)), to_lab(sdr)).mean())
    assert delta < 8.0, delta
    assert raw > delta + 4, (raw, delta)


def test_a_heif_of_three_still_images_is_not_an_animation() -> None:
    report = run(data_of("pillow-heif/zPug_3.heic"))
    assert report.facts["animated"] is False
    assert report.facts["frames"] == 3


IMAGE_RS_GIFS = sorted(p.name for p in (CORPUS / "image-rs").glob("*.gif"))


@pytest.mark.parametrize("name", IMAGE_RS_GIFS)
def test_a_gifs_still_is_image_rs_reference_rendering(name: str) -> None:
    # The reference is the first frame as image-rs composes it onto a clear canvas.
    reference = Image.open(CORPUS / "image-rs/reference" / f"{name}.png").convert("RGBA")
    out = rendered(f"image-rs/{name}", side=max(reference.size))
    assert out.size == reference.size
    assert rgba_difference(visible(out), visible(reference)) < 1


def visible(image: Image.Image) -> Image.Image:
    """The picture as a viewer shows it on grey: colour under full transparency ignored."""
    grey = Image.new("RGBA", image.size, (128, 128, 128, 255))
    return Image.alpha_composite(grey, image.convert("RGBA"))


def frame_at(frames: list[Image.Image], durations: list[int], moment: float) -> Image.Image:
    elapsed = 0
    for frame, duration in zip(frames, durations, strict=True):
        elapsed += duration
        if moment < elapsed:
            return frame
    return frames[-1]


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (CORPUS / "image-rs/apng-wpt").glob("*.png"))
)
def test_a_kept_apng_shows_each_reference_frame_at_its_time(name: str) -> None:
    # web-platform-tests' dispose-in-region and blend-source cases; the reference
    # frames are apngdis' renderings. The WebP output may merge identical frames,
    # so each reference is compared with what shows at its start time.
    source = Image.open(CORPUS / "image-rs/apng-wpt" / f"{name}.png")
    durations = []
    for frame in ImageSequence.Iterator(source):
        frame.load()
        durations.append(frame.info.get("duration") or 0)
    if source.info.get("default_image"):
        durations = durations[1:]
    width, height = source.size
    rendition = {"name": "a", "width": width, "height": height, "fit": "fill"}
    options = {"renditions": [{**rendition, "format": "webp", "keep_animation": True}]}
    out = Image.open(
        io.BytesIO(run(data_of(f"image-rs/apng-wpt/{name}.png"), options).outputs[0].data)
    )
    frames, shown = [], []
    for frame in ImageSequence.Iterator(out):
        frame.load()
        frames.append(frame.convert("RGBA"))
        shown.append(frame.info["duration"])
    references = sorted((CORPUS / "image-rs/reference").glob(f"{name}.png.anim_*.png"))
    assert len(references) == len(durations)
    start = 0
    for reference, duration in zip(references, durations, strict=True):
        got = frame_at(frames, shown, start + 1)
        assert rgba_difference(visible(got), visible(Image.open(reference))) < 4, reference.name
        start += duration
