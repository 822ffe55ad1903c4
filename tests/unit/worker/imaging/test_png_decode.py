"""PNG through libspng behind the strict pre-check: the same pixels and the same outcomes
as Pillow's decode, damaged files left to Pillow, large ones decoded in bands."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from contextlib import nullcontext
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from chalicelib.core.errors import ImageTooLarge, ServiceError
from tests.support import iccgen, imagegen
from worker.imaging import png_decode, spng
from worker.imaging.png import ADAM7_PASSES, MAX_TEXT_CHUNK, precheck
from worker.imaging.process import ImageLimits, ImageReport, process_image
from worker.imaging.source import decode, open_source

LIMITS = ImageLimits(max_pixels=100_000_000, max_dimension=20_000, max_frames=50)
SIGNATURE = b"\x89PNG\r\n\x1a\n"
chunk = imagegen.png_chunk


def picture(mode: str, size: tuple[int, int] = (61, 47), seed: int = 1) -> Image.Image:
    """Noise with some structure (so every PNG filter is used) in ``mode``."""
    rng = np.random.default_rng(seed)
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    ramp = np.linspace(0, 255, size[0] * size[1]).reshape(size[1], size[0], 1)
    noise = rng.integers(0, 60, (size[1], size[0], bands))
    pixels = np.clip(ramp + noise, 0, 255).astype(np.uint8)
    if bands in (2, 4):
        pixels[..., -1] = rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)
        pixels[: size[1] // 3, :, -1] = 0  # fully transparent rows, their colour hidden
    return Image.fromarray(pixels[..., 0] if bands == 1 else pixels, mode)


def png(image: Image.Image, **params: Any) -> bytes:
    return imagegen.encoded(image, "PNG", **params)


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (kind, body) chunks of a PNG."""
    found, at = [], 8
    while at + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        found.append((kind, data[at + 8 : at + 8 + length]))
        at += 12 + length
    return found


def assemble(parts: list[tuple[bytes, bytes]]) -> bytes:
    return SIGNATURE + b"".join(chunk(kind, body) for kind, body in parts)


def with_chunk(data: bytes, kind: bytes, body: bytes, before: bytes = b"IDAT") -> bytes:
    """``data`` with a chunk inserted before the first ``before`` chunk."""
    parts = chunks(data)
    at = next(i for i, (k, _) in enumerate(parts) if k == before)
    return assemble([*parts[:at], (kind, body), *parts[at:]])


def run(data: bytes, options: Any = None, limits: ImageLimits = LIMITS) -> ImageReport:
    return process_image(data, "", options, limits, lambda _name: nullcontext())


def outcome(data: bytes, options: Any = None, limits: ImageLimits = LIMITS) -> str:
    try:
        report = run(data, options, limits)
    except ServiceError as error:
        return f"failed {error.code}"
    return "completed " + ",".join(f"{o.name}:{o.width}x{o.height}" for o in report.outputs)


def pillow_only() -> Any:
    """The worker as it was: every PNG decoded by Pillow (the fast path turned off)."""
    return mock.patch("worker.imaging.process.plan_png", return_value=None)


def both_decodes(data: bytes) -> tuple[Image.Image, Image.Image]:
    """(libspng's picture, Pillow's picture), each as the pipeline gets it."""
    fast = open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames)
    plan = png_decode.plan_png(fast, data, 0.0, 1)
    assert plan is not None and plan.reduction == 1
    ours = png_decode.decode_png(fast, data, plan, LIMITS.max_dimension)
    slow = open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames)
    return ours, decode(slow)


# --- the same pixels as Pillow's decode --------------------------------------------------


