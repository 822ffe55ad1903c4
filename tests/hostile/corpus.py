"""The hostile-input corpus: every case built in code as the exact bytes of one HTTP request.

Each ``Case`` is a whole request (body and Content-Type) plus the outcomes that count
as a correct answer: an HTTP error ``"413 upload_too_large"``, a job that ends
``"failed image_too_large"``, or, for inputs that are valid images in disguise
(polyglots, lying file names and types), ``"completed"``. Nothing here is a large
binary file: bombs are small files whose headers lie, built at import time.

The limits these cases are sized against are the live-stack test settings
(``tests/stack_fixtures.TEST_LIMITS``: 3 MiB bodies, 2000 characters of text) and the
service defaults (20000 px a side, 100 megapixels, 200 frames).
"""

from __future__ import annotations

import io
import json
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from PIL import Image

from tests.support import imagegen

BOUNDARY = "hostile-boundary-7d3f"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
# The live-stack body limit (TEST_LIMITS["MAX_UPLOAD_BYTES"]).
UPLOAD_LIMIT = 3 * 1024 * 1024
TEXT_LIMIT = 2000

# Outcomes of an image the worker must refuse from its header or its broken data.
CORRUPT = frozenset({"failed corrupt_image"})
# Refused from the header at submit (413) or by the worker (a header the API could
# not read, or read only in part).
TOO_LARGE = frozenset({"failed image_too_large", "413 image_too_large"})
# A broken file whose format has no checksum may still decode into some picture;
# either answer is right as long as it is not a crash.
CORRUPT_OR_DECODED = frozenset({"failed corrupt_image", "completed"})
COMPLETED = frozenset({"completed"})


def http(status: int, code: str) -> frozenset[str]:
    return frozenset({f"{status} {code}"})


@dataclass(frozen=True)
class Case:
    """One hostile request and the answers that are correct for it."""

    name: str
    group: str
    body: bytes
    expect: frozenset[str]
    content_type: str | None = MULTIPART
    # Bytes that must never appear in an output (the hidden payload of a polyglot).
    forbidden_in_outputs: tuple[bytes, ...] = ()
    # Set for a valid request whose memory is the price of what it asks for: its peak
    # is measured and reported, not held to the hostile-input bound.
    memory_exempt: str = ""
    path: str = "/api/process"
    extra_headers: dict[str, str] = field(default_factory=dict)


# -- multipart bodies ---------------------------------------------------------------


def part(
    name: str | None,
    data: bytes,
    filename: str | bytes | None = None,
    content_type: str | None = None,
    headers: bytes = b"",
) -> bytes:
    """One multipart part (without its boundary line), headers spelled out by hand."""
    disposition = b"form-data"
    if name is not None:
        disposition += b'; name="' + name.encode() + b'"'
    if filename is not None:
        raw = filename.encode("utf-8") if isinstance(filename, str) else filename
        disposition += b'; filename="' + raw + b'"'
    head = b"Content-Disposition: " + disposition + b"\r\n"
    if content_type is not None:
        head += b"Content-Type: " + content_type.encode() + b"\r\n"
    return head + headers + b"\r\n" + data


def multipart(*parts: bytes, boundary: str = BOUNDARY, close: bool = True) -> bytes:
    """Join parts with ``boundary``; ``close=False`` leaves out the closing boundary."""
    dash = b"--" + boundary.encode()
    body = b"".join(dash + b"\r\n" + p + b"\r\n" for p in parts)
    return body + (dash + b"--\r\n" if close else b"")


def submission(
    image: bytes | None,
    text: str | bytes | None = "hostile input",
    filename: str | bytes = "photo.jpg",
    options: str | bytes | None = None,
    image_type: str | None = "application/octet-stream",
) -> bytes:
    """A well-formed multipart body like a client's: image, text, options."""
    parts = []
    if image is not None:
        parts.append(part("image", image, filename=filename, content_type=image_type))
    if text is not None:
        parts.append(part("text", text.encode() if isinstance(text, str) else text))
    if options is not None:
        parts.append(part("options", options.encode() if isinstance(options, str) else options))
    return multipart(*parts)


# -- image bytes ----------------------------------------------------------------------


def _noise(width: int, height: int, seed: int = 7) -> Image.Image:
    """Incompressible pixels, so a truncation always cuts real image data."""
    rng = random.Random(seed)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


NOISE = _noise(96, 64)
VALID = {
    "jpeg": imagegen.encoded(NOISE, "JPEG", quality=90),
    "png": imagegen.encoded(NOISE, "PNG"),
    "gif": imagegen.encoded(NOISE.convert("P"), "GIF"),
    "webp": imagegen.encoded(NOISE, "WEBP", quality=90),
    "bmp": imagegen.encoded(NOISE, "BMP"),
    "tiff": imagegen.encoded(NOISE, "TIFF"),
    "heic": imagegen.heic(96, 64),
    "avif": imagegen.encoded(NOISE, "AVIF", quality=60),
}


