"""Opening a source image safely: format allowlist, header limits, decode errors, EXIF facts."""

from __future__ import annotations

import io
import logging
import math
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pillow_heif
from PIL import Image, ImageCms

from chalicelib.errors import CorruptImage, ImageTooLarge, UnsupportedImage

log = logging.getLogger(__name__)

# HEIC/HEIF through libheif; AVIF is Pillow's own (native since 11.2).
pillow_heif.register_heif_opener()

# Pillow format name -> the name the service reports. MPO is how Pillow opens the
# multi-picture JPEGs that phones write; to a client it is a JPEG.
ALLOWED_FORMATS = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
    "HEIF": "heif",
    "AVIF": "avif",
}
# Only these plugins may even look at the bytes: no EPS (Ghostscript), no PDF, no SVG.
# MPO has no opener of its own: the JPEG plugin hands over to it.
_OPEN_FORMATS = [name for name in ALLOWED_FORMATS if name != "MPO"]

# Errors Pillow and its codecs raise on truncated or malformed data. Deliberately not
# ``Exception``: Celery's SoftTimeLimitExceeded must pass through untouched.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    RuntimeError,
    zlib.error,
)

# Signatures of the allowed formats: bytes that start like one of them but do not
# open are corrupt rather than unsupported.
_SIGNATURES = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
)
_FTYP_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_SRGB = ImageCms.createProfile("sRGB")

# Decompression bombs within the pixel limit: a file whose decode needs more than
# DECODE_FLOOR_BYTES (64 MB) and more than MAX_EXPANSION times its own size is refused. Real
# photos expand 5-40 times (a 12 MP HEIC of 2.5 MB needs ~96 MB), flat screenshots and
# scans up to a few hundred; a flat 10000x10000 PNG, WebP or RLE BMP of a few hundred
# bytes or KB needs 400+ MB and expands 1000+. The margin between the two keeps real
# flat images (a 5K screenshot, a smooth gradient) working.
DECODE_FLOOR_BYTES = 64 * 1024 * 1024
MAX_EXPANSION = 250
# Bytes a pixel takes in Pillow's memory, by mode (RGB is stored in 4 bytes).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
# DCT scaling assumed for a baseline JPEG before the outputs are planned: outputs a
# quarter of the source's side or smaller (libjpeg offers down to 1/8).
_JPEG_PROBE_REDUCTION = 4


@dataclass
class Source:
    """An opened (not yet decoded) source image and what its header told."""

    image: Image.Image
    format: str
    width: int  # upright
    height: int  # upright
    frames: int
    animated: bool
    orientation: int | None
    exif: dict[str, Any]


def looks_like_supported(data: bytes) -> bool:
    """True if ``data`` starts with the signature of an allowed format."""
    if data.startswith(_SIGNATURES):
        return True
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    return data[4:8] == b"ftyp" and data[8:12] in _FTYP_BRANDS


@contextmanager
def decoding() -> Iterator[None]:
    """Turn Pillow's errors on bad data into the service's errors."""
    try:
        with warnings.catch_warnings():
            # A size just above the limit only warns by default; refuse it instead.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageTooLarge("The image declares more pixels than the service accepts.") from None
    except MemoryError:
        raise ImageTooLarge("The image needs more memory than a worker has.") from None
    except DECODE_ERRORS as exc:
        log.info("decode failed: %r", exc)
        raise CorruptImage() from None


def open_source(data: bytes, max_pixels: int, max_dimension: int, max_frames: int) -> Source:
    """Open ``data`` lazily and check its header against the limits; decodes no pixels."""
    # The per-call check below is the real guard; this keeps Pillow's own bomb check
    # (also applied to every frame it seeks to) in line with the service's limit.
    Image.MAX_IMAGE_PIXELS = max_pixels
    with decoding():
        try:
            image = Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
        except Image.UnidentifiedImageError:
            if looks_like_supported(data):
                raise CorruptImage() from None
            raise UnsupportedImage() from None
        fmt = ALLOWED_FORMATS.get(image.format or "")
        if fmt is None:
            raise UnsupportedImage()
        width, height = image.size
        if width < 1 or height < 1:
            raise CorruptImage()
        if width > max_dimension or height > max_dimension:
            raise ImageTooLarge(
                f"The image is {width}x{height}; each side must be at most {max_dimension}."
            )
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"The image has {width * height} pixels; at most {max_pixels} are allowed."
            )
        if fmt == "gif":
            # A later frame may reach past the logical screen; Pillow then grows the
            # canvas while decoding it, past every check made on the first frame.
            extent = gif_extent(data)
            if extent[0] > max_dimension or extent[1] > max_dimension:
                raise ImageTooLarge(
                    f"A frame of the GIF reaches {extent[0]}x{extent[1]}; "
                    f"each side must be at most {max_dimension}."
                )
            # Palette frames, composed onto an RGBA canvas (1 + 4 bytes a pixel).
            _refuse_bomb(extent[0] * extent[1] * 5, len(data))
        check_decode_memory(image, fmt, len(data))
        frames = int(getattr(image, "n_frames", 1) or 1)
        if frames > max_frames:
            raise ImageTooLarge(f"The image has {frames} frames; at most {max_frames} are allowed.")
        exif, orientation = _exif_facts(image)
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        return Source(
            image=image,
            format=fmt,
            width=width,
            height=height,
            frames=frames,
            animated=bool(getattr(image, "is_animated", False)) and frames > 1,
            orientation=orientation,
            exif=exif,
        )


