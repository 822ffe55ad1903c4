"""Output quality of the imaging engine: PSNR of the service's renditions against a float64
Lanczos reference, and of one engine's renditions against another's.

Issue 27 asks that the engine change leave output quality unchanged. For each input
(the bench's 12 MP photo, its 2 MP PNG with alpha, the README's sample photo) the
service makes its default renditions (thumbnail 512, preview 1280, JPEG q85); they are
decoded and compared with

- a reference made without Pillow: the source decoded once, flattened onto white,
  resized in float64 with a separable Lanczos-3 filter widened by the scale factor
  (what Pillow's and Pillow-SIMD's LANCZOS compute, without their 8-bit fixed point),
  rounded to 8 bits;
- the same renditions saved by another engine (``--against DIR``).

    .venv/bin/python -m bench.engine_quality --save /tmp/q-venv            # this engine's outputs
    docker run ... python -m bench.engine_quality --save /out/q-image      # the image's
    .venv/bin/python -m bench.engine_quality --against /tmp/q-image        # both, compared

The JPEG encoding at q85 is the larger part of the distance to the reference (about
40 dB); what matters is that the engines' figures agree and that the PSNR between
engines is far above it.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench import images

REPO = Path(__file__).resolve().parent.parent
INPUTS = {
    "jpeg12": lambda: images.get("jpeg12").read(),
    "png2": lambda: images.get("png2").read(),
}


def renditions(data: bytes) -> dict[str, bytes]:
    from worker.imaging.process import ImageLimits, process_image

    limits = ImageLimits(max_pixels=100_000_000, max_dimension=20_000, max_frames=200)
    report = process_image(data, "", None, limits, lambda _name: nullcontext())
    return {output.name: output.data for output in report.outputs}


def _lanczos_weights(src: int, dst: int) -> np.ndarray:
    """A (dst, src) matrix of Lanczos-3 weights, support widened by the scale (antialias)."""
    scale = src / dst
    support = 3.0 * max(scale, 1.0)
    weights = np.zeros((dst, src))
    for i in range(dst):
        centre = (i + 0.5) * scale
        lo = max(0, math.floor(centre - support))
        hi = min(src, math.ceil(centre + support))
        x = (np.arange(lo, hi) + 0.5 - centre) / max(scale, 1.0)
        w = np.sinc(x) * np.sinc(x / 3.0) * (np.abs(x) < 3.0)
        weights[i, lo:hi] = w / w.sum()
    return weights


def reference(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """The float64 Lanczos-3 rendition of ``data`` at ``size``, as 8-bit RGB."""
    with Image.open(io.BytesIO(data)) as opened:
        source = opened.convert("RGBA")
    pixels = np.asarray(source, dtype=np.float64) / 255.0
    alpha = pixels[..., 3:4]
    rgb = pixels[..., :3] * alpha + (1.0 - alpha)  # flattened onto white
    rows = _lanczos_weights(rgb.shape[0], size[1])
    cols = _lanczos_weights(rgb.shape[1], size[0])
    out = np.einsum("ij,jkc->ikc", rows, rgb)
    out = np.einsum("lk,ikc->ilc", cols, out)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def decoded(blob: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(blob)) as image:
        return np.asarray(image.convert("RGB"))


def engine_name() -> str:
    from worker.imaging.engine import current

    return current().describe()


def save(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, make in INPUTS.items():
        for name, blob in renditions(make()).items():
            (folder / f"{key}.{name}.jpg").write_bytes(blob)
    (folder / "engine.json").write_text(json.dumps({"engine": engine_name()}))


def compare(against: Path | None) -> list[dict[str, Any]]:
    rows = []
    other = json.loads((against / "engine.json").read_text())["engine"] if against else None
    for key, make in INPUTS.items():
        data = make()
        for name, blob in renditions(data).items():
            ours = decoded(blob)
            ref = reference(data, (ours.shape[1], ours.shape[0]))
            row: dict[str, Any] = {
                "input": key,
                "output": name,
                "size": f"{ours.shape[1]}x{ours.shape[0]}",
                "engine": engine_name(),
                "psnr_vs_reference": round(psnr(ours, ref), 2),
            }
            if against is not None:
                theirs = decoded((against / f"{key}.{name}.jpg").read_bytes())
                row["other_engine"] = other
                row["other_psnr_vs_reference"] = round(psnr(theirs, ref), 2)
                row["psnr_between_engines"] = round(psnr(ours, theirs), 2)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write this engine's renditions here")
    parser.add_argument("--against", type=Path, help="compare with renditions saved here")
    args = parser.parse_args()
    if args.save:
        save(args.save)
        return
    rows = compare(args.against)
    print("| input | output | this engine vs reference | other engine vs reference | between |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['input']} | {row['output']} {row['size']} | {row['psnr_vs_reference']} dB "
            f"({row['engine']}) | {row.get('other_psnr_vs_reference', '')} dB "
            f"({row.get('other_engine', '')}) | {row.get('psnr_between_engines', '')} dB |"
        )


if __name__ == "__main__":
    main()
