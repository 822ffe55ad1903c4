"""PNG decoding: libspng behind the strict pre-check against Pillow, and against pyvips.

Three parts, every figure CPU time (all threads of the process) beside wall time, in
interleaved rounds (one of each method per round, best and median over the rounds):

1. **Decode alone**, one core: Pillow's ``load`` (and the completeness check it needed,
   a second inflation of the stream), the strict pre-check, libspng's decode, pyvips'
   full decode; on the 2 MP PNG with alpha of ``bench.images`` and a 6 MP RGB photo.
2. **The two default renditions**: ``process_image`` (default options, no text: the
   512 thumbnail and the 1280 preview as JPEG, the facts) with libspng (now) and with
   Pillow's decode (before: the fast path turned off in the process), against pyvips'
   ``thumbnail_buffer`` to 1280, the 512 from it and two ``jpegsave`` at Q 85.
3. **A 100 MP RGBA PNG** (10000x10000, made in code): peak RSS (``VmHWM``) of a fresh
   process doing the same, for the banded decode (now), the whole decode (before) and
   pyvips; and the PSNR of the outputs against the whole decode's.

Run: ``.venv/bin/python -m bench.png_decode [--quick]`` (or through ``bench.run_all``).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from PIL import Image

from bench import images

ROOT = Path(__file__).resolve().parents[1]
LARGE = images.CACHE / "png-rgba-10000x10000-v1.png"


def _cpu_wall(function: Callable[[], Any]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    function()
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def interleaved(methods: dict[str, Callable[[], Any]], rounds: int) -> dict[str, dict[str, float]]:
    """Each method once per round, in turn; best and median CPU and wall ms."""
    for function in methods.values():
        function()  # warm: imports, thread pools, caches
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, function in methods.items():
            samples[name].append(_cpu_wall(function))
    return {
        name: {
            "cpu_best": min(c for c, _ in runs),
            "cpu_median": statistics.median(c for c, _ in runs),
            "wall_best": min(w for _, w in runs),
            "wall_median": statistics.median(w for _, w in runs),
        }
        for name, runs in samples.items()
    }


def _photo_rgb(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    images.photo(width, height, seed=11).save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def decode_alone(rounds: int) -> dict[str, Any]:
    import pyvips

    from worker.imaging import spng
    from worker.imaging.png import check_complete, precheck

    pyvips.cache_set_max(0)
    results = {}
    inputs = {
        "png2": images.get("png2").read(),
        "rgb6": _cached("png-rgb-3000x2000-v1.png", lambda: _photo_rgb(3000, 2000)),
    }
    for key, data in inputs.items():

        def pillow(data: bytes = data) -> None:
            Image.open(io.BytesIO(data)).load()

        def vips(data: bytes = data) -> None:
            pyvips.Image.new_from_buffer(data, "", access="sequential").copy_memory()

        methods = {
            "pillow load": pillow,
            "completeness check (before)": lambda data=data: check_complete(data),
            "pre-check": lambda data=data: precheck(data),
            "libspng": lambda data=data: spng.decode(data),
            "pyvips": vips,
        }
        results[key] = {"bytes": len(data), "methods": interleaved(methods, rounds)}
    return results


def _cached(name: str, make: Callable[[], bytes]) -> bytes:
    path = images.CACHE / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
    return path.read_bytes()


def cost_per_mp(rounds: int) -> dict[str, Any]:
    """CPU ms per megapixel of the worker's PNG decode, for the cost model's weight
    (``chalicelib/media/formats.py``): the picture ``bench.encoders`` uses (a 3 MP
    photo-like RGB picture, Pillow's default compression), decoded as a job does, and
    the 100 MP RGBA PNG decoded in bands (reduced by 3 a side, as for the default
    outputs)."""
    from chalicelib.core.settings import Settings
    from worker.imaging.png import check_complete
    from worker.imaging.png_decode import decode_png, plan_png
    from worker.imaging.source import decode, open_source

    s = Settings()
    limits = (s.max_image_pixels, s.max_image_dimension, s.max_image_frames)
    buffer = io.BytesIO()
    images.photo(2000, 1500, seed=11).save(buffer, "PNG")
    data = buffer.getvalue()

    def fast(data: bytes = data, scale: float = 0.0) -> None:
        source = open_source(data, *limits)
        plan = plan_png(source, data, scale, 1)
        assert plan is not None
        decode_png(source, data, plan, s.max_image_dimension)

    def pillow(data: bytes = data) -> None:
        decode(open_source(data, *limits))
        check_complete(data)

    figures = interleaved({"libspng": fast, "pillow + completeness check": pillow}, rounds)
    result = {name: f["cpu_best"] / 3.0 for name, f in figures.items()}
    big = large_png()
    banded = interleaved({"banded": lambda: fast(big, 1280 / 10000)}, max(2, rounds // 4))
    result["banded 100 MP, reduced by 3"] = banded["banded"]["cpu_best"] / 100.0
    return result


def renditions(rounds: int) -> dict[str, Any]:
    import pyvips

    from chalicelib.core.settings import Settings
    from worker.imaging.process import ImageLimits, process_image

    pyvips.cache_set_max(0)
    s = Settings()
    limits = ImageLimits(
        s.max_image_pixels, s.max_image_dimension, s.max_image_frames, s.max_decode_bytes
    )
    data = images.get("png2").read()

    def service() -> None:
        process_image(data, "", None, limits, lambda _n: nullcontext())

    def service_pillow() -> None:
        with mock.patch("worker.imaging.process.plan_png", return_value=None):
            service()

    def vips() -> None:
        vips_renditions(data)

    figures = interleaved(
        {
            "service (libspng)": service,
            "service (Pillow decode, before)": service_pillow,
            "pyvips": vips,
        },
        rounds,
    )
    reference = figures["pyvips"]["cpu_best"]
    for entry in figures.values():
        entry["cpu_vs_pyvips"] = entry["cpu_best"] / reference
    return {"image": images.get("png2").label, "bytes": len(data), "methods": figures}


def vips_renditions(data: bytes) -> list[bytes]:
    """What ``bench.pipeline`` times for pyvips: ``thumbnail_buffer`` to 1280 (shrink-on-
    load), flattened onto white, rendered once; the 512 from it; both ``jpegsave`` Q 85."""
    import pyvips

    pyvips.cache_set_max(0)
    preview = pyvips.Image.thumbnail_buffer(data, 1280, height=1280, size="down")
    if preview.hasalpha():
        preview = preview.flatten(background=[255, 255, 255])
    preview = preview.copy_memory()
    thumb = preview.thumbnail_image(512, height=512, size="down")
    return [preview.jpegsave_buffer(Q=85), thumb.jpegsave_buffer(Q=85)]


def large_png() -> bytes:
    """A 10000x10000 RGBA PNG: smooth colour, hard edges, an alpha ramp and a hole."""
    if LARGE.exists():
        return LARGE.read_bytes()
    small = images.photo(2500, 2500, seed=5)
    picture = small.resize((10000, 10000), Image.Resampling.BICUBIC).convert("RGBA")
    del small
    alpha = Image.radial_gradient("L").resize(picture.size).point(lambda v: 255 - v)
    alpha.paste(0, (1000, 1000, 3000, 2500))
    picture.putalpha(alpha)
    del alpha
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", compress_level=3)
    LARGE.parent.mkdir(parents=True, exist_ok=True)
    LARGE.write_bytes(buffer.getvalue())
    return buffer.getvalue()


CHILD = """
import re, sys, json, time, contextlib
from unittest import mock
sys.path.insert(0, {root!r})
def peak():
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
method, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
if method == "pyvips":
    import pyvips
    pyvips.cache_set_max(0)
    idle = peak()
    data = open(path, "rb").read()
    cpu, wall = time.process_time(), time.perf_counter()
    from bench.png_decode import vips_renditions
    outputs = vips_renditions(data)
    outcome = "completed"
else:
    import worker.tasks
    worker.tasks._prepare_process()
    from chalicelib.core.settings import Settings
    from worker.imaging.process import ImageLimits, process_image
    s = Settings()
    limits = ImageLimits(s.max_image_pixels, s.max_image_dimension, s.max_image_frames,
                         10 * 2**30 if method == "whole" else s.max_decode_bytes)
    idle = peak()
    data = open(path, "rb").read()
    patch = (mock.patch("worker.imaging.process.plan_png", return_value=None)
             if method == "whole" else contextlib.nullcontext())
    cpu, wall = time.process_time(), time.perf_counter()
    outputs = []
    try:
        with patch:
            report = process_image(data, "", None, limits, lambda _n: contextlib.nullcontext())
        outputs = [o.data for o in report.outputs]
        outcome = "completed"
    except Exception as error:
        outcome = getattr(error, "code", type(error).__name__)
cpu, wall = (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000
for i, payload in enumerate(outputs):
    open(out + f".{{i}}.jpg", "wb").write(payload)
print(json.dumps({{"idle": idle, "peak": peak(), "outcome": outcome, "cpu_ms": cpu,
                  "wall_ms": wall, "file": len(data)}}))
"""


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(255**2 / error))


def _decoded(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def large(tmp: Path) -> dict[str, Any]:
    """Peak RSS of a fresh process making the default renditions of the 100 MP PNG."""
    large_png()
    results: dict[str, Any] = {}
    for method in ("banded", "whole", "pyvips"):
        out = str(tmp / method)
        done = subprocess.run(
            [sys.executable, "-c", CHILD.format(root=str(ROOT)), method, str(LARGE), out],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if done.returncode:
            raise RuntimeError(f"{method}: {done.stderr[-2000:]}")
        results[method] = json.loads(done.stdout.strip().splitlines()[-1])
    # Output quality: each output against the whole decode's (today's path) and pyvips'.
    whole = {a.shape: a for a in (_decoded(str(p)) for p in tmp.glob("whole.*.jpg"))}
    for method in ("banded", "pyvips"):
        ours = sorted((_decoded(str(p)) for p in tmp.glob(f"{method}.*.jpg")), key=np.size)
        results[method]["psnr_vs_whole"] = [
            psnr(a, whole[a.shape]) for a in ours if a.shape in whole
        ]
    return results


def run(quick: bool = False) -> dict[str, Any]:
    import tempfile

    rounds = 5 if quick else 11
    result: dict[str, Any] = {"rounds": rounds}
    result["decode"] = decode_alone(rounds)
    _print_decode(result["decode"])
    result["cost_ms_per_mp"] = cost_per_mp(rounds)
    print(
        "\nPNG decode, CPU ms per megapixel: "
        + ", ".join(f"{k} {v:.1f}" for k, v in result["cost_ms_per_mp"].items())
    )
    result["renditions"] = renditions(rounds)
    _print_renditions(result["renditions"])
    with tempfile.TemporaryDirectory() as tmp:
        result["large"] = large(Path(tmp))
    _print_large(result["large"])
    return result


def _print_decode(decode: dict[str, Any]) -> None:
    for key, entry in decode.items():
        print(f"\n{key} ({entry['bytes'] / 1e6:.1f} MB): ms, CPU best / median, wall best")
        for name, f in entry["methods"].items():
            print(f"  {name:32} {f['cpu_best']:7.1f} {f['cpu_median']:7.1f} {f['wall_best']:7.1f}")


def _print_renditions(renditions: dict[str, Any]) -> None:
    print(f"\n{renditions['image']}: two renditions, ms CPU best / median, wall best, CPU / pyvips")
    for name, f in renditions["methods"].items():
        print(
            f"  {name:34} {f['cpu_best']:7.1f} {f['cpu_median']:7.1f} {f['wall_best']:7.1f}"
            f"  {f['cpu_vs_pyvips']:.2f}x"
        )


def _print_large(large: dict[str, Any]) -> None:
    print("\n100 MP RGBA PNG (10000x10000): peak RSS MiB (idle), CPU ms, wall ms, outcome, PSNR")
    for name, f in large.items():
        print(
            f"  {name:8} {f['peak'] / 2**20:7.0f} ({f['idle'] / 2**20:.0f})"
            f" {f['cpu_ms']:8.0f} {f['wall_ms']:8.0f} {f['outcome']}"
            f" {', '.join(f'{v:.1f} dB' for v in f.get('psnr_vs_whole', []))}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.quick)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