CLEAN = {
    "grey": lambda: png(picture("L")),
    "grey+alpha": lambda: png(picture("LA")),
    "rgb": lambda: png(picture("RGB")),
    "rgba": lambda: png(picture("RGBA")),
    "rgb interlaced": lambda: _interlaced("RGB"),
    "rgba interlaced": lambda: _interlaced("RGBA"),
    "rgb with a tRNS colour": lambda: png(picture("RGB"), transparency=(60, 61, 62)),
    "grey with a tRNS value": lambda: png(picture("L"), transparency=128),
    "rgb with an ICC profile": lambda: png(picture("RGB"), icc_profile=iccgen.rgb_profile(1.8)),
    "rgba with an ICC profile": lambda: png(picture("RGBA"), icc_profile=iccgen.rgb_profile(2.6)),
    "grey with an ICC profile": lambda: png(picture("L"), icc_profile=iccgen.grey_profile(1.5)),
    "rgb, EXIF orientation 6": lambda: png(picture("RGB"), exif=imagegen.exif_bytes(6)),
    "rgb, gamma 1.0 (not applied, as by Pillow)": lambda: with_chunk(
        png(picture("RGB")), b"gAMA", struct.pack(">I", 100000)
    ),
    "rgb, text before and after the pixels": lambda: _texts_around(png(picture("RGB"))),
    "1x1 rgba": lambda: png(picture("RGBA", (1, 1))),
    "palette": lambda: png(picture("RGB").quantize(200)),
    "palette with tRNS": lambda: png(picture("RGBA").quantize(100)),
    "palette of 3 colours, one transparent": lambda: _small_palette(3),
    "palette index past the palette": lambda: _small_palette(6),
}


def _small_palette(indices: int) -> bytes:
    """An 8-bit palette PNG of 3 colours whose pixels use indices 0 to ``indices`` - 1."""
    rows = b"".join(b"\x00" + bytes((x + y) % indices for x in range(13)) for y in range(7))
    header = struct.pack(">IIBBBBB", 13, 7, 8, 3, 0, 0, 0)
    return assemble(
        [
            (b"IHDR", header),
            (b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])),
            (b"tRNS", b"\xff\x00"),
            (b"IDAT", zlib.compress(rows)),
            (b"IEND", b""),
        ]
    )


def _interlaced(mode: str) -> bytes:
    """An Adam7 PNG of ``picture(mode)`` (Pillow does not write interlaced PNGs)."""
    image = picture(mode)
    pixels = np.asarray(image).reshape(image.height, image.width, -1)

    raw = bytearray()
    for x, y, dx, dy in ADAM7_PASSES:
        part = pixels[y::dy, x::dx]
        if part.size:
            for row in part:
                raw += b"\x00" + row.tobytes()
    colour = {"RGB": 2, "RGBA": 6}[mode]
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, colour, 0, 0, 1)
    return assemble([(b"IHDR", header), (b"IDAT", zlib.compress(bytes(raw))), (b"IEND", b"")])


def _texts_around(data: bytes) -> bytes:
    data = with_chunk(data, b"tEXt", b"Comment\x00before")
    data = with_chunk(data, b"zTXt", b"Note\x00\x00" + zlib.compress(b"after" * 100), b"IEND")
    return with_chunk(data, b"iTXt", b"Title\x00\x01\x00en\x00\x00" + zlib.compress(b"x"), b"IEND")


@pytest.mark.parametrize("make", CLEAN.values(), ids=CLEAN.keys())
def test_libspng_gives_pillows_pixels(make: Callable[[], bytes]) -> None:
    data = make()
    ours, pillows = both_decodes(data)
    assert ours.mode == pillows.mode
    assert ours.size == pillows.size
    assert np.array_equal(np.asarray(ours), np.asarray(pillows))


def test_the_interlaced_generator_really_interlaces() -> None:
    data = _interlaced("RGB")
    assert chunks(data)[0][1][12] == 1
    assert Image.open(io.BytesIO(data)).info.get("interlace") == 1


@pytest.mark.parametrize("make", CLEAN.values(), ids=CLEAN.keys())
def test_whole_jobs_are_the_same_with_either_decoder(make: Callable[[], bytes]) -> None:
    data = make()
    fast = run(data)
    with pillow_only():
        slow = run(data)
    assert fast.facts == slow.facts
    assert [o.data for o in fast.outputs] == [o.data for o in slow.outputs]


def test_a_clean_png_skips_the_second_inflation() -> None:
    # Before, every PNG's stream was inflated twice: by Pillow, then counted again.
    data = png(picture("RGBA", (300, 200)))
    with mock.patch("worker.imaging.process.check_complete") as check:
        run(data)
    check.assert_not_called()
    with pillow_only(), mock.patch("worker.imaging.process.check_complete") as check:
        run(data)
    check.assert_called_once()


