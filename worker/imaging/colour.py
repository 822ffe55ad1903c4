"""Colour: a decoded frame to sRGB RGB or RGBA, honouring its embedded ICC profile."""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

_SRGB = ImageCms.createProfile("sRGB")
# Embedded profiles are converted with the profile's own rendering intent (relative
# colorimetric for most camera, scanner and press profiles) and, like libvips (whose
# icc_transform leaves black_point_compensation off, also in thumbnail), without
# black-point compensation: with it, the CMYK chart of tests/unit/worker/imaging/test_colour.py is
# off the profile's colorimetric values by a mean CIEDE2000 of 4.1 instead of 0.7
# (libvips: 0.7; the perceptual table used before: 4.4).
CMS_FLAGS = ImageCms.Flags.NONE
_HIGH_BIT_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def has_alpha(image: Image.Image) -> bool:
    """True if ``image`` carries transparency (an alpha band or a transparent colour)."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def to_working_mode(image: Image.Image) -> Image.Image:
    """Convert a decoded frame to sRGB ``RGB`` or ``RGBA``, the modes every step expects.

    An embedded ICC profile is honoured for every mode (RGB, RGBA, CMYK, P, L, LA, 16-bit
    grey): converted to sRGB with the profile's rendering intent, as libvips does.
    Transparency (an alpha band, a palette's or tRNS transparent colour, also of 16-bit
    grey) is kept as alpha.
    """
    icc = image.info.get("icc_profile")
    alpha = has_alpha(image)
    target = "RGBA" if alpha else "RGB"
    image = _to_managed_mode(image)
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        converted = _to_srgb(image, icc, target)
        if converted is not None:
            return converted
    if image.mode == target:
        return image
    return image.convert(target)


def _to_managed_mode(image: Image.Image) -> Image.Image:
    """The frame in a mode a colour transform takes: RGB(A), CMYK, L or LA."""
    mode = image.mode
    if mode in _HIGH_BIT_DEPTH:
        return _high_bit_depth_grey(image)
    if mode == "F":
        return image.convert("L")
    if mode in ("P", "PA"):
        # The palette's colours are in the profile's space too: expand first, keep it.
        return image.convert("RGBA" if has_alpha(image) else "RGB")
    if mode == "1":
        return image.convert("L")
    if mode in ("L", "RGB") and "transparency" in image.info:
        return image.convert("LA" if mode == "L" else "RGBA")
    if mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return image
    return image.convert("RGB")


def _high_bit_depth_grey(image: Image.Image) -> Image.Image:
    """16- or 32-bit grey as 8-bit ``L`` (or ``LA`` when a transparent value is set).

    Scaled, not clipped; the tRNS value is matched on the 16-bit samples, before the
    scaling merges neighbouring values.
    """
    samples = np.asarray(image).astype(np.int64)
    grey = Image.fromarray(np.clip((samples * 255 + 32767) // 65535, 0, 255).astype(np.uint8), "L")
    transparent = image.info.get("transparency")
    if isinstance(transparent, int):
        alpha = np.where(samples == transparent, 0, 255).astype(np.uint8)
        grey = Image.merge("LA", (grey, Image.fromarray(alpha, "L")))
    return grey


def _to_srgb(image: Image.Image, icc: bytes, target: str) -> Image.Image | None:
    """``image`` converted from its embedded profile to sRGB ``target``, or None if the
    profile is unusable (broken, or of another colour space than the pixels)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
        expected = {"RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK", "L": "GRAY", "LA": "GRAY"}
        if space != expected[image.mode]:
            log.info("ignoring a %s profile on %s pixels", space, image.mode)
            return None
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        colour = image.convert("L") if image.mode == "LA" else image
        if colour.mode == "RGBA":
            colour = colour.convert("RGB")
        transform = ImageCms.buildTransform(
            profile,
            _SRGB,
            colour.mode,
            "RGB",
            renderingIntent=ImageCms.Intent(ImageCms.getDefaultIntent(profile)),
            flags=CMS_FLAGS,
        )
        converted = ImageCms.applyTransform(colour, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        # A broken profile is common enough; the pixels are still usable as sRGB.
        log.info("ignoring an unusable ICC profile: %r", exc)
        return None
    if converted is None:
        return None
    converted.info.pop("icc_profile", None)
    if alpha is not None and target == "RGBA":
        converted.putalpha(alpha)
    return converted if converted.mode == target else converted.convert(target)
