"""What HEIF and AVIF containers say that the decoders do not act on or do not name.

libavif (Pillow's AVIF plugin) decodes the whole coded picture and leaves AVIF's clean
aperture (``clap``) to the caller; libheif (pillow-heif) applies it itself, with
``irot`` and ``imir``. Neither says which coding it lacks when a file's primary image
is coded with something other than HEVC or AV1. The boxes are read by
``chalicelib.media.isobmff``.
"""

from __future__ import annotations

from PIL import Image

from chalicelib.media.isobmff import primary_item

# Formats whose decoder leaves the clean aperture to the worker.
CROPPED_BY_WORKER = frozenset({"avif"})


def clean_aperture(image: Image.Image, fmt: str, data: bytes) -> tuple[int, int, int, int] | None:
    """The box (left, top, right, bottom) of the coded picture to keep, or None.

    Applied to the decoded picture before its orientation (the format's order: crop,
    then rotate, then mirror), and only when the decoder gave the coded size.
    """
    if fmt not in CROPPED_BY_WORKER:
        return None
    item = primary_item(data)
    if item is None or item.clean_aperture is None or item.size != image.size:
        return None
    left, top, width, height = item.clean_aperture
    return left, top, left + width, top + height


def container_variant(data: bytes) -> str | None:
    """``"A HEIF image coded with JPEG 2000"`` when the primary image's coding is one the
    installed decoders lack; None for HEVC, AV1 and anything unreadable."""
    item = primary_item(data)
    if item is None or item.coding is None:
        return None
    return f"A HEIF image coded with {item.coding}"
