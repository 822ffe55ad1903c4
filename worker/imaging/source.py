"""Opening and decoding a source safely: allowlist, header limits, budget, orientation, colour."""

from __future__ import annotations

import io
import logging
import re
import struct
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageFile, JpegImagePlugin, TiffImagePlugin

from chalicelib.core.errors import CorruptImage, ImageTooLarge, UnsupportedImage
from chalicelib.media.formats import BY_PILLOW_NAME, INPUT_FORMATS, sniff
from chalicelib.media.image_header import (
    check_dimensions,
    check_frames,
    check_jpeg_scans,
    gif_frames,
    read_header,
)
from worker.heif import register_lazily as register_heif_lazily
from worker.imaging.animation import frame_facts
from worker.imaging.budget import DecodeCost, decode_cost, jpeg_reduction, over_budget_message
from worker.imaging.colour import has_alpha, to_working_mode
from worker.imaging.container_repair import with_alpha_ispe
from worker.imaging.containers import clean_aperture, container_variant
from worker.imaging.errors import DECODE_ERRORS, decoding
from worker.imaging.metadata import exif_facts

log = logging.getLogger(__name__)

# HEIC/HEIF through libheif, loaded when the first such file arrives; AVIF is
# Pillow's own (native since 11.2).
register_heif_lazily()

# Only the allowed formats' plugins may even look at the bytes: no EPS (Ghostscript),
# no PDF, no SVG.
_OPEN_FORMATS = [f.pillow[0] for f in INPUT_FORMATS.values()]
_TIFF_SIGNATURES = INPUT_FORMATS["tiff"].signatures

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Who turns the pixels upright, by format. Pillow's TIFF plugin applies the orientation
# tag while it loads (Pillow 13; its header size is already upright), and libheif
# applies HEIF's irot/imir boxes (pillow-heif then resets the EXIF tag to 1 and keeps
# the value as ``original_orientation``). Everything else comes out as stored and the
# worker applies the EXIF orientation once; for AVIF Pillow writes the irot/imir boxes
# into that EXIF orientation (and ignores a stale EXIF tag, as the format says).
# tests/unit/worker/imaging/test_source.py checks these facts against the installed libraries.
ORIENTED_ON_LOAD = frozenset({"tiff", "heif"})

# TIFF compressions of the TIFF 6.0 baseline and its common extensions: a file using
# another one (WebP, JPEG 2000, LERC, ...) that fails to decode is an unsupported
# variant, not a corrupt file.
_TIFF_BASELINE_COMPRESSIONS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 32773, 32946})
_TIFF_COMPRESSION_NAMES = {
    34661: "JBIG",
    34712: "JPEG 2000",
    34887: "LERC",
    34925: "LZMA",
    50000: "Zstandard",
    50001: "WebP",
    50002: "JPEG XL",
}
# Bytes a progressive JPEG's decoder is fed at a time (Pillow's default: 65,536).
PROGRESSIVE_DECODE_BLOCK = 4096
# BMP variants that are valid but that Pillow does not decode, by compression field.
_BMP_COMPRESSIONS = {4: "JPEG compression", 5: "PNG compression", 6: "alpha bit fields"}


@dataclass
class Source:
    """An opened (not yet decoded) source image and what its header told."""

    image: Image.Image
    format: str
    width: int  # upright
    height: int  # upright
    frames: int
    animated: bool
    orientation: int | None  # what the file states (EXIF, or HEIF/AVIF boxes)
    exif: dict[str, Any]
    # What the worker still has to do to make the decoded pixels upright (None when
    # the codec already did it, or nothing is needed).
    transpose: Image.Transpose | None = None
    # A valid variant this installation may not decode ("TIFF with WebP compression"):
    # a decode error then means unsupported, not corrupt.
    variant: str | None = None
    # The header's size before any shrink-on-load, and the canvas all frames need.
    stored_size: tuple[int, int] = (0, 0)
    canvas: tuple[int, int] = (0, 0)
    # The part of the decoded picture to keep, before orientation (AVIF's clean aperture).
    crop: tuple[int, int, int, int] | None = None


def looks_like_supported(data: bytes) -> bool:
    """True if ``data`` starts like an allowed format: failing to open it is then
    corruption rather than an unsupported format."""
    return sniff(data) is not None


