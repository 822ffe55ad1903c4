"""ICC v2 display profiles built in code: grey and RGB with a chosen gamma, for colour tests.

The conversion such a profile implies is known in closed form (a gamma curve, and for
RGB the sRGB primaries), so a test can compute the right answer without LittleCMS.
"""

from __future__ import annotations

import struct

# The sRGB primaries and white, adapted to the ICC's D50 connection space (Bradford),
# as the sRGB profiles published by the ICC state them.
SRGB_D50_PRIMARIES = (
    (0.4361, 0.2225, 0.0139),
    (0.3851, 0.7169, 0.0971),
    (0.1431, 0.0606, 0.7141),
)
D50 = (0.9642, 1.0, 0.8249)


def _s15f16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + b"".join(_s15f16(v) for v in xyz)


def _curve(gamma: float) -> bytes:
    return b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\x00"
    return (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)  # no Unicode description
        + struct.pack(">HB", 0, 0)
        + b"\x00" * 67  # no ScriptCode description
    )


def _profile(space: bytes, tags: list[tuple[bytes, bytes]], intent: int) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table = struct.pack(">I", len(tags))
    body = b""
    for signature, data in tags:
        padded = data + b"\x00" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"none"
        + struct.pack(">I", 0x02100000)
        + b"mntr"
        + space
        + b"XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\x00" * 4  # platform
        + b"\x00" * 4  # flags
        + b"\x00" * 8  # manufacturer, model
        + b"\x00" * 8  # attributes
        + struct.pack(">I", intent)
        + b"".join(_s15f16(v) for v in D50)
        + b"none"
        + b"\x00" * 44  # profile id and reserved
    )
    assert len(header) == 128
    return header + table + body


def grey_profile(gamma: float, intent: int = 1) -> bytes:
    """A monochrome display profile: Y = (value / max) ** gamma."""
    tags = [
        (b"desc", _desc(f"Test grey gamma {gamma}")),
        (b"cprt", b"text\x00\x00\x00\x00Public domain\x00"),
        (b"wtpt", _xyz(D50)),
        (b"kTRC", _curve(gamma)),
    ]
    return _profile(b"GRAY", tags, intent)


def rgb_profile(gamma: float, intent: int = 1) -> bytes:
    """An RGB display profile with the sRGB primaries and a pure ``gamma`` curve."""
    red, green, blue = SRGB_D50_PRIMARIES
    curve = _curve(gamma)
    tags = [
        (b"desc", _desc(f"Test RGB gamma {gamma}")),
        (b"cprt", b"text\x00\x00\x00\x00Public domain\x00"),
        (b"wtpt", _xyz(D50)),
        (b"rXYZ", _xyz(red)),
        (b"gXYZ", _xyz(green)),
        (b"bXYZ", _xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    return _profile(b"RGB ", tags, intent)


def srgb_encode(linear: float) -> float:
    """The sRGB transfer function: linear light 0..1 to an 8-bit code value."""
    value = 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055
    return 255 * value
