"""What each format costs per megapixel: encoding every output format, decoding every input.

The job cost model (``chalicelib/media/cost.py``) weighs a job's pixels by these figures;
this measures them on a photo-like 3 MP picture, each the best of a few runs on one
core: the service's own ``encode`` with its default settings per output format
(AVIF at several libavif speeds beside the one used), and Pillow's decode of the
same picture saved in each input format.

Run: ``.venv/bin/python -m bench.encoders`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Callable
from typing import Any

import pillow_heif
from PIL import Image

from bench.images import photo
from chalicelib.media.formats import INPUT_FORMATS, OUTPUT_FORMATS
from chalicelib.media.options import Encoding
from worker.imaging.encode import encode

WIDTH, HEIGHT = 2000, 1500
AVIF_SPEEDS = (4, 6, 8, 10)
pillow_heif.register_heif_opener()


def _best_ms(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def _saved(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    pillow = {"heif": "HEIF", "jpeg": "JPEG"}.get(fmt, INPUT_FORMATS[fmt].pillow[0])
    params: dict[str, Any] = {"quality": 85} if fmt in ("jpeg", "webp", "heif", "avif") else {}
    image.save(buffer, pillow, **params)
    return buffer.getvalue()


def run(quick: bool = False) -> dict[str, Any]:
    runs = 2 if quick else 4
    image = photo(WIDTH, HEIGHT, seed=11)
    megapixels = WIDTH * HEIGHT / 1e6
    encode_ms = {
        fmt: round(
            _best_ms(lambda f=fmt: encode(image, Encoding(f, None, "#ffffff")), runs) / megapixels,
            1,
        )
        for fmt in OUTPUT_FORMATS
    }
    avif_speeds = {
        speed: round(
            _best_ms(lambda s=speed: image.save(io.BytesIO(), "AVIF", quality=60, speed=s), runs)
            / megapixels,
            1,
        )
        for speed in AVIF_SPEEDS
    }
    decode_ms = {}
    for fmt in INPUT_FORMATS:
        data = _saved(image, fmt)
        decode_ms[fmt] = round(
            _best_ms(lambda d=data: Image.open(io.BytesIO(d)).load(), runs) / megapixels, 1
        )
    for label, table in (("encode", encode_ms), ("decode", decode_ms)):
        print(f"{label} ms per megapixel: " + ", ".join(f"{k} {v}" for k, v in table.items()))
    print(
        "avif encode ms per megapixel by speed: "
        + ", ".join(f"{k}: {v}" for k, v in avif_speeds.items())
    )
    return {
        "megapixels": megapixels,
        "encode_ms_per_mp": encode_ms,
        "decode_ms_per_mp": decode_ms,
        "avif_speed_ms_per_mp": avif_speeds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