def open_source(data: bytes, max_pixels: int, max_dimension: int, max_frames: int) -> Source:
    """Open ``data`` lazily and check its header against the limits; decodes no pixels.

    Metadata is read without decoding (a decode here whose error were swallowed would
    leave a half-decoded image behind for the real decode).
    """
    # The per-call checks below are the real guard; this keeps Pillow's own bomb check
    # (which some plugins apply while opening, and to every frame they seek to) in line
    # with the service's limit.
    Image.MAX_IMAGE_PIXELS = max_pixels
    with decoding():
        image = _open(data, max_pixels, max_dimension)
        known = BY_PILLOW_NAME.get(image.format or "")
        if known is None:
            raise UnsupportedImage()
        fmt = known.name
        width, height = image.size
        if width < 1 or height < 1:
            raise CorruptImage()
        check_dimensions(width, height, max_pixels, max_dimension)
        crop = clean_aperture(image, fmt, data)
        if crop is not None:
            width, height = crop[2] - crop[0], crop[3] - crop[1]
        canvas = image.size
        if fmt == "gif":
            # A later frame may reach past the logical screen; Pillow then grows the
            # canvas while decoding it. That matters only when later frames are decoded
            # (an output keeps the animation): check_decode_budget checks it then.
            # The frames are counted by the same walk: Pillow's n_frames seeks through
            # every frame in Python, several milliseconds for a long animation.
            frames, extent = gif_frames(data)
            frames = max(frames, 1)
            animated = frames > 1
            canvas = (max(width, extent[0]), max(height, extent[1]))
        else:
            if fmt == "tiff":
                # The project's own bounded walk of the page chain first (loops, counts,
                # a chain anywhere in the file): Pillow's n_frames walks it in quadratic
                # time, and only a chain within the limit may reach it.
                walked = read_header(data)
                if walked is not None:
                    check_frames(walked.frames, max_frames)
            frames, animated = frame_facts(image, fmt)
        check_frames(frames, max_frames)
        if fmt == "jpeg":
            # Before any decode: each scan is a pass over the picture.
            check_jpeg_scans(data)
            if image.info.get("progressive") and isinstance(image, ImageFile.ImageFile):
                # Fed in smaller blocks, a decode of many scans returns to Python often
                # enough for the work limit's signal to stop it within about 0.2 s
                # (65 KB blocks: 2.2 s of 30,000 scans); 5 ms more on a 12 MP photo.
                image.decodermaxblock = PROGRESSIVE_DECODE_BLOCK
        exif, orientation = exif_facts(image, fmt, data)
        transpose = None if fmt in ORIENTED_ON_LOAD else _TRANSPOSE.get(orientation or 1)
        if transpose is not None and orientation in (5, 6, 7, 8):
            width, height = height, width
        return Source(
            image=image,
            format=fmt,
            width=width,
            height=height,
            frames=frames,
            animated=animated,
            orientation=orientation,
            exif=exif,
            transpose=transpose,
            variant=_tiff_variant(image) if fmt == "tiff" else container_variant(data),
            stored_size=image.size,
            canvas=canvas,
            crop=crop,
        )


def _open(data: bytes, max_pixels: int, max_dimension: int) -> Image.Image:
    if data[8:12] == b"WEBP":
        # Pillow 13 checks a WebP's declared canvas before libwebp allocates for it;
        # Pillow-SIMD 12 does not, and libwebp's refusal of a 2^24 canvas ("could not
        # create decoder object") would read as a corrupt file. The same check here
        # ends such a file the same way on both engines.
        header = read_header(data)
        if header is not None:
            check_dimensions(header.width, header.height, max_pixels, max_dimension)
    try:
        return Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except Image.UnidentifiedImageError:
        if not looks_like_supported(data):
            raise UnsupportedImage() from None
        repaired = with_alpha_ispe(data) if data[4:8] == b"ftyp" else None
        if repaired is not None:
            # An early encoder's alpha plane without its size (libavif's strict check).
            with suppress(Image.UnidentifiedImageError):
                return Image.open(io.BytesIO(repaired), formats=_OPEN_FORMATS)
        _refuse_declared_size(data, max_pixels, max_dimension)
        variant = _variant(data)
        if variant:
            raise UnsupportedImage(f"{variant} is not supported.") from None
        raise CorruptImage() from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError, MemoryError):
        raise
    except DECODE_ERRORS as exc:
        # Some plugins (BMP) raise their own error for a header they do not handle.
        variant = _variant(data, exc)
        if variant:
            raise UnsupportedImage(f"{variant} is not supported.") from None
        raise


def _refuse_declared_size(data: bytes, max_pixels: int, max_dimension: int) -> None:
    """A HEIF/AVIF container whose codec refused to open it: refuse a declared size over
    the limits as too large (libavif stops at 16384x16384 before Pillow sees a size)."""
    if data[4:8] != b"ftyp":
        return
    head = data[: 1 << 16]
    at = head.find(b"ispe")
    while at != -1 and at + 16 <= len(head):
        width, height = struct.unpack_from(">II", head, at + 8)
        check_dimensions(width, height, max_pixels, max_dimension)
        at = head.find(b"ispe", at + 4)


