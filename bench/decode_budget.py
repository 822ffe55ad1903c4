"""Peak RSS of a worker process decoding the largest images the decode budget accepts.

For each image a fresh child process imports what a Celery pool process imports
(``worker.tasks``), runs the worker's per-process warm-up, then processes the image
once through ``worker.imaging.process.process_image`` with the default options and the
default settings (``MAX_DECODE_BYTES`` 768 MiB, 100 MP, 20000 px a side), as a job
does. The figures are the kernel's high-water mark of the child's RSS (``VmHWM``)
before the image (idle) and after it; beside them, what the budget estimated for
the decode. Images are made in code into a temporary directory.

Run: ``.venv/bin/python -m bench.decode_budget``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import re, sys, contextlib
sys.path.insert(0, {root!r})
def peak():
    # The high-water mark of this process's own memory (VmHWM starts afresh at exec;
    # ru_maxrss would carry over the large parent's figure through fork).
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
import worker.tasks
worker.tasks._prepare_process()
from chalicelib.core.settings import Settings
from worker.imaging.process import ImageLimits, process_image
s = Settings()
limits = ImageLimits(s.max_image_pixels, s.max_image_dimension, s.max_image_frames,
                     s.max_decode_bytes)
idle = peak()
data = open(sys.argv[1], "rb").read()
try:
    process_image(data, "", None, limits, lambda _n: contextlib.nullcontext())
    outcome = "completed"
except Exception as error:
    outcome = getattr(error, "code", type(error).__name__)
print(idle, peak(), outcome)
"""


def _photo(size: tuple[int, int]) -> Image.Image:
    """A smooth picture with some structure, enlarged from a small gradient mix."""
    small = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize((64, 48)),
            Image.radial_gradient("L").resize((64, 48)),
            Image.linear_gradient("L").rotate(90).resize((64, 48)),
        ),
    )
    return small.resize(size, Image.Resampling.BICUBIC)


def _save(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.from_pillow(image).save(buffer, **params)
    else:
        image.save(buffer, fmt, **params)
    return buffer.getvalue()


def cases() -> dict[str, tuple[bytes, int]]:
    """Name -> (file bytes, the budget's estimate of its decode)."""
    from worker.imaging.budget import decode_cost
    from worker.imaging.png_decode import band_rows

    made: dict[str, tuple[bytes, int]] = {}
    rgba = _photo((10000, 10000)).convert("RGBA")
    # The default outputs (a 1280 preview) let it decode in bands shrunk by 3 a side
    # (worker/imaging/png_decode.py); the whole decode's estimate was 763 MiB.
    made["png 10000x10000 RGBA (100 MP: the largest accepted), in bands"] = (
        _save(rgba, "PNG", compress_level=1),
        decode_cost(
            10000, 10000, "RGBA", "png", reduction=3, band_pixels=band_rows(10000, 3) * 10000
        ).bytes,
    )
    del rgba
    made["webp 7000x7000 (49 MP; about 50 MP is the largest WebP accepted)"] = (
        _save(_photo((7000, 7000)), "WEBP", quality=80, method=0),
        decode_cost(7000, 7000, "RGB", "webp").bytes,
    )
    made["heic 4032x3024 (12 MP)"] = (
        _save(_photo((4032, 3024)), "HEIF", quality=50),
        decode_cost(4032, 3024, "RGB", "heif").bytes,
    )
    made["avif 4032x3024 (12 MP)"] = (
        _save(_photo((4032, 3024)), "AVIF", quality=60, speed=8),
        decode_cost(4032, 3024, "RGB", "avif").bytes,
    )
    made["jpeg 8660x5773 (50 MP; the outputs decode it at 1/4)"] = (
        _save(_photo((8660, 5773)), "JPEG", quality=85),
        decode_cost(8660, 5773, "RGB", "jpeg", reduction=4).bytes,
    )
    return made


def measure(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT)), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    idle, peak, outcome = out.stdout.split()[-3:]
    return {"idle_bytes": int(idle), "peak_bytes": int(peak), "outcome": outcome}


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, (data, estimate) in cases().items():
            path = Path(scratch) / "source"
            path.write_bytes(data)
            row = measure(path)
            row.update(file_bytes=len(data), estimate_bytes=estimate)
            results[name] = row
            print(
                f"{name}: {row['outcome']}, file {len(data) / 2**20:.1f} MiB, budget estimate "
                f"{estimate / 2**20:.0f} MiB; worker peak RSS {row['peak_bytes'] / 2**20:.0f} MiB "
                f"(idle {row['idle_bytes'] / 2**20:.0f}, "
                f"image +{(row['peak_bytes'] - row['idle_bytes']) / 2**20:.0f})",
                flush=True,
            )
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
