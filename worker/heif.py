"""HEIC/HEIF decoding through pillow-heif, loaded only when such a file arrives.

pillow-heif and libheif cost about 3 MB in every worker pool process, and most
jobs are JPEG or PNG. ``register_lazily`` puts a stand-in under Pillow's "HEIF"
format: any ISO BMFF file (``ftyp``) that no earlier format took loads
pillow-heif, which registers its real opener in the stand-in's place, and is
then opened by it. pillow-heif decides what it accepts, as before.
"""

from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

FORMAT = "HEIF"


def register_lazily() -> None:
    """Register the stand-in opener, unless pillow-heif's own is already registered."""
    if FORMAT not in Image.OPEN:
        Image.register_open(FORMAT, _open, _maybe_heif)


def _maybe_heif(prefix: bytes) -> bool:
    # pillow-heif reads the brand after "ftyp"; the cheap part of its check is enough
    # to decide whether to load it.
    return prefix[4:8] == b"ftyp"


def _open(fp: IO[bytes], filename: str | bytes) -> ImageFile.ImageFile:
    import pillow_heif

    pillow_heif.register_heif_opener()  # replaces this stand-in in Image.OPEN
    factory, accept = Image.OPEN[FORMAT]
    prefix = fp.read(16)
    fp.seek(0)
    if accept is not None and not accept(prefix):
        # Pillow's signal for "not this format": it tries the next one.
        raise SyntaxError("not a HEIF file")
    return factory(fp, filename)