PILLOWS = {
    "16-bit grey": lambda: png(Image.fromarray(np.arange(1200, dtype=np.uint16).reshape(30, 40))),
    "1-bit": lambda: png(picture("L").convert("1")),
    "16-bit rgba": lambda: _sixteen_bit_rgba(),
    "apng": lambda: imagegen.animated("PNG"),
}


def _sixteen_bit_rgba() -> bytes:
    rng = np.random.default_rng(2)
    samples = rng.integers(0, 65536, (9, 7, 4), dtype=np.uint16).astype(">u2").tobytes()
    rows = b"".join(b"\x00" + samples[i * 56 : (i + 1) * 56] for i in range(9))
    header = struct.pack(">IIBBBBB", 7, 9, 16, 6, 0, 0, 0)
    return assemble([(b"IHDR", header), (b"IDAT", zlib.compress(rows)), (b"IEND", b"")])


@pytest.mark.parametrize("make", PILLOWS.values(), ids=PILLOWS.keys())
def test_what_libspng_is_not_used_for_stays_pillows(make: Callable[[], bytes]) -> None:
    data = make()
    source = open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames)
    plan = png_decode.plan_png(source, data, 0.5, 1)
    layout = precheck(data)
    assert layout is not None  # clean files: left to Pillow for their layout only
    if layout.animated:
        assert plan is not None  # a still of an APNG: its default image, by libspng
        ours, pillows = both_decodes(data)
        assert np.array_equal(np.asarray(ours), np.asarray(pillows))
    else:
        assert plan is None
    assert outcome(data).startswith("completed")


# --- damaged files: the pre-check leaves them to Pillow, which says what it says --------


def _base() -> bytes:
    return png(picture("RGB", (40, 30)))


def _bad_crc(kind: bytes) -> bytes:
    data = _texts_around(_base())
    parts = chunks(data)
    out, at = bytearray(SIGNATURE), 8
    for k, body in parts:
        piece = chunk(k, body)
        if k == kind:
            piece = piece[:-4] + bytes([piece[-4] ^ 0xFF]) + piece[-3:]
        out += piece
        at += len(piece)
    return bytes(out)


def _split_idat(data: bytes, pieces: int = 3) -> list[tuple[bytes, bytes]]:
    parts = chunks(data)
    idat = b"".join(body for kind, body in parts if kind == b"IDAT")
    step = len(idat) // pieces + 1
    split = [(b"IDAT", idat[i : i + step]) for i in range(0, len(idat), step)]
    at = next(i for i, (k, _) in enumerate(parts) if k == b"IDAT")
    rest = [p for p in parts[at:] if p[0] != b"IDAT"]
    return [*parts[:at], *split, *rest]


def _half_rows() -> bytes:
    raw = b"".join(b"\x00" + bytes([200, 100, 50]) * 32 for _ in range(16))
    header = struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0)
    return assemble([(b"IHDR", header), (b"IDAT", zlib.compress(raw)), (b"IEND", b"")])


def _apng(parts_after_ihdr: list[tuple[bytes, bytes]]) -> bytes:
    base = chunks(_base())
    return assemble([base[0], *parts_after_ihdr])


def _fctl(sequence: int, size: tuple[int, int] = (40, 30), at: tuple[int, int] = (0, 0)) -> bytes:
    return struct.pack(">IIIIIHHBB", sequence, *size, *at, 1, 10, 0, 0)


def _idat() -> bytes:
    return b"".join(body for kind, body in chunks(_base()) if kind == b"IDAT")


def _fdat(sequence: int) -> bytes:
    return struct.pack(">I", sequence) + _idat()