def corrupted(data: bytes, seed: int = 3) -> bytes:
    """The file with its middle third overwritten by random bytes (header kept)."""
    rng = random.Random(seed)
    third = len(data) // 3
    return data[:third] + rng.randbytes(third) + data[2 * third :]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return imagegen.png_chunk(kind, body)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png(ihdr: tuple[int, int, int, int], idat: bytes, *extra: bytes) -> bytes:
    """A PNG from its parts: (width, height, bit depth, colour type), IDAT data, chunks."""
    width, height, depth, color = ihdr
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + b"".join(extra)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def deflated_zeros(total: int, chunk: int = 1 << 20) -> bytes:
    """``total`` zero bytes deflated at the best ratio, without holding them in memory."""
    compressor = zlib.compressobj(9)
    zeros = bytes(chunk)
    out = [compressor.compress(zeros) for _ in range(total // chunk)]
    out.append(compressor.compress(bytes(total % chunk)))
    out.append(compressor.flush())
    return b"".join(out)


def png_deep_compression(side: int) -> bytes:
    """A valid grey PNG of ``side`` x ``side`` black pixels: a few hundred KB deflated."""
    return png((side, side, 8, 0), deflated_zeros(side * (side + 1)))


def png_ztxt_bomb(chunks: int) -> bytes:
    """A small PNG carrying ``chunks`` zTXt chunks that each inflate to 1 MB."""
    text = b"Comment\x00\x00" + zlib.compress(b"A" * (1 << 20), 9)
    small = imagegen.encoded(Image.new("RGB", (8, 8), "red"), "PNG")
    extra = png_chunk(b"zTXt", text) * chunks
    return small[:33] + extra + small[33:]


def png_iccp_bomb() -> bytes:
    """A PNG whose iCCP profile inflates to 64 MB."""
    body = b"icc\x00\x00" + deflated_zeros(64 << 20)
    small = imagegen.encoded(Image.new("RGB", (8, 8), "red"), "PNG")
    return small[:33] + png_chunk(b"iCCP", body) + small[33:]


def apng_frame_bomb() -> bytes:
    """An APNG whose acTL chunk declares two billion frames."""
    small = imagegen.encoded(Image.new("RGB", (8, 8), "red"), "PNG")
    actl = png_chunk(b"acTL", struct.pack(">II", 2_000_000_000, 0))
    return small[:33] + actl + small[33:]


def gif(
    screen: tuple[int, int],
    frames: list[tuple[int, int]],
    lzw: bytes = b"\x02\x02\x4c\x01\x00",
) -> bytes:
    """A GIF89a with a two-colour palette: the logical screen and each frame's size."""
    out = b"GIF89a" + struct.pack("<HHBBB", *screen, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    for width, height in frames:
        out += b"!\xf9\x04\x00\x01\x00\x00\x00"  # graphic control: 10 ms
        out += b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + lzw
    return out + b";"


def gif_many_frames(count: int) -> bytes:
    return gif((1, 1), [(1, 1)] * count)


def jpeg_with_dimensions(width: int, height: int, progressive: bool = False) -> bytes:
    """A small JPEG whose SOF segment is rewritten to declare ``width`` x ``height``."""
    data = bytearray(imagegen.encoded(Image.new("RGB", (16, 16), "red"), "JPEG"))
    marker = b"\xff\xc2" if progressive else b"\xff\xc0"
    at = data.find(marker)
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def jpeg_progressive(side: int) -> bytes:
    """A real progressive greyscale JPEG of ``side`` x ``side`` flat pixels (small file)."""
    return imagegen.encoded(Image.new("L", (side, side), 128), "JPEG", progressive=True)


def webp_lossless_with_dimensions(width: int, height: int) -> bytes:
    """A solid-colour lossless WebP whose VP8L header is rewritten to ``width`` x ``height``.

    One colour needs zero bits a pixel, so the same bitstream decodes at any size:
    a valid image of ``width`` x ``height`` in about a hundred bytes.
    """
    data = bytearray(
        imagegen.encoded(Image.new("RGB", (16, 16), (10, 20, 30)), "WEBP", lossless=True)
    )
    at = data.find(b"VP8L")
    assert at > 0 and data[at + 8] == 0x2F, "expected a simple VP8L file"
    bits = struct.unpack_from("<I", data, at + 9)[0]
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    struct.pack_into("<I", data, at + 9, bits)
    return bytes(data)


def webp_vp8x_canvas(width: int, height: int) -> bytes:
    """A WebP with a VP8X header declaring a ``width`` x ``height`` canvas (24-bit fields)."""
    inner = imagegen.encoded(Image.new("RGB", (16, 16), "red"), "WEBP")[12:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    payload = b"WEBP" + vp8x + inner
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def tiff(
    width: int, height: int, strip: bytes, compression: int = 1, bits: int = 8, photometric=1
) -> bytes:
    """A little-endian one-strip greyscale TIFF with the given dimensions and strip."""
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, bits),
        (259, 3, 1, compression),
        (262, 3, 1, photometric),
        (273, 4, 1, 0),  # strip offset, patched below
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, len(strip)),
    ]
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = ifd_offset + ifd_size
    out = b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        if tag == 273:
            value = strip_offset
        packed = struct.pack("<HHI", tag, kind, count)
        packed += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
        out += packed
    return out + b"\x00\x00\x00\x00" + strip


def bmp_header(width: int, height: int, bits: int = 24, compression: int = 0) -> bytes:
    """A BITMAPINFOHEADER BMP declaring ``width`` x ``height`` and no pixel data."""
    palette = b"\x00\x00\x00\x00\xff\xff\xff\x00" * 128 if bits == 8 else b""
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, compression, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", offset + 16, 0, 0, offset) + info + palette + b"\0" * 16


def bmp_rle8_bomb(side: int) -> bytes:
    """An RLE8 BMP of ``side`` x ``side``: runs of 255 pixels in two bytes each."""
    row = b"\xff\x01" * (side // 255) + bytes([side % 255, 1]) + b"\x00\x00"
    pixels = row * side + b"\x00\x01"
    header = bytearray(bmp_header(side, side, bits=8, compression=1)[:-16])
    struct.pack_into("<I", header, 2, len(header) + len(pixels))
    struct.pack_into("<I", header, 34, len(pixels))
    return bytes(header) + pixels


def isobmff_with_dimensions(data: bytes, width: int, height: int) -> bytes:
    """A HEIF/AVIF file whose every ``ispe`` (image spatial extent) box declares a new size."""
    out = bytearray(data)
    at = out.find(b"ispe")
    while at != -1:
        struct.pack_into(">II", out, at + 8, width, height)
        at = out.find(b"ispe", at + 4)
    return bytes(out)


def zip_archive(name: str, payload: bytes) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, payload)
    return buffer.getvalue()


HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
ZIP = zip_archive("evil.class", b"\xca\xfe\xba\xbe" + b"\x00" * 64)


def jpeg_with_comment(comment: bytes) -> bytes:
    data = VALID["jpeg"]
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


XXE_SVG = (
    b'<?xml version="1.0"?>\n'
    b'<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
    b'<!ENTITY remote SYSTEM "http://169.254.169.254/latest/meta-data/">]>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<text>&xxe;&remote;</text></svg>"
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
        for i in range(1, 10)
    )
    + b']><svg xmlns="http://www.w3.org/2000/svg">&lol9;</svg>'
)
DOS_EPS = (
    b"\xc5\xd0\xd3\xc6"
    + struct.pack("<IIIIII", 30, len(imagegen.EPS), 0, 0, 0, 0)
    + b"\xff\xff"
    + imagegen.EPS
)


