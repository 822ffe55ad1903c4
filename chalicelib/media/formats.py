"""Every image format the service reads or writes, and what is true of each: two tables.

``INPUT_FORMATS``: what a source may be, how its bytes are recognised (``sniff``, the
one sniffer of the API, the worker and the client) and which Pillow plugins open it.
``OUTPUT_FORMATS``: what outputs may be. The intake, the options schema, the OpenAPI
document, the worker's opener and encoder, the output keys and the docs all read
these tables (the cost model its weights); adding an output format is one entry in
``OUTPUT_FORMATS`` plus its encoder settings in ``worker/imaging/encode.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputFormat:
    """A format sources may be in."""

    name: str  # what the service reports ("jpeg")
    mime: str  # the Content-Type a source is stored with
    pillow: tuple[str, ...]  # Pillow's names for it; the first is the plugin that opens it
    signatures: tuple[bytes, ...] = ()  # how the file starts
    riff_form: bytes = b""  # a RIFF container's form type (WebP)
    brands: tuple[bytes, ...] = ()  # ISO BMFF ftyp brands (HEIF, AVIF)
    upload_mimes: tuple[str, ...] = ()  # other content types a presigned upload may declare
    # The cost model's weight (chalicelib/media/cost.py): ms of one reference core to decode a
    # megapixel, measured with ``python -m bench.encoders``.
    decode_ms_per_mp: float = 90.0


INPUT_FORMATS: dict[str, InputFormat] = {
    f.name: f
    for f in (
        # MPO is how Pillow opens the multi-picture JPEGs phones write; to a client it
        # is a JPEG, and it has no opener of its own (the JPEG plugin hands over).
        InputFormat(
            "jpeg",
            "image/jpeg",
            ("JPEG", "MPO"),
            (b"\xff\xd8\xff",),
            upload_mimes=("image/jpg",),
            decode_ms_per_mp=4.0,
        ),
        # PNG: the worker's decode (pre-check, libspng, the working mode), CPU per MP,
        # ``python -m bench.png_decode`` (two runs): 17-19 whole (3 MP photo), 21-24 in
        # bands shrunk by 3 (100 MP RGBA); Pillow and its completeness check, for what
        # libspng does not take (palettes, 16 bits, damaged files): 32-35. It was 28
        # (Pillow's decode alone, python -m bench.encoders).
        InputFormat("png", "image/png", ("PNG",), (b"\x89PNG\r\n\x1a\n",), decode_ms_per_mp=24.0),
        InputFormat("gif", "image/gif", ("GIF",), (b"GIF87a", b"GIF89a"), decode_ms_per_mp=6.0),
        InputFormat("webp", "image/webp", ("WEBP",), riff_form=b"WEBP", decode_ms_per_mp=18.0),
        InputFormat("bmp", "image/bmp", ("BMP",), (b"BM",), decode_ms_per_mp=2.0),
        # BigTIFF (II+ / MM+, 64-bit offsets) is a TIFF too.
        InputFormat(
            "tiff",
            "image/tiff",
            ("TIFF",),
            (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
            decode_ms_per_mp=2.0,
        ),
        # AVIF before HEIF: an AVIF file may name a HEIF brand (mif1) first.
        InputFormat(
            "avif", "image/avif", ("AVIF",), brands=(b"avif", b"avis"), decode_ms_per_mp=46.0
        ),
        InputFormat(
            "heif",
            "image/heif",
            ("HEIF",),
            brands=(b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"),
            upload_mimes=("image/heic",),
            decode_ms_per_mp=90.0,
        ),
    )
}
INPUT_NAMES = tuple(INPUT_FORMATS)
#: What a presigned upload may declare as its content type (the bytes are checked later).
UPLOAD_MIMES = tuple(sorted({m for f in INPUT_FORMATS.values() for m in (f.mime, *f.upload_mimes)}))
#: Pillow format name -> the input format it reads.
BY_PILLOW_NAME = {name: f for f in INPUT_FORMATS.values() for name in f.pillow}


def sniff(data: bytes) -> InputFormat | None:
    """The input format ``data`` is in, from its first bytes alone; None if none."""
    if data[:4] == b"RIFF":
        return next((f for f in INPUT_FORMATS.values() if f.riff_form == data[8:12]), None)
    if data[4:8] == b"ftyp":
        size = int.from_bytes(data[:4], "big")
        box = data[8 : min(max(size, 16), 256)]
        # The major brand, then the compatible brands (the minor version sits between).
        brands = [box[:4]] + [box[i : i + 4] for i in range(8, len(box) - 3, 4)]
        for fmt in INPUT_FORMATS.values():
            if fmt.brands and any(b in fmt.brands for b in brands):
                return fmt
        return None
    return next(
        (f for f in INPUT_FORMATS.values() if f.signatures and data.startswith(f.signatures)),
        None,
    )


@dataclass(frozen=True)
class OutputFormat:
    """A format outputs can be written in."""

    name: str
    mime: str
    extension: str
    pillow: str  # Pillow's format name for ``Image.save``
    default_quality: int | None  # None: lossless, a given quality is ignored
    animatable: bool  # may keep every frame of an animated source
    caption: bool  # allowed for the captioned output
    # The cost model's weight: ms of one reference core to encode a megapixel with the
    # settings of worker/imaging/encode.py, measured with ``python -m bench.encoders``.
    encode_ms_per_mp: float
    # Keeps transparency; an output without it is flattened onto its background.
    alpha: bool = True

    @property
    def lossless(self) -> bool:
        return self.default_quality is None


OUTPUT_FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat(
            "jpeg", "image/jpeg", "jpg", "JPEG", 85, False, True, encode_ms_per_mp=3.0, alpha=False
        ),
        OutputFormat("png", "image/png", "png", "PNG", None, False, True, encode_ms_per_mp=320.0),
        OutputFormat("webp", "image/webp", "webp", "WEBP", 80, True, True, encode_ms_per_mp=200.0),
        OutputFormat("avif", "image/avif", "avif", "AVIF", 60, False, True, encode_ms_per_mp=580.0),
        OutputFormat("gif", "image/gif", "gif", "GIF", None, True, False, encode_ms_per_mp=370.0),
    )
}
OUTPUT_NAMES = tuple(OUTPUT_FORMATS)
CAPTION_OUTPUT_NAMES = tuple(f.name for f in OUTPUT_FORMATS.values() if f.caption)
ANIMATABLE_OUTPUT_NAMES = tuple(f.name for f in OUTPUT_FORMATS.values() if f.animatable)
