"""`gravity: auto` against libvips' attention smartcrop: subjects kept, window overlap, time.

Two parts, in one process:

- Quality, on the hand-marked photos of ``tests/corpus/subjects``: for a square and
  a 3:1 (wide) crop of each, the share of the subject's box kept by our ``auto``
  window, by ``center`` and by libvips' ``smartcrop(interesting="attention")``
  (through pyvips, same stored file), and the intersection over union of our
  window with libvips'.
- Time, on the benchmark's 12 MP JPEG (``bench/images.py``): what ``auto`` adds to a
  job, through ``process_image`` (the default renditions plus a 512x512 cover
  rendition, ``gravity: auto`` against ``center``, runs interleaved), with the
  ``attention`` stage's own time; then the parts: one window from the fully decoded
  12 MP picture and from the worker's own decode (JPEG DCT-scaled to 2000x1500),
  making the 40 px copy, the map, one window search; and libvips' smartcrop on the
  same decoded 12 MP picture in memory.

Run: ``.venv/bin/python -m bench.smartcrop [--quick]`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from PIL import Image

from bench import images
from tests.support.subjects import KEEP, SHAPES, Cropper, Subject, iou, keep_table, load_subjects
from worker.imaging.gravity import (
    ANALYSIS_SIDE,
    Window,
    attention_map,
    best_window,
    cover_size,
    crop_window,
)


def _vips_window(path: str, aspect: float) -> Window:
    import pyvips

    image = pyvips.Image.new_from_file(path)
    width, height = cover_size((image.width, image.height), aspect)
    # libvips crops whole pixels; round our float window's size the same way.
    w, h = max(1, round(width)), max(1, round(height))
    out = image.smartcrop(w, h, interesting="attention")
    # The extract keeps the source's coordinates as a negative offset.
    return float(-out.xoffset), float(-out.yoffset), float(w), float(h)


def quality() -> dict[str, Any]:
    subjects = load_subjects()

    def auto(_s: Subject, image: Image.Image, aspect: float) -> Window:
        return crop_window(image.size, aspect, "auto", image=image)

    def center(_s: Subject, image: Image.Image, aspect: float) -> Window:
        return crop_window(image.size, aspect, "center")

    def vips(subject: Subject, _image: Image.Image, aspect: float) -> Window:
        return _vips_window(str(subject.path), aspect)

    croppers: dict[str, Cropper] = {"auto": auto, "center": center, "libvips": vips}
    kept = {name: keep_table(cropper) for name, cropper in croppers.items()}
    rows: dict[str, Any] = {}
    for shape, aspect in SHAPES.items():
        per_photo: list[dict[str, Any]] = []
        for subject in subjects:
            image = subject.open()
            ours = crop_window(image.size, aspect, "auto", image=image)
            theirs = _vips_window(str(subject.path), aspect)
            per_photo.append(
                {
                    "file": subject.file,
                    "size": list(image.size),
                    "auto": [round(v, 1) for v in ours],
                    "libvips": [round(v, 1) for v in theirs],
                    "iou": round(iou(ours, theirs), 3),
                    "kept": {name: round(kept[name][shape][subject.file], 4) for name in kept},
                }
            )
        rows[shape] = {
            "photos": per_photo,
            "counts": {
                name: sum(share >= KEEP for share in kept[name][shape].values()) for name in kept
            },
            "mean_iou": round(statistics.fmean(p["iou"] for p in per_photo), 3),
        }
    return rows


def _best(func: Callable[[], object], repeat: int) -> dict[str, float]:
    func()  # warm: imports, caches
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return {"min_ms": min(samples), "median_ms": statistics.median(samples)}


def timing(quick: bool) -> dict[str, Any]:
    import pyvips

    repeat = 10 if quick else 40
    data = images.get("jpeg12").read()
    full = Image.open(io.BytesIO(data))
    full.load()
    size = full.size
    draft = Image.open(io.BytesIO(data))
    # What process_image decodes for the job below (JPEG DCT scaling to 1/2).
    draft.draft("RGB", (size[0] // 2, size[1] // 2))
    draft.load()
    square = cover_size(size, 1.0)
    analysis = (ANALYSIS_SIDE, round(ANALYSIS_SIDE * size[1] / size[0]))

    def auto(image: Image.Image) -> Callable[[], object]:
        return lambda: crop_window(size, 1.0, "auto", image=image)

    small = draft.resize(analysis, Image.Resampling.BOX, reducing_gap=2.0)
    small_map = attention_map(small)
    array = np.asarray(full)
    vips_full = pyvips.Image.new_from_memory(array.tobytes(), size[0], size[1], 3, "uchar")
    pyvips.cache_set_max(0)

    def vips() -> None:
        vips_full.smartcrop(round(square[0]), round(square[1]), interesting="attention")

    worker_decode = f"the worker's decode ({draft.width}x{draft.height})"
    return {
        "source": f"{images.get('jpeg12').label}, {len(data) / 1e6:.1f} MB",
        "job": _job(data, 6 if quick else 20),
        "one_crop": {
            "from the decoded 12 MP image": _best(auto(full), repeat),
            f"from {worker_decode}": _best(auto(draft), repeat),
            "libvips smartcrop (attention), 12 MP in memory": _best(vips, max(3, repeat // 4)),
        },
        "parts": {
            f"40 px copy from {worker_decode}": _best(
                lambda: draft.resize(analysis, Image.Resampling.BOX, reducing_gap=2.0), repeat
            ),
            "40 px copy from the 12 MP image": _best(
                lambda: full.resize(analysis, Image.Resampling.BOX, reducing_gap=2.0), repeat
            ),
            "attention map of the 40 px copy": _best(lambda: attention_map(small), repeat),
            "window search (one crop)": _best(lambda: best_window(small_map, 0.75, 1.0), repeat),
        },
    }


# The job the time is measured on: the default renditions (thumbnail 512, preview
# 1280) and a 512x512 avatar, cropped by ``gravity``; no text.
JOB_RENDITIONS: tuple[dict[str, Any], ...] = (
    {"name": "thumbnail", "width": 512, "height": 512},
    {"name": "preview", "width": 1280, "height": 1280},
    {"name": "square", "width": 512, "height": 512, "fit": "cover"},
)


def _job(data: bytes, repeat: int) -> dict[str, Any]:
    """Whole 12 MP ``process_image`` runs, ``gravity: auto`` and ``center`` interleaved (so a
    burst of other work on the machine falls on both): the stage times of the best run of
    each, the attention stage's best and median, and the difference of the best totals."""
    from worker.imaging.process import ImageLimits, process_image

    limits = ImageLimits(max_pixels=100_000_000, max_dimension=20_000, max_frames=200)
    options = {
        gravity: {"renditions": [{**r, "gravity": gravity} for r in JOB_RENDITIONS]}
        for gravity in ("center", "auto")
    }
    options["center"]["renditions"][2]["gravity"] = "center"
    for rendition in options["auto"]["renditions"][:2]:
        rendition["gravity"] = "center"  # contain renditions take only center
    runs: dict[str, list[dict[str, float]]] = {"center": [], "auto": []}
    crops: dict[str, list[int]] = {}
    for index in range(repeat + 1):
        for gravity in ("center", "auto") if index % 2 else ("auto", "center"):
            stages: dict[str, float] = {}

            @contextlib.contextmanager
            def stage(name: str, stages: dict[str, float] = stages) -> Iterator[None]:
                started = time.perf_counter()
                yield
                stages[name] = (time.perf_counter() - started) * 1000

            started = time.perf_counter()
            report = process_image(data, "", options[gravity], limits, stage)
            stages["total"] = (time.perf_counter() - started) * 1000
            crops[gravity] = list(report.outputs[2].crop)
            if index:  # the first round warms caches and imports
                runs[gravity].append(stages)
    best = {g: min(r, key=lambda s: s["total"]) for g, r in runs.items()}
    attention = [s["attention"] for s in runs["auto"]]
    return {
        "renditions": [dict(r) for r in JOB_RENDITIONS],
        "runs": repeat,
        "best": {g: {k: round(v, 2) for k, v in s.items()} for g, s in best.items()},
        "median_total_ms": {
            g: round(statistics.median(s["total"] for s in r), 2) for g, r in runs.items()
        },
        "attention_ms": {
            "min_ms": round(min(attention), 2),
            "median_ms": round(statistics.median(attention), 2),
        },
        "added_ms": round(best["auto"]["total"] - best["center"]["total"], 2),
        "crop": crops,
    }