# -- the cases --------------------------------------------------------------------------


def _bombs() -> Iterator[Case]:
    yield Case(
        "png 100000x100000 header", "bomb", submission(imagegen.png_header_bomb()), TOO_LARGE
    )
    yield Case(
        "png 20000x20000 header (sides ok, pixels not)",
        "bomb",
        submission(imagegen.png_header_bomb(20_000, 20_000)),
        TOO_LARGE,
    )
    yield Case(
        "png 10000x10000 deep deflate (in limits)",
        "bomb",
        submission(png_deep_compression(10_000)),
        TOO_LARGE,
    )
    yield Case("png 100 zTXt chunks of 1 MB", "bomb", submission(png_ztxt_bomb(100)), CORRUPT)
    yield Case(
        "png iCCP inflating to 64 MB", "bomb", submission(png_iccp_bomb()), CORRUPT_OR_DECODED
    )
    yield Case("apng acTL 2e9 frames", "bomb", submission(apng_frame_bomb()), TOO_LARGE | CORRUPT)
    yield Case(
        "gif screen 65535x65535", "bomb", submission(gif((65535, 65535), [(1, 1)])), TOO_LARGE
    )
    yield Case(
        "gif 1x1 screen, 2nd frame 10000x10000",
        "bomb",
        submission(
            gif((1, 1), [(1, 1), (10_000, 10_000)]),
            options=json.dumps(
                {
                    "renditions": [
                        {"name": "a", "width": 64, "format": "gif", "keep_animation": True}
                    ]
                }
            ),
        ),
        TOO_LARGE,
    )
    yield Case("gif 50000 frames", "bomb", submission(gif_many_frames(50_000)), TOO_LARGE)
    yield Case(
        "jpeg SOF 65500x65500", "bomb", submission(jpeg_with_dimensions(65_500, 65_500)), TOO_LARGE
    )
    # Within the pixel limit, and a baseline JPEG decodes at the outputs' scale (1/4
    # here), so it is no bomb; libjpeg fills the missing data with grey.
    yield Case(
        "jpeg SOF 10000x10000, no data",
        "bomb",
        submission(jpeg_with_dimensions(10_000, 10_000)),
        TOO_LARGE | CORRUPT | COMPLETED,
    )
    yield Case(
        "jpeg progressive 8000x8000 (in limits)",
        "bomb",
        submission(jpeg_progressive(8000)),
        TOO_LARGE,
    )
    yield Case(
        "webp VP8X canvas 16777216^2",
        "bomb",
        submission(webp_vp8x_canvas(1 << 24, 1 << 24)),
        TOO_LARGE | CORRUPT,
    )
    yield Case(
        "webp lossless 16384x16384 in 100 bytes",
        "bomb",
        submission(webp_lossless_with_dimensions(16_384, 16_384)),
        TOO_LARGE,
    )
    yield Case(
        "webp lossless 10000x10000 in 100 bytes (in limits)",
        "bomb",
        submission(webp_lossless_with_dimensions(10_000, 10_000)),
        TOO_LARGE,
    )
    yield Case(
        "tiff 100000x100000 header",
        "bomb",
        submission(tiff(100_000, 100_000, b"\x00" * 64)),
        TOO_LARGE,
    )
    yield Case(
        "tiff 10000x10000 deflate strip (in limits)",
        "bomb",
        submission(tiff(10_000, 10_000, deflated_zeros(100_000_000), compression=8)),
        TOO_LARGE,
    )
    yield Case(
        "bmp 100000x100000 header", "bomb", submission(bmp_header(100_000, 100_000)), TOO_LARGE
    )
    yield Case(
        "bmp negative height -2^31",
        "bomb",
        submission(bmp_header(16, -(2**31))),
        TOO_LARGE | CORRUPT,
    )
    yield Case(
        "bmp rle8 10000x10000 (in limits)",
        "bomb",
        submission(bmp_rle8_bomb(10_000)),
        TOO_LARGE,
    )
    yield Case(
        "heic ispe 100000x100000",
        "bomb",
        submission(isobmff_with_dimensions(VALID["heic"], 100_000, 100_000)),
        TOO_LARGE | CORRUPT,
    )
    yield Case(
        "avif ispe 100000x100000",
        "bomb",
        submission(isobmff_with_dimensions(VALID["avif"], 100_000, 100_000)),
        TOO_LARGE | CORRUPT,
    )


