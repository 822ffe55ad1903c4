"""Colour management: embedded profiles honoured for every mode, compared in CIEDE2000.

Grey, RGB and palette cases use profiles built in code (tests/support/iccgen.py) whose right
answer is a closed-form gamma curve; the CMYK chart is compared with libvips on the
same file, both measured against LittleCMS's colorimetric conversion of its pixels.
"""

from __future__ import annotations

import io
import random
from contextlib import nullcontext

import numpy as np
import pytest
import pyvips
from PIL import Image, ImageCms
from skimage.color import deltaE_ciede2000, rgb2lab

from tests.support import iccgen, imagegen
from worker.imaging.process import ImageLimits, process_image

LIMITS = ImageLimits(50_000_000, 20_000, 50)
# Mean CIEDE2000 a converted picture may differ from the closed-form answer: 8-bit
# rounding on both sides is worth about 0.3.
TOLERANCE = 1.0
LINEAR_GREY = iccgen.grey_profile(1.0)
LINEAR_RGB = iccgen.rgb_profile(1.0)


def converted(data: bytes) -> Image.Image:
    """The service's full-size PNG rendition of ``data`` (no resampling, no JPEG loss)."""
    width = Image.open(io.BytesIO(data)).width
    options = {"renditions": [{"name": "c", "width": width, "height": width, "format": "png"}]}
    report = process_image(data, "", options, LIMITS, lambda _name: nullcontext())
    out = Image.open(io.BytesIO(report.outputs[0].data))
    out.load()
    return out


def mean_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIEDE2000 between two sRGB pictures given as uint8 arrays (..., 3)."""
    lab_a = rgb2lab(np.asarray(a, np.float64)[..., :3] / 255)
    lab_b = rgb2lab(np.asarray(b, np.float64)[..., :3] / 255)
    return float(deltaE_ciede2000(lab_a, lab_b).mean())


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """What a linear-light profile's code values are in sRGB (same primaries)."""
    encode = np.vectorize(lambda v: iccgen.srgb_encode(v / 255))
    return np.asarray(encode(values.astype(np.float64)))


def ramp(mode: str = "L") -> Image.Image:
    image = Image.new("L", (256, 8))
    image.putdata([x for _y in range(8) for x in range(256)])
    return image if mode == "L" else image.convert(mode)


def test_the_closed_form_check_can_fail() -> None:
    # Ignoring the linear profile (the old behaviour) is far outside the tolerance.
    grey = np.asarray(ramp().convert("RGB"))
    assert mean_delta_e(grey, linear_to_srgb(grey)) > 5 * TOLERANCE


def test_grey_l_profile_is_honoured() -> None:
    out = converted(imagegen.encoded(ramp(), "PNG", icc_profile=LINEAR_GREY))
    assert out.mode == "RGB"
    expected = linear_to_srgb(np.asarray(ramp().convert("RGB")))
    assert mean_delta_e(np.asarray(out), expected) < TOLERANCE


def test_grey_la_profile_is_honoured_and_alpha_kept() -> None:
    alpha = Image.linear_gradient("L").resize((256, 8))
    image = Image.merge("LA", (ramp(), alpha))
    out = converted(imagegen.encoded(image, "PNG", icc_profile=LINEAR_GREY))
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(alpha))
    expected = linear_to_srgb(np.asarray(ramp().convert("RGB")))
    assert mean_delta_e(np.asarray(out)[..., :3], expected) < TOLERANCE


@pytest.mark.parametrize("transparency", [None, 5])
def test_palette_profile_is_honoured(transparency: int | None) -> None:
    colours = Image.new("RGB", (64, 16))
    rng = random.Random(3)
    colours.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(64 * 16)])
    palette = colours.quantize(64)
    params: dict[str, object] = {"icc_profile": LINEAR_RGB}
    if transparency is not None:
        params["transparency"] = transparency
    out = converted(imagegen.encoded(palette, "PNG", **params))
    assert out.mode == ("RGB" if transparency is None else "RGBA")
    expected = linear_to_srgb(np.asarray(palette.convert("RGB")))
    assert mean_delta_e(np.asarray(out)[..., :3], expected) < TOLERANCE
    if transparency is not None:
        hidden = np.asarray(palette) == transparency
        assert hidden.any()
        assert np.array_equal(np.asarray(out.getchannel("A")) == 0, hidden)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_rgb_profile_is_honoured(mode: str) -> None:
    image = Image.merge("RGB", (ramp(), ramp().rotate(180), Image.new("L", (256, 8), 90)))
    if mode == "RGBA":
        image.putalpha(200)
    out = converted(imagegen.encoded(image, "PNG", icc_profile=LINEAR_RGB))
    assert out.mode == mode
    expected = linear_to_srgb(np.asarray(image.convert("RGB")))
    assert mean_delta_e(np.asarray(out)[..., :3], expected) < TOLERANCE


def sixteen_bit_ramp() -> Image.Image:
    image = Image.new("I;16", (256, 8))
    image.putdata([x * 257 for _y in range(8) for x in range(256)])
    return image