def run(quick: bool = False) -> dict[str, Any]:
    result = {"quality": quality(), "timing": timing(quick)}
    _print(result)
    return result


def _print(result: dict[str, Any]) -> None:
    for shape, row in result["quality"].items():
        counts = row["counts"]
        print(
            f"{shape}: subject kept (>= {KEEP:.0%} of its box): auto {counts['auto']}/10, "
            f"center {counts['center']}/10, libvips attention {counts['libvips']}/10; "
            f"IoU auto vs libvips mean {row['mean_iou']:.2f}",
            flush=True,
        )
        for photo in row["photos"]:
            kept = photo["kept"]
            print(
                f"   {photo['file']:14} IoU {photo['iou']:.2f}  kept: auto {kept['auto']:.3f} "
                f"center {kept['center']:.3f} libvips {kept['libvips']:.3f}",
                flush=True,
            )
    timing = result["timing"]
    job = timing["job"]
    print(f"time on {timing['source']}:", flush=True)
    print(
        f"  a job (thumbnail, preview, 512x512 cover), {job['runs']} runs each: best total "
        f"auto {job['best']['auto']['total']:.1f} ms, center {job['best']['center']['total']:.1f}"
        f" ms (added {job['added_ms']:+.1f} ms; medians {job['median_total_ms']['auto']:.1f} / "
        f"{job['median_total_ms']['center']:.1f}); attention stage best "
        f"{job['attention_ms']['min_ms']:.2f} ms, median {job['attention_ms']['median_ms']:.2f} ms",
        flush=True,
    )
    for gravity in ("auto", "center"):
        stages = ", ".join(f"{k} {v:.1f}" for k, v in job["best"][gravity].items())
        print(f"   best {gravity} run (ms): {stages}; crop {job['crop'][gravity]}", flush=True)
    for title, key in (("one square crop", "one_crop"), ("parts", "parts")):
        print(f"  {title} (best / median):", flush=True)
        for label, value in timing[key].items():
            print(
                f"   {label:52} {value['min_ms']:6.2f} / {value['median_ms']:6.2f} ms", flush=True
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
