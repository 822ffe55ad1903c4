"""Pipeline per image: the service's ``process_image`` against pyvips and a naive Pillow.

All three make the default renditions from the same bytes: ``thumbnail`` (fit in
512x512) and ``preview`` (fit in 1280x1280), both JPEG quality 85, alpha flattened
onto white. What each one does beyond that:

- service: ``worker.imaging.process.process_image`` with default options and no text (so
  no caption): header limits, EXIF facts, orientation, colour management, the two
  renditions, dominant colours and the perceptual hash. The "with caption" figure
  adds a short text, so a third 1280 px output with the text drawn on it.
- pyvips (libvips from ``pyvips-binary``, what imgproxy is built on):
  ``thumbnail_buffer`` to 1280 with shrink-on-load, then the 512 from that
  preview, both ``jpegsave`` Q=85; the operation cache is off so each run decodes.
  libvips uses its thread pool (both cores here); the single-thread figure
  (``VIPS_CONCURRENCY=1``) is printed beside it for a per-core comparison.
- naive Pillow: full decode, then one ``resize(LANCZOS)`` per rendition from the
  full image, then ``save(JPEG, quality=85)``: what the issue calls naive.

Run: ``.venv/bin/python -m bench.pipeline`` (add ``--quick`` for fewer repeats).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import images

THUMB, PREVIEW, QUALITY = 512, 1280, 85
TEXT = "Morning light over the lake, first swim of the summer."


def _limits() -> Any:
    from worker.imaging.process import ImageLimits

    return ImageLimits(max_pixels=100_000_000, max_dimension=20_000, max_frames=200)


def _no_stage(_: str) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


def service(data: bytes, text: str = "") -> int:
    from worker.imaging.process import process_image

    report = process_image(data, text, None, _limits(), _no_stage)
    return sum(len(o.data) for o in report.outputs)


def service_with_caption(data: bytes) -> int:
    return service(data, TEXT)


def naive(data: bytes) -> int:
    from PIL import Image

    # Importing the service's imaging registers the HEIF opener, as a naive version would.
    import worker.imaging.process  # noqa: F401

    image = Image.open(io.BytesIO(data))
    image.load()
    if image.mode != "RGB":
        rgba = image.convert("RGBA")
        image = Image.new("RGB", rgba.size, (255, 255, 255))
        image.paste(rgba, mask=rgba.getchannel("A"))
    total = 0
    for side in (THUMB, PREVIEW):
        scale = min(side / image.width, side / image.height, 1.0)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        out = io.BytesIO()
        image.resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=QUALITY)
        total += out.tell()
    return total


def vips(data: bytes) -> int:
    import pyvips

    pyvips.cache_set_max(0)
    preview = pyvips.Image.thumbnail_buffer(data, PREVIEW, height=PREVIEW, size="down")
    if preview.hasalpha():
        preview = preview.flatten(background=[255, 255, 255])
    # Render the preview once to memory; the thumbnail is cut from it (decode once).
    preview = preview.copy_memory()
    thumb = preview.thumbnail_image(THUMB, height=THUMB, size="down")
    return len(preview.jpegsave_buffer(Q=QUALITY)) + len(thumb.jpegsave_buffer(Q=QUALITY))


def vips_two_decodes(data: bytes) -> int:
    """imgproxy's way: each rendition is its own request with its own shrink-on-load."""
    import pyvips

    pyvips.cache_set_max(0)
    total = 0
    for side in (THUMB, PREVIEW):
        image = pyvips.Image.thumbnail_buffer(data, side, height=side, size="down")
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        total += len(image.jpegsave_buffer(Q=QUALITY))
    return total


def vips_supports(data: bytes) -> bool:
    import pyvips

    try:
        # A full (small) render: some loaders read the header but lack the codec.
        pyvips.Image.thumbnail_buffer(data, 16).write_to_memory()
        return True
    except pyvips.Error:
        return False


IMPLEMENTATIONS: dict[str, Callable[[bytes], int]] = {
    "service": service,
    "service_caption": service_with_caption,
    "naive": naive,
    "vips": vips,
    "vips_two_decodes": vips_two_decodes,
}


def time_it(func: Callable[[bytes], int], data: bytes, repeat: int) -> dict[str, float]:
    func(data)  # warm: imports, font loading, libvips start-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func(data)
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples)}


def measure_one(key: str, impl: str, repeat: int) -> dict[str, float] | None:
    """Time one implementation on one image in this process."""
    data = images.get(key).read()
    if impl.startswith("vips") and not vips_supports(data):
        return None
    return time_it(IMPLEMENTATIONS[impl], data, repeat)


def _child(key: str, impl: str, repeat: int, env: dict[str, str] | None = None) -> Any:
    # One fresh process per (image, implementation): no cache, heap or thread pool
    # state carries from one measurement into the next.
    out = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", "--child", key, impl, str(repeat)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _repeats(key: str, quick: bool) -> int:
    heavy = {"jpeg50": 3, "heic": 4}
    return max(2, heavy.get(key, 10) // (2 if quick else 1))


def run(quick: bool = False) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for key in images.KEYS:
        image = images.get(key)
        repeat = _repeats(key, quick)
        row: dict[str, Any] = {"label": image.label, "bytes": image.path.stat().st_size}
        for impl in ("service", "service_caption", "naive", "vips", "vips_two_decodes"):
            row[impl] = _child(key, impl, repeat)
        row["vips_1thread"] = _child(key, "vips", repeat, {"VIPS_CONCURRENCY": "1"})
        results[key] = row
        _print_row(key, row)
    return results


def _fmt(value: dict[str, float] | None) -> str:
    return "   n/a" if value is None else f"{value['median_ms']:6.0f}"


def _print_row(key: str, row: dict[str, Any]) -> None:
    service_ms = row["service"]["median_ms"]
    ratios = []
    for ref in ("vips", "naive"):
        if row[ref]:
            ratios.append(f"{ref} x{service_ms / row[ref]['median_ms']:.2f}")
    print(
        f"{key:7} service {_fmt(row['service'])} ms (+caption {_fmt(row['service_caption'])})"
        f"  naive {_fmt(row['naive'])}  vips {_fmt(row['vips'])}"
        f" (1 thread {_fmt(row['vips_1thread'])}, two decodes {_fmt(row['vips_two_decodes'])})"
        f"  | service/{', service/'.join(ratios)}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("IMAGE", "IMPL", "REPEAT"))
    args = parser.parse_args()
    if args.child:
        key, impl, repeat = args.child
        print(json.dumps(measure_one(key, impl, int(repeat))))
        return
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
