"""The submit-time header walkers on 10 MB bodies built to make them step the most: CPU per body.

    python -m bench.header_walkers

Each body is the worst of its kind for a walker that steps over segments, chunks or
blocks in Python: the smallest ones a format allows, back to back. The walkers are
bounded (``chalicelib/media/image_header.py``: ``MAX_WALK_STEPS``, ``MAX_GIF_STEPS``,
``MAX_JPEG_SCANS``), so each costs milliseconds, not the 0.5-0.8 s of a walk one
segment at a time over the whole body.
"""

from __future__ import annotations

import os
import struct
import time
import zlib

from chalicelib.media.image_header import jpeg_scans, read_header

SIZE = 10_000_000


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bodies() -> dict[str, bytes]:
    soi = b"\xff\xd8"
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
    gif = b"GIF89a" + struct.pack("<HHBBB", 64, 64, 0, 0, 0)
    return {
        "jpeg: 4-byte comments": soi + b"\xff\xfe\x00\x02" * (SIZE // 4),
        "jpeg: entropy data of stuffed 0xFF": soi + sos + b"\xff\x00" * (SIZE // 2),
        "jpeg: random entropy data": soi + sos + os.urandom(SIZE),
        "jpeg: 5-byte scans": soi + (b"\xff\xda\x00\x03\x00") * (SIZE // 5),
        "png: 12-byte chunks": png + _png_chunk(b"tEXt", b"") * (SIZE // 12),
        "gif: 2-byte sub-blocks": gif
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 64, 64, 0)
        + b"\x02"
        + b"\x01\x00" * (SIZE // 2),
        "tiff: 100,000-page chain": _tiff_chain(100_000),
    }


def _tiff_chain(pages: int) -> bytes:
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        at = 8 + page * 30
        out += struct.pack("<H", 2) + struct.pack("<HHII", 256, 3, 1, 1)
        out += struct.pack("<HHII", 257, 3, 1, 1)
        out += struct.pack("<I", at + 30 if page < pages - 1 else 0)
    return bytes(out)


def main() -> None:
    print(f"{'body':40} {'bytes':>10} {'header ms':>10} {'scans ms':>9}")
    for name, body in bodies().items():
        started = time.process_time()
        for _ in range(5):
            read_header(body)
        header_ms = (time.process_time() - started) / 5 * 1000
        started = time.process_time()
        for _ in range(5):
            jpeg_scans(body)
        scans_ms = (time.process_time() - started) / 5 * 1000
        print(f"{name:40} {len(body):>10} {header_ms:>10.1f} {scans_ms:>9.1f}")


if __name__ == "__main__":
    main()