DAMAGED = {
    "bad CRC in IDAT": lambda: _bad_crc(b"IDAT"),
    "bad CRC in a text chunk after the pixels": lambda: _bad_crc(b"zTXt"),
    "bad CRC in IHDR": lambda: _bad_crc(b"IHDR"),
    "no IEND": lambda: _base()[:-12],
    "IEND cut short": lambda: _base()[:-3],
    "IDAT cut short": lambda: _base()[: len(_base()) // 2],
    "half the rows": _half_rows,
    "zTXt inflating past Pillow's cap": lambda: with_chunk(
        _base(), b"zTXt", b"Big\x00\x00" + zlib.compress(b"A" * (MAX_TEXT_CHUNK + 10))
    ),
    "zTXt after the pixels inflating past the cap": lambda: with_chunk(
        _base(), b"zTXt", b"Big\x00\x00" + zlib.compress(b"A" * (MAX_TEXT_CHUNK + 10)), b"IEND"
    ),
    "iTXt after the pixels inflating past the cap": lambda: with_chunk(
        _base(),
        b"iTXt",
        b"Big\x00\x01\x00\x00\x00" + zlib.compress(b"A" * (MAX_TEXT_CHUNK + 10)),
        b"IEND",
    ),
    "zTXt of an unknown method": lambda: with_chunk(_base(), b"zTXt", b"K\x00\x05abc", b"IEND"),
    "pHYs after the pixels, too short": lambda: with_chunk(_base(), b"pHYs", b"\x00", b"IEND"),
    "another chunk between IDATs": lambda: assemble(
        [*(p := _split_idat(_base()))[:2], (b"tEXt", b"a\x00b"), *p[2:]]
    ),
    "tRNS before PLTE (an RGB image's suggested palette)": lambda: with_chunk(
        with_chunk(_base(), b"tRNS", b"\x00\x01\x00\x02\x00\x03"), b"PLTE", b"\x10\x20\x30"
    ),
    "APNG frame data without its fcTL": lambda: _apng(
        [
            (b"acTL", struct.pack(">II", 2, 0)),
            (b"fcTL", _fctl(0)),
            (b"IDAT", _idat()),
            (b"fdAT", _fdat(1)),
            (b"IEND", b""),
        ]
    ),
    "APNG sequence gap": lambda: _apng(
        [
            (b"acTL", struct.pack(">II", 2, 0)),
            (b"fcTL", _fctl(0)),
            (b"IDAT", _idat()),
            (b"fcTL", _fctl(2)),
            (b"fdAT", _fdat(3)),
            (b"IEND", b""),
        ]
    ),
    "APNG declaring more frames than it has": lambda: _apng(
        [
            (b"acTL", struct.pack(">II", 3, 0)),
            (b"fcTL", _fctl(0)),
            (b"IDAT", _idat()),
            (b"IEND", b""),
        ]
    ),
    "APNG frame outside the canvas": lambda: _apng(
        [
            (b"acTL", struct.pack(">II", 2, 0)),
            (b"fcTL", _fctl(0)),
            (b"IDAT", _idat()),
            (b"fcTL", _fctl(1, (40, 30), (5, 5))),
            (b"fdAT", _fdat(2)),
            (b"IEND", b""),
        ]
    ),
    "APNG acTL after the pixels": lambda: _apng(
        [(b"IDAT", _idat()), (b"acTL", struct.pack(">II", 1, 0)), (b"IEND", b"")]
    ),
    "APNG declaring zero frames": lambda: _apng(
        [(b"acTL", struct.pack(">II", 0, 0)), (b"IDAT", _idat()), (b"IEND", b"")]
    ),
    "random bytes in the middle, CRCs made right": lambda: _scrambled_stream(),
}


def _scrambled_stream() -> bytes:
    parts = _split_idat(png(picture("RGB", (200, 100))), 1)
    at = next(i for i, (k, _) in enumerate(parts) if k == b"IDAT")
    body = bytearray(parts[at][1])
    body[len(body) // 3 : len(body) // 2] = np.random.default_rng(4).bytes(
        len(body) // 2 - len(body) // 3
    )
    parts[at] = (b"IDAT", bytes(body))
    return assemble(parts)


@pytest.mark.parametrize("make", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_pngs_end_as_they_did_with_pillow(make: Callable[[], bytes]) -> None:
    data = make()
    with pillow_only():
        before = outcome(data)
    assert outcome(data) == before


REFUSED_BY_THE_PRECHECK = [
    name
    for name in DAMAGED
    if name not in ("half the rows", "random bytes in the middle, CRCs made right")
]


@pytest.mark.parametrize("name", REFUSED_BY_THE_PRECHECK)
def test_the_precheck_passes_no_damaged_file(name: str) -> None:
    assert precheck(DAMAGED[name]()) is None


@pytest.mark.parametrize("name", ["half the rows", "random bytes in the middle, CRCs made right"])
def test_damage_inside_the_stream_is_libspngs_to_find(name: str) -> None:
    data = DAMAGED[name]()
    assert precheck(data) is not None
    with pytest.raises(spng.SpngError):
        spng.decode(data)


def test_half_the_rows_is_refused_where_pillow_completed_it() -> None:
    data = _half_rows()
    Image.open(io.BytesIO(data)).load()  # Pillow: no error, the bottom half black
    assert outcome(data) == "failed corrupt_image"


def test_the_precheck_reads_the_layout() -> None:
    layout = precheck(png(picture("RGBA", (50, 20))))
    assert layout is not None
    assert (layout.width, layout.height, layout.depth, layout.colour) == (50, 20, 8, 6)
    assert not layout.interlaced and not layout.animated and not layout.transparent_colour
    assert precheck(_interlaced("RGB")).interlaced  # type: ignore[union-attr]
    assert precheck(png(picture("L"), transparency=3)).transparent_colour  # type: ignore[union-attr]


def test_anything_after_iend_is_ignored_as_by_every_decoder() -> None:
    data = _base() + b"PK\x03\x04 a zip"
    assert precheck(data) is not None
    ours, pillows = both_decodes(data)
    assert np.array_equal(np.asarray(ours), np.asarray(pillows))


def test_text_memory_over_pillows_cap_is_left_to_pillow() -> None:
    data = _base()
    for i in range(70):
        body = b"K%d\x00\x00" % i + zlib.compress(b"B" * (MAX_TEXT_CHUNK - 100))
        data = with_chunk(data, b"zTXt", body)
    assert precheck(data) is None


# --- large PNGs: decoded in bands, shrunk as they arrive ---------------------------------


def _smooth(mode: str, size: tuple[int, int], seed: int = 3) -> Image.Image:
    rng = np.random.default_rng(seed)
    bands = len(mode)
    field = rng.integers(0, 256, (6, 8, bands), dtype=np.uint8)
    small = Image.fromarray(field[..., 0] if bands == 1 else field, mode)
    image = small.resize(size, Image.Resampling.BICUBIC)
    pixels = np.asarray(image).copy()
    # hard edges and fine detail, which a box reduction and a seam would show
    pixels[size[1] // 3 : size[1] // 3 + 7] = 255
    pixels[:, size[0] // 5] = 0
    return Image.fromarray(pixels, mode)


@pytest.fixture
def small_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Banded decoding from 1 MP on, in bands of about 60000 pixels: the path of a
    100 MP PNG on pictures a test can afford."""
    monkeypatch.setattr(png_decode, "BANDED_MIN_PIXELS", 1_000_000)
    monkeypatch.setattr(png_decode, "BAND_PIXELS", 60_000)


def _plan(data: bytes, scale: float) -> png_decode.PngPlan | None:
    source = open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames)
    return png_decode.plan_png(source, data, scale, 1)


def test_band_sizes() -> None:
    assert png_decode.band_rows(10_000, 3) % 3 == 0
    assert png_decode.band_rows(10_000, 3) * 10_000 == pytest.approx(png_decode.BAND_PIXELS, 0.2)
    assert png_decode.band_rows(20_000, 40) == 40  # never less than one block


@pytest.mark.usefixtures("small_bands")
@pytest.mark.parametrize("mode", ["RGB", "L", "P"])
def test_opaque_bands_are_exactly_the_whole_pictures_reduction(mode: str) -> None:
    picture = _smooth("RGB", (1700, 1100)).quantize(64) if mode == "P" else None
    data = png(picture or _smooth(mode, (1700, 1100)))
    plan = _plan(data, 1280 / 1700 / 4)
    assert plan is not None and plan.reduction == 2 and plan.band_rows < 1100
    source = open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames)
    banded = png_decode.decode_png(source, data, plan, LIMITS.max_dimension)
    whole = decode(open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames))
    assert banded.mode == whole.mode == "RGB"
    assert np.array_equal(np.asarray(banded), np.asarray(whole.reduce(2)))


@pytest.mark.usefixtures("small_bands")
def test_bands_with_alpha_differ_by_a_rounding_at_most() -> None:
    data = png(_smooth("RGBA", (1600, 1000)))
    plan = _plan(data, 0.1)
    assert plan is not None and plan.reduction == 5
    source = open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames)
    banded = np.asarray(png_decode.decode_png(source, data, plan, LIMITS.max_dimension))
    whole = decode(open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames))
    expected = np.asarray(whole.reduce(5))
    assert banded.shape == expected.shape
    assert np.abs(banded.astype(int) - expected.astype(int)).max() <= 1


def _seen(data: bytes) -> np.ndarray:
    """An encoded output as it is seen: composited onto white (the colour under fully
    transparent pixels is no part of the picture)."""
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    white = Image.new("RGBA", image.size, "white")
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"), dtype=np.float64)


def _psnr(a: bytes, b: bytes) -> float:
    x, y = _seen(a), _seen(b)
    assert x.shape == y.shape
    error = np.mean((x - y) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255**2 / error))


@pytest.mark.usefixtures("small_bands")
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA"])
def test_banded_jobs_match_whole_decodes(mode: str) -> None:
    image = _smooth(mode, (1800, 1200))
    data = png(image, icc_profile=iccgen.rgb_profile(2.0)) if mode != "LA" else png(image)
    options = {
        "renditions": [
            {"name": "preview", "width": 400, "format": "jpeg"},
            {"name": "thumb", "width": 150, "format": "png"},
            {"name": "square", "width": 200, "height": 200, "fit": "cover", "format": "webp"},
        ]
    }
    spy_target = "worker.imaging.process.decode_png"
    with mock.patch(spy_target, wraps=png_decode.decode_png) as spy:
        banded = run(data, options)
    assert spy.call_args.args[2].reduction == 2
    with pillow_only():
        whole = run(data, options)
    for ours, theirs in zip(banded.outputs, whole.outputs, strict=True):
        assert (ours.width, ours.height, ours.crop) == (theirs.width, theirs.height, theirs.crop)
        assert _psnr(ours.data, theirs.data) > 40, ours.name
        if mode == "RGB" and ours.crop == (0, 0, 1800, 1200):
            # Opaque and uncropped: the same box reduction on the same grid, then the
            # same Lanczos pass (the reduced picture's exact scale is passed on).
            assert ours.data == theirs.data, ours.name
    same_facts = {k: v for k, v in banded.facts.items() if k not in ("phash", "dominant_colors")}
    assert same_facts == {k: v for k, v in whole.facts.items() if k in same_facts}
    distance = bin(int(banded.facts["phash"], 16) ^ int(whole.facts["phash"], 16)).count("1")
    assert distance <= 2
    assert len(banded.facts["dominant_colors"]) == len(whole.facts["dominant_colors"])


@pytest.mark.usefixtures("small_bands")
def test_a_large_png_costs_its_reduced_picture_in_the_budget() -> None:
    data = png(_smooth("RGBA", (1800, 1200)))
    whole_cost = 1800 * 1200 * 8
    tight = ImageLimits(100_000_000, 20_000, 50, max_decode_bytes=whole_cost // 2)
    small = {"renditions": [{"name": "small", "width": 400, "format": "jpeg"}]}
    # Before: refused, the whole picture did not fit.
    with pillow_only(), pytest.raises(ImageTooLarge, match="1800x1200 RGBA"):
        run(data, small, limits=tight)
    # Now: decoded at half size a side, in bands.
    assert outcome(data, small, limits=tight) == "completed small:400x267"
    # An output that needs the whole picture still needs the budget for it.
    full = {"renditions": [{"name": "big", "width": 1800, "format": "jpeg"}]}
    with pytest.raises(ImageTooLarge, match="1800x1200 RGBA"):
        run(data, full, limits=tight)


@pytest.mark.usefixtures("small_bands")
def test_a_large_png_libspng_refuses_falls_back_within_the_budget() -> None:
    raw_rows = 1200
    row = b"\x00" + bytes(range(256)) * 12  # 3072 bytes: 1024 RGB pixels
    raw = row * raw_rows
    header = struct.pack(">IIBBBBB", 1024, raw_rows * 2, 8, 2, 0, 0, 0)  # half the rows
    data = assemble([(b"IHDR", header), (b"IDAT", zlib.compress(raw)), (b"IEND", b"")])
    assert _plan(data, 0.1) is not None
    # Within the budget at full size: Pillow decodes it, the completeness check refuses it.
    assert outcome(data) == "failed corrupt_image"
    # Not within it: refused as too large, as before the banded decode.
    tight = ImageLimits(100_000_000, 20_000, 50, max_decode_bytes=1024 * 2400 * 8 // 2)
    with pillow_only():
        assert outcome(data, limits=tight) == "failed image_too_large"
    assert outcome(data, limits=tight) == "failed image_too_large"


def test_interlaced_and_small_pictures_decode_whole() -> None:
    assert png_decode.band_reduction(precheck(_interlaced("RGB")), 0.01) == 1  # type: ignore[arg-type]
    layout = precheck(png(picture("RGB", (300, 200))))
    assert layout is not None and png_decode.band_reduction(layout, 0.01) == 1


# --- the hostile corpus's PNGs: the same answers with either decoder ---------------------


@cache
def _hostile_pngs() -> dict[str, bytes]:
    from tests.hostile import corpus

    valid = corpus.VALID["png"]
    return {
        "deep deflate 10000x10000": corpus.png_deep_compression(10_000),
        "100 zTXt chunks of 1 MB": corpus.png_ztxt_bomb(100),
        "iCCP inflating to 64 MB": corpus.png_iccp_bomb(),
        "acTL 2e9 frames": corpus.apng_frame_bomb(),
        "truncated at half": valid[: len(valid) // 2],
        "header only": valid[:40],
        "middle third random": corpus.corrupted(valid),
        "IHDR bit depth 3": corpus.png((8, 8, 3, 2), zlib.compress(b"")),
        "0x0": corpus.png((0, 0, 8, 2), zlib.compress(b"")),
        "html tEXt + zip": valid[:33]
        + corpus.png_chunk(b"tEXt", b"Comment\x00" + corpus.HTML)
        + valid[33:]
        + corpus.ZIP,
        "valid": valid,
    }


HOSTILE_LIMITS = ImageLimits(100_000_000, 20_000, 200, max_decode_bytes=40 * 2**20)


@pytest.mark.parametrize("name", list(_hostile_pngs()))
def test_hostile_pngs_end_as_they_did_with_pillow(name: str) -> None:
    # The live stack's hostile test runs the worker with a 40 MiB decode budget.
    data = _hostile_pngs()[name]
    with pillow_only():
        before = outcome(data, limits=HOSTILE_LIMITS)
    assert outcome(data, limits=HOSTILE_LIMITS) == before


@pytest.mark.usefixtures("small_bands")
def test_a_banded_job_still_captions() -> None:
    data = png(_smooth("RGBA", (1800, 1200)))
    options = {
        "renditions": [{"name": "small", "width": 400, "format": "jpeg"}],
        "caption": {"size": 400},
    }
    banded = process_image(data, "Hello bands", options, LIMITS, lambda _n: nullcontext())
    with pillow_only():
        whole = process_image(data, "Hello bands", options, LIMITS, lambda _n: nullcontext())
    names = [o.name for o in banded.outputs]
    assert names == [o.name for o in whole.outputs] and len(names) == 2
    for ours, theirs in zip(banded.outputs, whole.outputs, strict=True):
        assert (ours.width, ours.height) == (theirs.width, theirs.height)
        assert _psnr(ours.data, theirs.data) > 40


# --- the peer corpus: nothing Pillow refuses passes, and libspng gives Pillow's pixels ---

CORPUS = Path(__file__).resolve().parents[4] / "tests" / "corpus"
CORPUS_PNGS = sorted(CORPUS.rglob("*.png"))


@pytest.mark.parametrize("path", CORPUS_PNGS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_pngs(path: Path) -> None:
    data = path.read_bytes()
    if precheck(data) is None:
        return  # Pillow's, as before (test_corpus holds its outcome)
    try:
        source = open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames)
        pillows = decode(source)
    except ServiceError as error:
        pytest.fail(f"the pre-check passed a file Pillow refuses: {error.code}")
    fast = open_source(data, LIMITS.max_pixels, LIMITS.max_dimension, LIMITS.max_frames)
    plan = png_decode.plan_png(fast, data, 0.0, 1)
    if plan is None:
        return  # a layout Pillow decodes
    try:
        ours = png_decode.decode_png(fast, data, plan, LIMITS.max_dimension)
    except spng.SpngError:
        return  # Pillow decides (the half-rows file)
    assert ours.mode == pillows.mode
    assert np.array_equal(np.asarray(ours), np.asarray(pillows))