def decode_bytes(image: Image.Image, fmt: str, reduction: int = 1) -> int:
    """Memory the first frame's decode needs: the decoded frame plus its working copy.

    ``reduction`` is the JPEG DCT scaling the decode will use (1, 2, 4 or 8 a side).
    A progressive JPEG also holds every DCT coefficient of the full-size image
    (2 bytes each) whatever the scaling; that is its bomb.
    """
    width, height = image.size
    pixels = math.ceil(width / reduction) * math.ceil(height / reduction)
    bands = len(image.getbands())
    # The decoded frame in its own mode, then the RGB(A) working copy (4 bytes a pixel).
    needed = pixels * (_MODE_BYTES.get(image.mode, 4) + 4)
    if fmt == "jpeg" and (image.info.get("progressive") or image.info.get("progression")):
        needed += width * height * bands * 2
    return needed


def check_decode_memory(image: Image.Image, fmt: str, file_bytes: int, scale: float = 0.0) -> None:
    """Refuse a decompression bomb: a decode far larger than the file, over the floor.

    ``scale`` is the largest output's scale when known; for a baseline JPEG the
    decode shrinks to it (0 means unknown yet: a quarter), other formats decode whole.
    """
    reduction = 1
    if fmt == "jpeg":
        reduction = _JPEG_PROBE_REDUCTION if scale <= 0 else 8
        while reduction > 1 and scale * reduction > 1:
            reduction //= 2
    _refuse_bomb(decode_bytes(image, fmt, reduction), file_bytes)


def _refuse_bomb(needed: int, file_bytes: int) -> None:
    if needed > DECODE_FLOOR_BYTES and needed > MAX_EXPANSION * max(file_bytes, 1):
        raise ImageTooLarge(
            f"Decoding the image would need about {needed // 2**20} MB from a "
            f"{file_bytes}-byte file; it is refused as a decompression bomb."
        )


def gif_extent(data: bytes) -> tuple[int, int]:
    """The canvas every frame of a GIF together needs, from the frame descriptors alone.

    A walk over the block structure (no LZW decoding); a truncated file gives what
    was read so far, since decoding it fails later anyway.
    """
    if len(data) < 13:
        return 0, 0
    width, height, flags = struct.unpack_from("<HHB", data, 6)
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while at < len(data):
        kind = data[at]
        if kind == 0x2C and at + 10 <= len(data):  # image descriptor
            left, top, w, h, local = struct.unpack_from("<HHHHB", data, at + 1)
            width, height = max(width, left + w), max(height, top + h)
            at += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1  # + LZW code size
        elif kind == 0x21:  # extension: label, then sub-blocks
            at += 2
        else:  # the trailer, or garbage
            break
        while at < len(data) and data[at]:
            at += data[at] + 1
        at += 1
    return width, height


def transpose_for(orientation: int | None) -> Image.Transpose | None:
    """The transpose that makes an image with this EXIF orientation upright."""
    return _TRANSPOSE.get(orientation or 1)


def has_alpha(image: Image.Image) -> bool:
    """True if ``image`` carries transparency (an alpha band or a transparent colour)."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def to_working_mode(image: Image.Image) -> Image.Image:
    """Convert a decoded frame to sRGB ``RGB`` or ``RGBA``, the modes every step expects."""
    alpha = has_alpha(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # High bit depth: scale to 8 bits rather than clip everything above 255.
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    icc = image.info.get("icc_profile")
    target = "RGBA" if alpha else "RGB"
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        converted = _to_srgb(image, icc, target)
        if converted is not None:
            return converted
    if image.mode == target:
        return image
    return image.convert(target)


def _to_srgb(image: Image.Image, icc: bytes, target: str) -> Image.Image | None:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile) or ""
        if "srgb" in description.lower() and image.mode == target:
            return image
        mode_in = image.mode
        mode_out = target if mode_in != "CMYK" else "RGB"
        transform = ImageCms.buildTransform(profile, _SRGB, mode_in, mode_out)
        converted = ImageCms.applyTransform(image, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
        # A broken profile is common enough; the pixels are still usable as sRGB.
        log.info("ignoring an unusable ICC profile: %r", exc)
        return None
    if converted is None:
        return None
    converted.info.pop("icc_profile", None)
    return converted if converted.mode == target else converted.convert(target)


_DATETIME = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def _exif_facts(image: Image.Image) -> tuple[dict[str, Any], int | None]:
    facts: dict[str, Any] = {
        "make": None,
        "model": None,
        "taken_at": None,
        "orientation": None,
        "had_gps": False,
    }
    try:
        exif = image.getexif()
        base = dict(exif)
        sub = dict(exif.get_ifd(0x8769))
        gps = dict(exif.get_ifd(0x8825))
    except DECODE_ERRORS as exc:
        # Broken metadata must not fail the image; it is stripped from outputs anyway.
        log.info("unreadable EXIF: %r", exc)
        base, sub, gps = {}, {}, {}
    facts["make"] = _text(base.get(0x010F))
    facts["model"] = _text(base.get(0x0110))
    facts["taken_at"] = _timestamp(sub.get(0x9003) or sub.get(0x9004) or base.get(0x0132))
    # pillow-heif applies the HEIF transforms itself and keeps the original value aside.
    raw_orientation = image.info.get("original_orientation") or base.get(0x0112)
    orientation = (
        raw_orientation if isinstance(raw_orientation, int) and 1 <= raw_orientation <= 8 else None
    )
    facts["orientation"] = orientation
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    facts["had_gps"] = bool(gps) or b"GPSLatitude" in xmp
    # For HEIF the pixels come out upright already; only the fact is reported.
    effective = None if "original_orientation" in image.info else orientation
    return facts, effective


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value if ch.isprintable()).strip()
    return cleaned[:100] or None


def _timestamp(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    match = _DATETIME.match(text)
    if match is None:
        return None
    y, mo, d, h, mi, s = match.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}"
