"""Writes tests/corpus/generated/: files of the classes no reachable public suite ships.

The conformance and sample suites of issue 25 (AVIF/HEIF, image-rs, ...) are not
reachable from the build machine; these files reproduce their classes with this
project's own generators (Pillow, pillow-heif, boxes and blocks written byte by byte),
so that the corpus holds each class to an outcome in expected.csv. Deterministic:

    .venv/bin/python -m tests.support.corpusgen
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.support import gifgen, imagegen, isobmff

OUT = Path(__file__).resolve().parents[1] / "corpus" / "generated"


def _picture(width: int = 96, height: int = 64) -> Image.Image:
    image = imagegen.marked_image(width, height)
    image.paste((0, 0, 0), (0, 0, 8, height))  # a bar the clean aperture hides
    return image


def files() -> dict[str, bytes]:
    avif = imagegen.encoded(_picture(), "AVIF", quality=80)
    made = {
        "avif-clap.avif": isobmff.with_properties(avif, isobmff.clap(88, 64, 4, 0)),
        "avif-clap-irot-imir.avif": isobmff.with_properties(
            avif, isobmff.clap(88, 64, 4, 0), isobmff.irot(1), isobmff.imir(0)
        ),
        "avif-pq-bt2020.avif": isobmff.set_nclx(avif, primaries=9, transfer=16),
        "avif-hlg-bt2020.avif": isobmff.set_nclx(avif, primaries=9, transfer=18),
        "avif-bt2020-cl.avif": isobmff.set_nclx(avif, primaries=9, transfer=14, matrix=10),
        "heif-jpeg-coded.heic": isobmff.single_item_heif(b"jpeg", imagegen.jpeg(64, 48), (64, 48)),
        "gif-undersized-first-frame.gif": gifgen.gif(
            (32, 32),
            [(0, 0, 0), (255, 0, 0), (0, 0, 255), (0, 255, 0)],
            [
                gifgen.Frame(8, 8, 16, 16, index=2, delay_cs=4),
                gifgen.Frame(0, 0, 32, 8, index=3, delay_cs=4, disposal=2),
            ],
            background=1,
        ),
    }
    rgba = Image.new("RGBA", (64, 48), (200, 40, 40, 255))
    rgba.paste((40, 40, 200, 90), (0, 0, 32, 48))
    alpha = imagegen.encoded(rgba, "AVIF", quality=80)
    # The alpha item's ispe association pointed at its pixi: no ispe, as early encoders.
    entry = bytes([0x00, 0x02, 0x04, 0x01, 0x05, 0x86, 0x07])
    made["avif-alpha-without-ispe.avif"] = alpha.replace(
        entry, bytes([0x00, 0x02, 0x04, 0x05, 0x05, 0x86, 0x07])
    )
    default = Image.new("RGB", (48, 32), (255, 255, 255))
    frames = [Image.new("RGB", (48, 32), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    made["apng-hidden-default-image.png"] = imagegen.encoded(
        default, "PNG", save_all=True, append_images=frames, default_image=True, duration=40
    )
    rows = b"".join(b"\x00" + bytes([200, 100, 50]) * 32 for _ in range(16))
    made["png-half-the-rows.png"] = (
        b"\x89PNG\r\n\x1a\n"
        + imagegen.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
        + imagegen.png_chunk(b"IDAT", zlib.compress(rows))
        + imagegen.png_chunk(b"IEND", b"")
    )
    jpeg = bytearray(imagegen.jpeg(64, 48))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 1], jpeg[sof + 4] = 0xC1, 12
    made["jpeg-12-bit-header.jpg"] = bytes(jpeg)
    halves = []
    for channel in (0, 1):
        rgba = np.zeros((24, 24, 4), np.uint8)
        rgba[..., channel], rgba[..., 3] = 255, 128
        halves.append(Image.fromarray(rgba, "RGBA"))
    made["webp-half-transparent-animation.webp"] = imagegen.encoded(
        halves[0], "WEBP", save_all=True, append_images=halves[1:], lossless=True, duration=40
    )
    return made


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, data in files().items():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()
