"""The header reader agrees with Pillow on the peer corpus: sizes and frame counts."""

from __future__ import annotations

import random
import struct
import warnings
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from chalicelib.core.errors import UnsupportedImage
from chalicelib.media import isobmff
from chalicelib.media.image_header import (
    MAX_FRAMES,
    MAX_JPEG_SCANS,
    check_jpeg_scans,
    gif_frames,
    jpeg_scans,
    read_header,
)
from chalicelib.media.isobmff import primary_item
from tests.support import imagegen
from worker.imaging.animation import hidden_default_image

CORPUS = Path(__file__).resolve().parents[3] / "corpus"
pillow_heif.register_heif_opener()
DEFAULT_MAX_IMAGE_PIXELS = 1024 * 1024 * 1024 // 4 // 3  # Pillow's own default

# Damaged files where the reader and Pillow read different things; the worker decides
# from Pillow's reading, so the reader only has to fail safe (None, or more frames).
DISAGREE = {
    "pillow/apng/chunk_multi_actl.png",  # two acTL chunks; Pillow gives up on animation
    "pillow/apng/syntax_num_frames_invalid.png",  # claims 2**31 frames: read as MAX_FRAMES
    "pillow/crash-74d2a78403a5a59db1fb0a2b8735ac068a75f6e3.tif",
    "pillow/frame_size.mpo",  # a JPEG with a second picture Pillow calls a frame
    "pillow/photoshop-200dpi-broken.jpg",  # garbage between segments: None
    "pillow/truncated_app14.jpg",  # cut inside a segment: None
}


def corpus_images() -> list[Path]:
    suffixes = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif",
                ".avifs", ".heic", ".heif", ".mpo"}  # fmt: skip
    return [p for p in sorted(CORPUS.rglob("*")) if p.suffix.lower() in suffixes]