def _variant(data: bytes, error: Exception | None = None) -> str | None:
    """The name of a valid variant Pillow cannot open, from the header; else None."""
    if data.startswith(b"BM") and len(data) >= 34:
        header_size = struct.unpack_from("<I", data, 14)[0]
        if header_size in (16, 64) and error is not None and "header" in str(error):
            return f"An OS/2 2.x BMP ({header_size}-byte header)"
        if header_size >= 40:
            bits, compression = struct.unpack_from("<HI", data, 28)
            if compression in _BMP_COMPRESSIONS:
                return f"A BMP with {_BMP_COMPRESSIONS[compression]}"
            if bits == 2:
                return "A 2-bit BMP"
        if error is not None and "bitfields layout" in str(error):
            return "A BMP with an unusual bit-field layout"
        return None
    if data.startswith(_TIFF_SIGNATURES):
        # Pillow says only "cannot identify"; its TIFF plugin says why.
        try:
            TiffImagePlugin.TiffImageFile(io.BytesIO(data))
        except DECODE_ERRORS as exc:
            if "unknown pixel mode" in str(exc):
                return "A TIFF with a pixel layout the service cannot decode"
        return None
    if data[4:8] == b"ftyp":
        return container_variant(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_variant(data)
    return None


def _jpeg_variant(data: bytes) -> str | None:
    # Pillow's JPEG plugin refuses other sample precisions than 8 bits while opening,
    # which Image.open reports only as "cannot identify"; the plugin says why.
    try:
        JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    except DECODE_ERRORS as exc:
        match = re.search(r"cannot handle (\d+)-bit layers", str(exc))
        if match:
            return f"A {match[1]}-bit JPEG"
    return None


def _tiff_variant(image: Image.Image) -> str | None:
    tags = getattr(image, "tag_v2", {})
    compression = tags.get(259, 1)
    if compression in _TIFF_BASELINE_COMPRESSIONS:
        return None
    name = _TIFF_COMPRESSION_NAMES.get(compression, f"compression {compression}")
    return f"A TIFF with {name} compression"


def shrink_on_load(source: Source, scale: float, gap: float) -> int:
    """Ask the codec for the smallest decode that still serves outputs at ``scale``.

    Only JPEG scales while decoding (DCT scaling by 2, 4 or 8). Returns the factor.
    """
    if source.format != "jpeg":
        return 1
    reduction = jpeg_reduction(scale, gap)
    width, height = source.stored_size
    if reduction > 1 and width >= reduction and height >= reduction:
        # Pillow picks the largest factor that keeps the decode at least this size.
        source.image.draft(None, (width // reduction, height // reduction))
        return reduction
    return 1


def check_decode_budget(
    source: Source,
    reduction: int,
    frames: int,
    budget: int,
    max_dimension: int,
    band_pixels: int = 0,
) -> DecodeCost:
    """Refuse a decode that needs more memory than ``budget``; the cost otherwise.

    ``reduction``: the shrink-on-load factor a side (JPEG's DCT scaling, a PNG decoded
    in bands); ``band_pixels``: the pixels of one band when the picture is decoded in
    bands. ``frames``: the frames that will be decoded (all of them only when an output keeps
    the animation). A GIF's frames are composed onto an RGBA canvas as large as the
    largest frame reaches, which must also keep within ``max_dimension``.
    """
    image = source.image
    width, height = source.stored_size
    mode = image.mode
    if frames > 1:
        width, height = source.canvas
        mode = "RGBA"
        if width > max_dimension or height > max_dimension:
            raise ImageTooLarge(
                f"A frame of the animation reaches {width}x{height}; "
                f"each side must be at most {max_dimension}."
            )
    if band_pixels:
        # Decoded in bands: the reduced picture is held in the working mode only.
        mode = "RGBA" if has_alpha(image) else "RGB"
    progressive_bands = 0
    if source.format == "jpeg" and (image.info.get("progressive") or image.info.get("progression")):
        progressive_bands = len(image.getbands())
    cost = decode_cost(
        width,
        height,
        mode,
        source.format,
        frames=frames,
        reduction=reduction,
        progressive_bands=progressive_bands,
        band_pixels=band_pixels,
    )
    message = over_budget_message(cost, budget)
    if message:
        raise ImageTooLarge(message)
    return cost


def decode(source: Source, detach: bool = False) -> Image.Image:
    """The one decode of the first frame: every error raised, upright, sRGB RGB(A).

    ``detach``: return a copy even when no conversion made one, because later frames
    will be read through the same image object.
    """
    image = source.image
    with decoding(source.variant):
        image.load()
        frame = to_working_mode(image)
        if source.crop is not None:
            frame = frame.crop(source.crop)
        if source.transpose is not None:
            frame = frame.transpose(source.transpose)
        elif frame is image and detach:
            # Detach from the file object, which later frames (animation) reuse. Only
            # then: copying a decoded 12 MP photo costs more than its facts.
            frame = image.copy()
    return frame


def transpose_for(orientation: int | None) -> Image.Transpose | None:
    """The transpose that makes an image with this EXIF orientation upright."""
    return _TRANSPOSE.get(orientation or 1)
