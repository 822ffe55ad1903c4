"""What Pillow and its codecs raise on bad data, turned into the service's errors."""

from __future__ import annotations

import logging
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

from chalicelib.core.errors import CorruptImage, ImageTooLarge, UnsupportedImage

log = logging.getLogger(__name__)

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


def _pixel_refusal(exc: Exception) -> str:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    if match:
        limit = Image.MAX_IMAGE_PIXELS
        return f"The image declares {match[1]} pixels; at most {limit} are allowed."
    return "The image declares more pixels than the service accepts."


@contextmanager
def decoding(variant: str | None = None) -> Iterator[None]:
    """Turn Pillow's errors on bad data into the service's errors.

    With ``variant`` (a valid variant this installation may not decode, "A TIFF with WebP
    compression"), a decode error is ``UnsupportedImage`` naming it; else ``CorruptImage``.
    """
    try:
        with warnings.catch_warnings():
            # A size just above the limit only warns by default; refuse it instead.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLarge(_pixel_refusal(exc)) from None
    except MemoryError:
        raise ImageTooLarge("The image needs more memory than a worker has.") from None
    except DECODE_ERRORS as exc:
        log.info("decode failed: %r", exc)
        if variant:
            raise UnsupportedImage(f"{variant} is not supported.") from None
        raise CorruptImage() from None