@pytest.mark.parametrize("path", corpus_images(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_the_reader_agrees_with_pillow(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker sets Pillow's bomb limit for each job it opens; whichever test ran
    # last must not decide which files count as openable here.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path) as image:
                size, frames = image.size, getattr(image, "n_frames", 1)
                # An APNG's hidden default image is Pillow's frame 0 but not a frame
                # of the animation (the worker leaves it out too).
                frames -= hidden_default_image(image)
        except Exception:
            pytest.skip("Pillow does not open it either")
    header = read_header(path.read_bytes())
    name = str(path.relative_to(CORPUS))
    if name in DISAGREE:
        assert header is None or header.frames >= 1
        return
    assert header is not None
    # Pillow's TIFF plugin turns the size upright; the header states it as stored.
    sizes = [size, size[::-1]]
    item = primary_item(path.read_bytes())
    if item is not None and item.clean_aperture is not None:
        # libavif gives the coded picture; the worker shows (and prices) its clean
        # aperture, as libheif does.
        sizes.append(item.clean_aperture[2:])
    assert (header.width, header.height) in sizes
    # pillow-heif counts a HEIF's still images as frames; only the primary is decoded.
    assert header.frames == (1 if header.format == "heif" else frames)


def test_every_generated_format_is_read() -> None:
    for fmt, data in {
        "jpeg": imagegen.jpeg(321, 123),
        "webp": imagegen.webp(321, 123),
        "bmp": imagegen.bmp(321, 123),
        "tiff": imagegen.tiff(321, 123),
        "heif": imagegen.heic(321, 123),
        "avif": imagegen.avif(321, 123),
    }.items():
        header = read_header(data)
        assert header is not None and header.format == fmt
        # HEVC codes whole 2x2 blocks: HEIF's ispe states the coded size, and a clean
        # aperture box the visible one (a pixel less); the price hardly differs.
        slack = 1 if fmt == "heif" else 0
        assert 0 <= header.width - 321 <= slack and 0 <= header.height - 123 <= slack


def test_frames_of_animations() -> None:
    assert read_header(imagegen.animated("GIF", frames=7)).frames == 7  # type: ignore[union-attr]
    assert read_header(imagegen.animated("WEBP", frames=5)).frames == 5  # type: ignore[union-attr]
    # An AVIF sequence's pictures are its track's samples (it was priced as one frame).
    avis = read_header(imagegen.animated("AVIF", frames=9, size=(40, 30)))
    assert avis is not None and (avis.width, avis.height, avis.frames) == (40, 30, 9)


def test_a_body_of_tiny_boxes_is_walked_in_bounded_steps() -> None:
    # 10 MB of 8-byte boxes after ftyp: a million boxes, stepped over at most 10,000.
    body = b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00avifmif1" + b"\x00\x00\x00\x08free" * 1_300_000
    assert len(isobmff._boxes(body, 0, len(body))) == isobmff._MAX_BOXES
    assert read_header(body) is None


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF"])
def test_truncated_headers_give_none(data: bytes) -> None:
    assert read_header(data) is None


def test_absurd_frame_counts_are_bounded() -> None:
    assert MAX_FRAMES >= 100_000


def _naive_frames(data: bytes) -> int:
    """The frame count by walking every sub-block one at a time (the reference)."""
    at = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    frames = 0
    while at < len(data):
        if data[at] == 0x2C and at + 10 <= len(data):
            frames += 1
            at += 11
        elif data[at] == 0x21:
            at += 2
        else:
            break
        while at < len(data) and data[at]:
            at += data[at] + 1
        at += 1
    return frames


def test_sub_blocks_are_skipped_as_one_walk_would() -> None:
    """Runs of full 255-byte sub-blocks are skipped at once; the count is the walk's."""
    rng = random.Random(7)
    for case in range(300):
        body = bytearray(b"GIF89a" + bytes([16, 0, 16, 0, 0, 0, 0]))
        for _ in range(rng.randint(0, 6)):
            body += bytes([0x2C, 0, 0, 0, 0, 16, 0, 16, 0, 0, 8])
            for _ in range(rng.choice([0, 1, 3, 300, 1100])):
                size = 255 if rng.random() < 0.9 else rng.randint(1, 254)
                body += bytes([size]) + rng.randbytes(size)
            body.append(0)
        body.append(0x3B)
        data = bytes(body[: rng.randint(13, len(body))]) if case % 3 == 0 else bytes(body)
        assert gif_frames(data)[0] == _naive_frames(data), case


@pytest.mark.parametrize("scans", [11, 100, 101, 5_000])
@pytest.mark.parametrize("padding", [0, 70_000])
def test_jpeg_scans_are_counted_up_to_one_past_the_limit(scans: int, padding: int) -> None:
    bomb = imagegen.progressive_scan_bomb(320, 240, scans, padding=padding)
    assert jpeg_scans(bomb) == min(scans, MAX_JPEG_SCANS + 1)
    # Past the walk's step bound (a table and a scan each), any count is "too many".
    assert jpeg_scans(bomb, limit=10**6) == (scans if scans < 4_000 else 10**6 + 1)


def test_ordinary_jpegs_have_few_scans() -> None:
    assert jpeg_scans(imagegen.jpeg(640, 480)) == 1
    assert 2 <= jpeg_scans(imagegen.jpeg(640, 480, progressive=True)) <= 12


def test_a_body_of_tiny_segments_is_refused_not_walked() -> None:
    tiny = b"\xff\xd8" + b"\xff\xfe\x00\x02" * 2_500_000  # 10 MB of empty comments
    with pytest.raises(UnsupportedImage):
        check_jpeg_scans(tiny)
    assert read_header(tiny) is None  # its size is not in reach: priced as unknown


@pytest.mark.parametrize("loop", [False, True])
def test_tiff_pages_are_counted_wherever_the_chain_starts(loop: bool) -> None:
    tiff = imagegen.tiff_page_chain(3_000, 90_000, loop=loop)
    header = read_header(tiff)
    assert header is not None and header.frames == 3_000
    assert read_header(tiff[:65_536]) is None  # the first bytes do not hold it


def test_a_gif_of_tiny_sub_blocks_counts_as_too_many_frames() -> None:
    head = b"GIF89a" + struct.pack("<HHBBB", 64, 64, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 64, 64, 0) + b"\x02"
    frames, _ = gif_frames(head + frame + b"\x01\x00" * 5_000_000)
    assert frames == MAX_FRAMES
