"""GIFs built block by block: frames smaller than the screen, disposal, no transparent colour.

Pillow's GIF writer always makes the first frame cover the screen; the files other
writers make (and the format's reference renderings test) often do not.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Frame:
    """One image descriptor: its rectangle, palette indices (one byte a pixel), timing."""

    left: int
    top: int
    width: int
    height: int
    index: int  # every pixel of the frame is this palette index
    delay_cs: int = 10
    disposal: int = 1
    transparent: int | None = None


def gif(
    screen: tuple[int, int], palette: list[Colour], frames: list[Frame], background: int = 0
) -> bytes:
    """A GIF89a with a global palette (padded to a power of two) and a looping animation."""
    bits = max(2, (len(palette) - 1).bit_length())
    colours = palette + [(0, 0, 0)] * ((1 << bits) - len(palette))
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", screen[0], screen[1], 0x80 | (bits - 1), background, 0)
    out += b"".join(bytes(c) for c in colours)
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for frame in frames:
        flags = (frame.disposal << 2) | (frame.transparent is not None)
        out += b"\x21\xf9\x04" + struct.pack("<BHB", flags, frame.delay_cs, frame.transparent or 0)
        out += b"\x00"
        out += b"\x2c" + struct.pack("<HHHHB", frame.left, frame.top, frame.width, frame.height, 0)
        out += _lzw([frame.index] * (frame.width * frame.height), bits)
    out += b"\x3b"
    return bytes(out)


def _lzw(indices: list[int], min_code: int) -> bytes:
    """LZW data that never grows its code size: a clear code before the table fills."""
    clear, end, width = 1 << min_code, (1 << min_code) + 1, min_code + 1
    run = (1 << width) - clear - 3
    codes: list[int] = []
    for i, index in enumerate(indices):
        if i % run == 0:
            codes.append(clear)
        codes.append(index)
    codes.append(end)
    packed, acc, filled = bytearray(), 0, 0
    for code in codes:
        acc |= code << filled
        filled += width
        while filled >= 8:
            packed.append(acc & 0xFF)
            acc >>= 8
            filled -= 8
    if filled:
        packed.append(acc)
    blocks = bytearray([min_code])
    for at in range(0, len(packed), 255):
        chunk = packed[at : at + 255]
        blocks += bytes([len(chunk)]) + chunk
    blocks.append(0)
    return bytes(blocks)