def test_sixteen_bit_grey_keeps_its_trns_transparency() -> None:
    # As Pillow's i_trns.png: 16-bit grey with a tRNS value. Transparent only there.
    data = imagegen.encoded(sixteen_bit_ramp(), "PNG", transparency=100 * 257)
    out = converted(data)
    assert out.mode == "RGBA"
    alpha = np.asarray(out.getchannel("A"))
    assert (alpha[:, 100] == 0).all()
    assert (np.delete(alpha, 100, axis=1) == 255).all()
    grey = np.asarray(out.convert("RGB"))[0, :, 0].astype(int)
    assert np.abs(grey - np.arange(256)).max() <= 1  # scaled to 8 bits, not black


def test_sixteen_bit_grey_profile_is_honoured() -> None:
    out = converted(imagegen.encoded(sixteen_bit_ramp(), "PNG", icc_profile=LINEAR_GREY))
    expected = linear_to_srgb(np.asarray(ramp().convert("RGB")))
    assert mean_delta_e(np.asarray(out.convert("RGB")), expected) < TOLERANCE


def test_a_profile_of_another_colour_space_is_ignored() -> None:
    # An RGB profile on grey pixels cannot describe them: plain conversion, no failure.
    out = converted(imagegen.encoded(ramp(), "PNG", icc_profile=LINEAR_RGB))
    assert np.array_equal(np.asarray(out), np.asarray(ramp().convert("RGB")))


# --- CMYK against libvips --------------------------------------------------------------

PATCH = 24


def libvips_cmyk_profile() -> bytes:
    """libvips' built-in CMYK profile ("Chemical proof"), as its icc_export embeds it."""
    srgb = pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb")
    return bytes(srgb.icc_export(output_profile="cmyk").get("icc-profile-data"))


def cmyk_chart(profile: bytes) -> bytes:
    """An 8x8 chart of CMYK patches (K and CMY grey ramps, primaries, random colours)
    as a CMYK JPEG with ``profile`` embedded."""
    patches = [(0, 0, 0, k) for k in range(0, 256, 32)]
    patches += [(v, v, v, 0) for v in range(0, 256, 32)]
    patches += [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (255, 255, 0, 0)]
    patches += [(255, 0, 255, 0), (0, 255, 255, 0), (128, 0, 0, 0), (0, 128, 0, 0)]
    rng = random.Random(5)
    patches += [tuple(rng.randrange(256) for _ in range(4)) for _ in range(64 - len(patches))]
    chart = Image.new("CMYK", (8 * PATCH, 8 * PATCH))
    for index, colour in enumerate(patches):
        x, y = index % 8 * PATCH, index // 8 * PATCH
        chart.paste(colour, (x, y, x + PATCH, y + PATCH))
    return imagegen.encoded(chart, "JPEG", quality=95, icc_profile=profile)


def patch_labs(image: Image.Image, profile: ImageCms.ImageCmsProfile) -> np.ndarray:
    """Each patch's mean CIELAB (D50, through LittleCMS), from its centre only."""
    to_lab = ImageCms.buildTransform(
        profile,
        ImageCms.createProfile("LAB"),
        image.mode,
        "LAB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
    )
    raw = np.asarray(ImageCms.applyTransform(image, to_lab))
    # Pillow's LAB mode: L scaled to 0..255, a and b as signed bytes.
    ab = raw[..., 1:].view(np.int8).astype(np.float64)
    lab = np.concatenate([raw[..., :1] * (100 / 255), ab], axis=-1)
    inset = PATCH // 4
    means = []
    for index in range(64):
        x, y = index % 8 * PATCH, index // 8 * PATCH
        centre = lab[y + inset : y + PATCH - inset, x + inset : x + PATCH - inset]
        means.append(centre.reshape(-1, 3).mean(axis=0))
    return np.array(means)


def test_cmyk_chart_is_within_1_5_delta_e_of_libvips() -> None:
    profile = libvips_cmyk_profile()
    data = cmyk_chart(profile)
    source = Image.open(io.BytesIO(data))
    source.load()
    # The truth: what the embedded profile says each decoded CMYK patch looks like.
    truth = patch_labs(source, ImageCms.ImageCmsProfile(io.BytesIO(profile)))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

    ours = converted(data).convert("RGB")
    vips = pyvips.Image.thumbnail_buffer(data, 8 * PATCH)
    theirs = Image.open(io.BytesIO(vips.write_to_buffer(".png"))).convert("RGB")
    assert ours.size == theirs.size == source.size

    ours_error = float(deltaE_ciede2000(truth, patch_labs(ours, srgb)).mean())
    libvips_error = float(deltaE_ciede2000(truth, patch_labs(theirs, srgb)).mean())
    # What the old conversion (the perceptual table) gave: the check can fail.
    perceptual = ImageCms.profileToProfile(
        source,
        ImageCms.ImageCmsProfile(io.BytesIO(profile)),
        srgb,
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
        outputMode="RGB",
    )
    assert perceptual is not None
    perceptual_error = float(deltaE_ciede2000(truth, patch_labs(perceptual, srgb)).mean())
    print(
        f"CMYK chart mean dE00 from the profile's colorimetric values: service "
        f"{ours_error:.2f}, libvips {libvips_error:.2f} (perceptual intent: {perceptual_error:.2f})"
    )
    assert ours_error <= libvips_error + 1.5, (ours_error, libvips_error)
    assert perceptual_error > libvips_error + 1.5
    # The grey ramps (K alone, equal CMY) in particular: no patch drifts.
    greys = deltaE_ciede2000(truth[:16], patch_labs(ours, srgb)[:16])
    assert greys.max() < 2.5, greys