def _broken_files() -> Iterator[Case]:
    for fmt, data in VALID.items():
        yield Case(
            f"{fmt} truncated at half", "truncated", submission(data[: len(data) // 2]), CORRUPT
        )
        yield Case(f"{fmt} header only (40 bytes)", "truncated", submission(data[:40]), CORRUPT)
        # Pillow does not check IDAT CRCs, and most codecs decode noise into noise.
        yield Case(
            f"{fmt} middle third random", "corrupt", submission(corrupted(data)), CORRUPT_OR_DECODED
        )
    yield Case(
        "png IHDR bit depth 3",
        "corrupt",
        submission(png((8, 8, 3, 2), zlib.compress(b""))),
        CORRUPT,
    )
    yield Case("png 0x0", "corrupt", submission(png((0, 0, 8, 2), zlib.compress(b""))), CORRUPT)
    yield Case("gif 0x0 screen and frame", "corrupt", submission(gif((0, 0), [(0, 0)])), CORRUPT)
    yield Case(
        "jpeg SOF 0x0", "corrupt", submission(jpeg_with_dimensions(0, 0)), CORRUPT | TOO_LARGE
    )
    yield Case(
        "tiff ifd loop", "corrupt", submission(b"II*\x00\x08\x00\x00\x00" + b"\x00" * 8), CORRUPT
    )
    yield Case("magic bytes only (png)", "truncated", submission(PNG_SIGNATURE), CORRUPT)


def _disguises() -> Iterator[Case]:
    yield Case(
        "jpeg + zip appended",
        "polyglot",
        submission(VALID["jpeg"] + ZIP),
        COMPLETED,
        forbidden_in_outputs=(b"PK\x03\x04", b"evil.class"),
    )
    yield Case(
        "jpeg with html in a COM segment",
        "polyglot",
        submission(jpeg_with_comment(HTML)),
        COMPLETED,
        forbidden_in_outputs=(b"<script>",),
    )
    yield Case(
        "gifar (gif + jar)",
        "polyglot",
        submission(VALID["gif"] + ZIP, filename="a.gif"),
        COMPLETED,
        forbidden_in_outputs=(b"PK\x03\x04",),
    )
    png_html = VALID["png"][:33] + png_chunk(b"tEXt", b"Comment\x00" + HTML) + VALID["png"][33:]
    yield Case(
        "png with html tEXt + zip",
        "polyglot",
        submission(png_html + ZIP),
        COMPLETED,
        forbidden_in_outputs=(b"<script>", b"PK\x03\x04"),
    )
    yield Case(
        "zip with a jpeg inside",
        "polyglot",
        submission(ZIP + VALID["jpeg"]),
        http(415, "unsupported_image"),
    )
    yield Case(
        "html then jpeg",
        "polyglot",
        submission(HTML + VALID["jpeg"]),
        http(415, "unsupported_image"),
    )
    yield Case(
        "jpeg magic then pdf", "polyglot", submission(b"\xff\xd8\xff\xe0" + imagegen.PDF), CORRUPT
    )
    yield Case(
        "svg with XXE",
        "vector",
        submission(XXE_SVG, filename="a.svg", image_type="image/svg+xml"),
        http(415, "unsupported_image"),
    )
    yield Case(
        "svg billion laughs",
        "vector",
        submission(BILLION_LAUGHS, filename="a.svg"),
        http(415, "unsupported_image"),
    )
    yield Case(
        "svg, gzipped (svgz)",
        "vector",
        submission(zlib.compress(XXE_SVG)),
        http(415, "unsupported_image"),
    )
    yield Case(
        "eps", "vector", submission(imagegen.EPS, filename="a.eps"), http(415, "unsupported_image")
    )
    yield Case(
        "eps, DOS binary header",
        "vector",
        submission(DOS_EPS, filename="a.eps"),
        http(415, "unsupported_image"),
    )
    yield Case(
        "pdf", "vector", submission(imagegen.PDF, filename="a.pdf"), http(415, "unsupported_image")
    )
    yield Case(
        "postscript named .jpg",
        "vector",
        submission(b"%!PS-Adobe-3.0\n0 0 moveto showpage\n"),
        http(415, "unsupported_image"),
    )
    others = {
        "ico": imagegen.encoded(Image.new("RGB", (16, 16)), "ICO"),
        "psd header": b"8BPS\x00\x01" + b"\x00" * 64,
        "jpeg2000": imagegen.encoded(Image.new("RGB", (16, 16)), "JPEG2000"),
        "pcx": imagegen.encoded(Image.new("RGB", (16, 16)), "PCX"),
        "tga": imagegen.encoded(Image.new("RGB", (16, 16)), "TGA"),
        "qoi": imagegen.encoded(Image.new("RGB", (16, 16)), "QOI"),
        "elf binary": b"\x7fELF\x02\x01\x01" + b"\x00" * 64,
    }
    for name, data in others.items():
        yield Case(
            f"{name} (not allowed)", "format", submission(data), http(415, "unsupported_image")
        )


def _sizes() -> Iterator[Case]:
    yield Case("zero-byte image", "size", submission(b""), http(400, "missing_field"))
    yield Case("zero-byte body", "size", b"", http(400, "invalid_request"))
    yield Case(
        "body 10x the limit",
        "size",
        submission(b"\xff\xd8\xff" + bytes(10 * UPLOAD_LIMIT)),
        http(413, "upload_too_large"),
    )
    yield Case(
        "body 1 byte over the limit",
        "size",
        submission(b"\xff\xd8\xff" + bytes(UPLOAD_LIMIT - 200)),
        http(413, "upload_too_large"),
    )


def _multipart() -> Iterator[Case]:
    image = VALID["png"]
    good = submission(image)
    yield Case(
        "no boundary parameter",
        "multipart",
        good,
        http(400, "invalid_request"),
        content_type="multipart/form-data",
    )
    yield Case(
        "empty boundary",
        "multipart",
        good,
        http(400, "invalid_request"),
        content_type="multipart/form-data; boundary=",
    )
    yield Case(
        "boundary mismatch",
        "multipart",
        good,
        http(400, "invalid_request"),
        content_type="multipart/form-data; boundary=other",
    )
    long_boundary = "b" * 5000
    yield Case(
        "5000-char boundary",
        "multipart",
        submission(image).replace(BOUNDARY.encode(), long_boundary.encode()),
        http(400, "invalid_request"),
        content_type=f"multipart/form-data; boundary={long_boundary}",
    )
    yield Case(
        "duplicate text field",
        "multipart",
        multipart(part("image", image, "a.png"), part("text", b"a"), part("text", b"b")),
        http(400, "invalid_request"),
    )
    yield Case(
        "duplicate image field",
        "multipart",
        multipart(part("image", image, "a.png"), part("image", image, "b.png"), part("text", b"a")),
        http(400, "invalid_request"),
    )
    yield Case(
        "no closing boundary",
        "multipart",
        multipart(part("image", image, "a.png"), part("text", b"a"), close=False),
        http(400, "invalid_request"),
    )
    yield Case(
        "body cut inside a part", "multipart", good[: len(good) // 2], http(400, "invalid_request")
    )
    yield Case(
        "part header of 1 MB",
        "multipart",
        multipart(
            part("image", image, "a.png", headers=b"X-Junk: " + b"j" * (1 << 20) + b"\r\n"),
            part("text", b"a"),
        ),
        http(400, "invalid_request"),
    )
    yield Case(
        "100000 header lines",
        "multipart",
        multipart(part("image", image, "a.png", headers=b"X: y\r\n" * 100_000), part("text", b"a")),
        http(400, "invalid_request"),
    )
    yield Case(
        "5000 parts",
        "multipart",
        multipart(
            part("image", image, "a.png"),
            part("text", b"a"),
            *(part(f"f{i}", b"x") for i in range(5000)),
        ),
        http(400, "invalid_request"),
    )
    yield Case(
        "part without a name",
        "multipart",
        multipart(part(None, image, "a.png"), part("text", b"a")),
        http(400, "invalid_request"),
    )
    yield Case(
        "part without Content-Disposition",
        "multipart",
        multipart(b"Content-Type: image/png\r\n\r\n" + image, part("text", b"a")),
        http(400, "invalid_request"),
    )
    yield Case(
        "header line without a colon",
        "multipart",
        multipart(part("image", image, "a.png", headers=b"no colon here\r\n"), part("text", b"a")),
        http(400, "invalid_request"),
    )
    yield Case(
        "image as a plain field",
        "multipart",
        multipart(part("image", image), part("text", b"a")),
        http(400, "invalid_request"),
    )
    yield Case("only the closing boundary", "multipart", multipart(), http(400, "missing_field"))
    yield Case(
        "no text field", "multipart", submission(image, text=None), http(400, "missing_field")
    )
    yield Case(
        "garbage body", "multipart", random.Random(5).randbytes(4096), http(400, "invalid_request")
    )
    yield Case(
        "LF-only line ends", "multipart", good.replace(b"\r\n", b"\n"), http(400, "invalid_request")
    )
    yield Case(
        "NUL in a header name",
        "multipart",
        multipart(part("image", image, "a.png", headers=b"X-\x00: 1\r\n"), part("text", b"a")),
        http(400, "invalid_request"),
    )
    yield Case(
        "name with quotes and CRLF",
        "multipart",
        multipart(part('image"; filename="x', image, "a.png"), part("text", b"a")),
        # Read as name="image" with a filename: a plain, valid submission.
        http(400, "invalid_request") | http(400, "missing_field") | COMPLETED,
    )


def _text() -> Iterator[Case]:
    image = VALID["png"]
    for label, raw in (
        ("latin-1 byte", b"caf\xe9"),
        ("overlong slash", b"\xc0\xaf"),
        ("utf-8 surrogate", b"\xed\xa0\x80"),
        ("truncated sequence", b"ab\xe2\x82"),
        ("utf-16 with BOM", "hello".encode("utf-16")),
    ):
        yield Case(f"text {label}", "text", submission(image, text=raw), http(400, "invalid_text"))
    for label, value in (
        ("NUL", "a\x00b"),
        ("ESC sequence", "\x1b[31mred"),
        ("DEL", "a\x7f"),
        ("C1 NEL", "a\x85b"),
        ("C1 CSI", "a\x9b31m"),
    ):
        yield Case(
            f"text {label}", "text", submission(image, text=value), http(400, "invalid_text")
        )
    yield Case("text bare CR (a line end)", "text", submission(image, text="a\rb"), COMPLETED)
    yield Case(
        "text one char over",
        "text",
        submission(image, text="a" * (TEXT_LIMIT + 1)),
        http(413, "text_too_long"),
    )
    yield Case(
        "text 1 MB", "text", submission(image, text="a" * (1 << 20)), http(413, "text_too_long")
    )
    # Hard but legitimate text: accepted, and the caption drawing must cope.
    yield Case(
        "text 2000 combining marks",
        "text",
        submission(image, text="a" + "\u0301" * (TEXT_LIMIT - 1)),
        COMPLETED,
    )
    yield Case(
        "text one 2000-char word", "text", submission(image, text="W" * TEXT_LIMIT), COMPLETED
    )
    yield Case(
        "text 2000 emoji and RTL override",
        "text",
        submission(image, text=("\u202e😀" * 1000)),
        COMPLETED,
    )
    yield Case("text 2000 newlines", "text", submission(image, text="\n" * TEXT_LIMIT), COMPLETED)


def _options() -> Iterator[Case]:
    image = VALID["png"]
    bad = {
        "not json": "{renditions:",
        "json array": "[1,2]",
        "json string": '"x"',
        "NaN": '{"caption": {"size": NaN}}',
        "1e400": '{"caption": {"size": 1e400}}',
        "5000-digit integer": '{"caption": {"size": ' + "9" * 5000 + "}}",
        "10000 nested arrays": "[" * 10_000 + "]" * 10_000,
        "10000 nested objects": '{"a":' * 10_000 + "1" + "}" * 10_000,
        "100 KB": json.dumps({"renditions": [], "pad": "x" * 100_000}),
        "unknown key": '{"renditions": [], "shell": "rm -rf /"}',
        "nine renditions": json.dumps(
            {"renditions": [{"name": f"r{i}", "width": 8} for i in range(9)]}
        ),
        "width as string": '{"renditions": [{"name": "a", "width": "512"}]}',
        "width true": '{"renditions": [{"name": "a", "width": true}]}',
        "negative width": '{"renditions": [{"name": "a", "width": -1}]}',
        "width 2^64": '{"renditions": [{"name": "a", "width": 18446744073709551616}]}',
        "path in name": '{"renditions": [{"name": "../../x", "width": 8}]}',
        "reserved name": '{"renditions": [{"name": "captioned", "width": 8}]}',
        "format bmp": '{"renditions": [{"name": "a", "width": 8, "format": "bmp"}]}',
        "too many megapixels": json.dumps(
            {"renditions": [{"name": f"r{i}", "width": 4096, "height": 4096} for i in range(4)]}
        ),
        "keep_animation on jpeg": (
            '{"renditions": [{"name": "a", "width": 8, "keep_animation": true}]}'
        ),
        "duplicate names": '{"renditions": [{"name": "a", "width": 8}, {"name": "a", "width": 9}]}',
        "caption a string": '{"caption": "bottom"}',
        "color injection": '{"caption": {"color": "#fff; rm -rf /"}}',
        "duplicate keys": '{"caption": {"size": 64}, "caption": {"size": 99999}}',
        "reserved name with a newline": '{"renditions": [{"name": "captioned\\n", "width": 8}]}',
        "name with a trailing newline": '{"renditions": [{"name": "thumb\\n", "width": 8}]}',
        "colour with a trailing newline": '{"caption": {"color": "#ffffff\\n#"}}',
        "lone surrogate in a name": '{"renditions": [{"name": "\\ud800", "width": 8}]}',
        "lone surrogate as a key": '{"\\udc00": 1}',
    }
    for label, raw in bad.items():
        yield Case(
            f"options {label}",
            "options",
            submission(image, options=raw),
            http(422, "invalid_options"),
        )
    yield Case(
        "options not utf-8",
        "options",
        submission(image, options=b'{"caption": "\xff"}'),
        http(422, "invalid_options"),
    )
    yield Case(
        "options 2 MB",
        "options",
        submission(image, options="{" + " " * (2 << 20) + "}"),
        http(422, "invalid_options"),
    )
    # Valid but as much work as the options allow, on a tiny picture: upscaling "fill".
    over = {
        "renditions": [
            {"name": "a", "width": 4096, "height": 4096, "fit": "fill", "format": "png"},
            {"name": "b", "width": 4096, "height": 2048, "fit": "fill", "format": "webp"},
        ],
        "caption": {"size": 4096, "format": "png"},
    }
    yield Case(
        "options: 42 output megapixels (over the 32 MP cap)",
        "options",
        submission(image, options=json.dumps(over)),
        http(422, "invalid_options"),
    )
    large = {
        "renditions": [
            {"name": "a", "width": 2048, "height": 2048, "fit": "fill", "format": "png"},
            {"name": "b", "width": 2048, "height": 1024, "fit": "fill", "format": "webp"},
        ],
        "caption": {"size": 1024, "format": "png"},
    }
    yield Case(
        "options: large but allowed work on a 96x64 image",
        "options",
        submission(image, options=json.dumps(large)),
        COMPLETED,
    )


def _names_and_types() -> Iterator[Case]:
    image = VALID["jpeg"]
    for label, name in (
        ("../../etc/passwd", "../../etc/passwd"),
        ("windows path", "..\\..\\windows\\win.ini"),
        ("absolute", "/etc/shadow"),
        ("NUL byte", b"photo.jpg\x00.php"),
        ("10000 chars", "x" * 10_000 + ".jpg"),
        ("RTL override", "photo\u202egpj.exe"),
        ("emoji", "😀📷.jpg"),
        ("CRLF injection", b"a.jpg\r\nX-Injected: 1"),
        ("invalid utf-8", b"\xff\xfe.jpg"),
        ("empty", ""),
    ):
        expect = COMPLETED
        if label == "10000 chars":
            # python-multipart caps a header line; no file system takes such a name anyway.
            expect = http(400, "invalid_request")
        if label == "CRLF injection":
            # The CRLF ends the header line early: the rest is a malformed header.
            expect = COMPLETED | http(400, "invalid_request")
        yield Case(f"filename {label}", "filename", submission(image, filename=name), expect)
    yield Case(
        "jpeg sent as text/html",
        "content-type",
        submission(image, image_type="text/html"),
        COMPLETED,
    )
    yield Case(
        "jpeg sent as image/svg+xml",
        "content-type",
        submission(image, image_type="image/svg+xml"),
        COMPLETED,
    )
    yield Case(
        "png sent without a part type",
        "content-type",
        submission(VALID["png"], image_type=None),
        COMPLETED,
    )
    yield Case(
        "svg sent as image/png",
        "content-type",
        submission(XXE_SVG, filename="a.png", image_type="image/png"),
        http(415, "unsupported_image"),
    )
    good = submission(image)
    yield Case(
        "no Content-Type header",
        "content-type",
        good,
        http(415, "unsupported_media_type") | http(400, "invalid_request"),
        content_type=None,
    )
    yield Case(
        "text/plain body",
        "content-type",
        good,
        http(415, "unsupported_media_type"),
        content_type="text/plain",
    )
    yield Case(
        "multipart/mixed",
        "content-type",
        good,
        http(415, "unsupported_media_type"),
        content_type=f"multipart/mixed; boundary={BOUNDARY}",
    )
    yield Case(
        "application/json with multipart body",
        "content-type",
        good,
        http(400, "invalid_request"),
        content_type="application/json",
    )
    yield Case(
        "urlencoded",
        "content-type",
        b"text=hello&image=%FF%D8",
        http(400, "missing_field"),
        content_type="application/x-www-form-urlencoded",
    )
    yield Case(
        "image/jpeg raw body",
        "content-type",
        image,
        http(415, "unsupported_media_type"),
        content_type="image/jpeg",
    )
    yield Case(
        "json: upload_id path traversal",
        "json",
        json.dumps({"upload_id": "../../etc/passwd", "text": "x"}).encode(),
        http(422, "upload_not_found"),
        content_type="application/json",
    )
    yield Case(
        "json: upload_id a list",
        "json",
        json.dumps({"upload_id": ["a"], "text": "x"}).encode(),
        http(400, "invalid_request"),
        content_type="application/json",
    )
    yield Case(
        "json: 100000 nested arrays",
        "json",
        b"[" * 50_000 + b"]" * 50_000,
        http(400, "invalid_request") | http(413, "upload_too_large"),
        content_type="application/json",
    )
    yield Case(
        "json: 5000 nested objects in options",
        "json",
        b'{"upload_id": "'
        + b"0" * 32
        + b'", "text": "x", "options": '
        + b'{"a":' * 5_000
        + b"1"
        + b"}" * 5_001,
        http(400, "invalid_request"),
        content_type="application/json",
    )
    yield Case(
        "json: a lone surrogate in the text",
        "json",
        b'{"upload_id": "' + b"0" * 32 + b'", "text": "\\ud800 lone"}',
        http(400, "invalid_request"),
        content_type="application/json",
    )
    yield Case(
        "json: a lone surrogate as a key",
        "json",
        b'{"\\udfff": 1, "upload_id": "' + b"0" * 32 + b'", "text": "x"}',
        http(400, "invalid_request"),
        content_type="application/json",
    )
    yield Case(
        "json: UTF-16 encoded body",
        "json",
        json.dumps({"upload_id": "0" * 32, "text": "x"}).encode("utf-16"),
        http(400, "invalid_request"),
        content_type="application/json",
    )
    yield Case(
        "json: NaN in options",
        "json",
        b'{"upload_id": "' + b"0" * 32 + b'", "text": "x", "options": {"caption": NaN}}',
        http(400, "invalid_request"),
        content_type="application/json",
    )
    yield Case(
        "json: upload_id with a trailing newline",
        "json",
        json.dumps({"upload_id": "0" * 32 + "\n", "text": "x"}).encode(),
        http(422, "upload_not_found"),
        content_type="application/json",
    )
    yield Case(
        "json: 100 KB body",
        "json",
        json.dumps({"upload_id": "0" * 32, "text": "x" * 100_000}).encode(),
        http(413, "upload_too_large"),
        content_type="application/json",
    )


GROUPS: tuple[Callable[[], Iterator[Case]], ...] = (
    _bombs,
    _broken_files,
    _disguises,
    _sizes,
    _multipart,
    _text,
    _options,
    _names_and_types,
)


def build_corpus() -> list[Case]:
    """Every case, in a stable order (memory-exempt ones last); names are unique.

    A pool process keeps some of the memory a heavy job took, so the exempt cases
    run last where they cannot raise the peaks measured for the others.
    """
    cases = [case for group in GROUPS for case in group()]
    cases.sort(key=lambda case: bool(case.memory_exempt))
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases
