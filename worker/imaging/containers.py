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

# Matrix coefficients (H.273) that libavif refuses to convert to RGB ("Reformat
# failed"): valid files that no decoder installed here shows.
UNCONVERTED_MATRICES = {
    10: "BT.2020 constant-luminance",
    11: "SMPTE ST 2085",
    13: "chromaticity-derived constant-luminance",
    14: "ICtCp",
}
# H.273 transfer characteristics: 16 SMPTE ST 2084 (PQ), 18 ARIB STD-B67 (HLG).
HDR_TRANSFERS = frozenset({16, 18})
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
    installed decoders lack, or its colour matrix one libavif does not convert; None for
    anything the decoders handle and anything unreadable."""
    item = primary_item(data)
    if item is None:
        return None
    if item.coding is not None:
        return f"A HEIF image coded with {item.coding}"
    matrix = item.nclx[2] if item.nclx else None
    if matrix in UNCONVERTED_MATRICES:
        kind = "An AVIF" if item.item_type == b"av01" else "A HEIF image"
        return f"{kind} with the {UNCONVERTED_MATRICES[matrix]} colour matrix"
    return None


def hdr_transfer(data: bytes) -> tuple[int, int] | None:
    """(transfer, primaries) of a HEIF/AVIF whose primary image is coded with an HDR
    transfer function (PQ or HLG) in its nclx colour box; None otherwise."""
    item = primary_item(data)
    if item is None or item.nclx is None:
        return None
    primaries, transfer, _, _ = item.nclx
    return (transfer, primaries) if transfer in HDR_TRANSFERS else None
