"""libspng, the PNG decoder libvips uses, reached through the copy pyspng's wheel carries.

pyspng (MIT; libspng 0.7.4, BSD-2-Clause, with zlib 1.2.11 linked in) offers one call
that decodes a whole image with every checksum ignored (``SPNG_CRC_USE``). The worker
needs more of libspng than that: its checksums on, rows decoded one at a time (so a
large PNG can be shrunk band by band while it decodes) and the samples as stored. The
extension module exports libspng's whole C API, so this module calls it with ctypes.
That is private to pyspng: ``worker/upstream.py`` fences it (pyspng's version, the
digest of its extension module, the symbols and constants used), and
``tests/unit/worker/test_upstream.py`` fails as soon as an upgrade changes any of them.

ctypes releases the GIL for each call, so a decode runs beside the imaging threads.
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np
from numpy.typing import NDArray

# spng_format: the samples as the PNG stores them (host byte order for 16 bits).
FMT_PNG = 256
# spng_decode_flags
DECODE_PROGRESSIVE = 256
# spng_errno: returned by spng_decode_row after the last row.
EOI = 75
OK = 0
# Every symbol this module calls (worker/upstream.py checks the extension exports them).
SYMBOLS = (
    "spng_ctx_new",
    "spng_ctx_free",
    "spng_set_png_buffer",
    "spng_set_image_limits",
    "spng_set_chunk_limits",
    "spng_get_ihdr",
    "spng_decoded_image_size",
    "spng_decode_image",
    "spng_decode_row",
    "spng_strerror",
    "spng_version_string",
)
EXTENSION = "pyspng._pyspng_c"
# Ancillary chunks libspng keeps (text, ICC, EXIF): the worker reads those through
# Pillow, and the pre-check has bounded them already; this only caps libspng's copy.
CHUNK_LIMIT = 64 << 20


class SpngError(Exception):
    """libspng refused the data (its message, and the error number)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"libspng: {message(code)} ({code})")
        self.code = code


class _Ihdr(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("bit_depth", ctypes.c_uint8),
        ("color_type", ctypes.c_uint8),
        ("compression_method", ctypes.c_uint8),
        ("filter_method", ctypes.c_uint8),
        ("interlace_method", ctypes.c_uint8),
    ]


@cache
def library() -> ctypes.CDLL | None:
    """The loaded extension with its prototypes set, or None when pyspng is not installed."""
    spec = importlib.util.find_spec(EXTENSION)
    if spec is None or spec.origin is None:
        return None
    lib = ctypes.CDLL(spec.origin)
    ctx, size_t, c_int = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    prototypes: dict[str, tuple[object, list[object]]] = {
        "spng_ctx_new": (ctx, [c_int]),
        "spng_ctx_free": (None, [ctx]),
        "spng_set_png_buffer": (c_int, [ctx, ctypes.c_void_p, size_t]),
        "spng_set_image_limits": (c_int, [ctx, ctypes.c_uint32, ctypes.c_uint32]),
        "spng_set_chunk_limits": (c_int, [ctx, size_t, size_t]),
        "spng_get_ihdr": (c_int, [ctx, ctypes.POINTER(_Ihdr)]),
        "spng_decoded_image_size": (c_int, [ctx, c_int, ctypes.POINTER(size_t)]),
        "spng_decode_image": (c_int, [ctx, ctypes.c_void_p, size_t, c_int, c_int]),
        "spng_decode_row": (c_int, [ctx, ctypes.c_void_p, size_t]),
        "spng_strerror": (ctypes.c_char_p, [c_int]),
        "spng_version_string": (ctypes.c_char_p, []),
    }
    for name, (restype, argtypes) in prototypes.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


def available() -> bool:
    """True when libspng can be used (pyspng installed)."""
    return library() is not None


def version() -> str:
    """libspng's version, ``"0.7.4"``."""
    lib = library()
    return lib.spng_version_string().decode() if lib is not None else ""


def message(code: int) -> str:
    lib = library()
    text = lib.spng_strerror(code) if lib is not None else None
    return text.decode(errors="replace") if text else "unknown error"


def _check(code: int) -> None:
    if code != OK:
        raise SpngError(code)


@contextmanager
def _context(data: bytes, max_side: int) -> Iterator[tuple[ctypes.CDLL, int, _Ihdr]]:
    lib = library()
    if lib is None:
        raise RuntimeError("pyspng is not installed")
    ctx = lib.spng_ctx_new(0)  # checksums on: every chunk's CRC and zlib's Adler-32
    if not ctx:
        raise MemoryError
    try:
        # ``data`` (immutable bytes) outlives the context: libspng reads it in place.
        _check(lib.spng_set_png_buffer(ctx, data, len(data)))
        _check(lib.spng_set_image_limits(ctx, max_side, max_side))
        _check(lib.spng_set_chunk_limits(ctx, CHUNK_LIMIT, CHUNK_LIMIT))
        ihdr = _Ihdr()
        _check(lib.spng_get_ihdr(ctx, ctypes.byref(ihdr)))
        yield lib, ctx, ihdr
    finally:
        lib.spng_ctx_free(ctx)


def _channels(ihdr: _Ihdr) -> int:
    return {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ihdr.color_type]


def decode(data: bytes, max_side: int = 1 << 24) -> NDArray[np.uint8]:
    """The whole 8-bit image as stored (height x width x channels), every checksum checked.

    Raises ``SpngError`` for anything libspng refuses, including image data that ends
    before the last row.
    """
    with _context(data, max_side) as (lib, ctx, ihdr):
        if ihdr.bit_depth != 8:
            raise ValueError("only 8-bit samples are decoded here")
        size = ctypes.c_size_t()
        _check(lib.spng_decoded_image_size(ctx, FMT_PNG, ctypes.byref(size)))
        out = np.empty((ihdr.height, ihdr.width, _channels(ihdr)), np.uint8)
        if out.nbytes != size.value:
            raise ValueError("unexpected decoded size")
        _check(lib.spng_decode_image(ctx, out.ctypes.data, size.value, FMT_PNG, 0))
        return out


def decode_bands(data: bytes, rows: int, max_side: int = 1 << 24) -> Iterator[NDArray[np.uint8]]:
    """The 8-bit, non-interlaced image as stored, ``rows`` rows at a time (the last band
    may be shorter), decoded row by row: only one band is held at once.

    Each band is a new array. Raises ``SpngError`` as ``decode`` does, at the band where
    the data fails.
    """
    with _context(data, max_side) as (lib, ctx, ihdr):
        if ihdr.bit_depth != 8 or ihdr.interlace_method != 0:
            raise ValueError("only 8-bit non-interlaced images are decoded in bands")
        _check(lib.spng_decode_image(ctx, None, 0, FMT_PNG, DECODE_PROGRESSIVE))
        width, height, channels = ihdr.width, ihdr.height, _channels(ihdr)
        stride = width * channels
        for top in range(0, height, rows):
            count = min(rows, height - top)
            band = np.empty((count, width, channels), np.uint8)
            address = band.ctypes.data
            for i in range(count):
                code = lib.spng_decode_row(ctx, address + i * stride, stride)
                # The last row answers "end of image" once it is written.
                if code != OK and not (code == EOI and top + i == height - 1):
                    raise SpngError(code)
            yield band
