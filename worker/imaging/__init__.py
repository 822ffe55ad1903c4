"""One job's image work, bytes in and bytes out: probe, decode once, derive outputs, facts."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageSequence

from chalicelib.errors import ImageTooLarge
from chalicelib.formats import OUTPUT_FORMATS
from chalicelib.options import MAX_DIMENSION, parse_options
from chalicelib.settings import Settings
from worker.imaging.caption import draw_caption
from worker.imaging.encode import encode, encode_animation
from worker.imaging.facts import dominant_colors, perceptual_hash
from worker.imaging.geometry import Plan, plan
from worker.imaging.source import (
    Source,
    check_decode_budget,
    decode,
    decoding,
    has_alpha,
    open_source,
    shrink_on_load,
)

__all__ = ["ImageLimits", "ImageReport", "RenderedOutput", "process_image"]

CAPTION_NAME = "captioned"
# Side of the small image the colour palette and the perceptual hash are computed on.
FACTS_SIDE = 64
# An intermediate serves a smaller output only when it holds at least this many times
# the output's pixels per side, so a cascade never costs visible sharpness.
CASCADE_GAP = 2.0
# Pillow first shrinks by an integer factor (cheap box filter) down to this multiple
# of the target, then finishes with Lanczos: near-identical output, much less work.
REDUCING_GAP = 2.0
# JPEG DCT scaling only when it saves work: the decode must stay at least this many
# times larger than the largest output.
DRAFT_GAP = 1.0

# Outputs at least this tall are resampled in horizontal bands on a small thread pool:
# Pillow releases the GIL while it resamples, so a 1280 px preview takes about half
# the wall time on two cores. Smaller outputs are not worth the hand-off.
BAND_MIN_ROWS = 256
MAX_BAND_THREADS = 4

Stage = Callable[[str], AbstractContextManager[None]]

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_threads = 0


@dataclass(frozen=True)
class ImageLimits:
    """What a worker accepts: checked from the header before any pixel is decoded."""

    max_pixels: int
    max_dimension: int
    max_frames: int
    # Memory one decode may need (MAX_DECODE_BYTES); the default is the setting's.
    max_decode_bytes: int = Settings.max_decode_bytes


@dataclass(frozen=True)
class RenderedOutput:
    """One encoded output image."""

    name: str
    data: bytes
    width: int
    height: int
    format: str  # "jpeg" | "png" | "webp" | "avif" | "gif"
    content_type: str


@dataclass
class ImageReport:
    """The facts about the source and the encoded outputs, in the order asked for."""

    facts: dict[str, Any]
    outputs: list[RenderedOutput] = field(default_factory=list)


@dataclass
class _Job:
    name: str
    plan: Plan
    spec: dict[str, Any]
    animated: bool = False
    image: Image.Image | None = None


def process_image(
    data: bytes,
    text: str,
    options: dict[str, Any] | None,
    limits: ImageLimits,
    stage: Stage,
) -> ImageReport:
    """Process one source image into its renditions, the captioned image and facts.

    ``options`` is what ``chalicelib.options.parse_options`` returns (it is normalized
    again here, which leaves a normalized dict unchanged). Stages are timed through
    ``stage(name)``: probe, decode, resize, caption, facts, animation, encode.

    Raises ``UnsupportedImage``, ``ImageTooLarge``, ``CorruptImage`` or
    ``InvalidOptions``; no raw Pillow error escapes.
    """
    opts = parse_options(options)
    caption_opts = opts["caption"]
    caption_text = text.strip() if caption_opts["enabled"] else ""

    with stage("probe"):
        source = open_source(data, limits.max_pixels, limits.max_dimension, limits.max_frames)
        upright = (source.width, source.height)
        jobs = [
            _Job(
                r["name"],
                plan(upright, r["width"], r["height"], r["fit"], MAX_DIMENSION),
                r,
                animated=r["keep_animation"] and source.animated,
            )
            for r in opts["renditions"]
        ]
        if caption_text:
            size = caption_opts["size"]
            caption_spec = {**caption_opts, "background": "#ffffff"}
            jobs.append(
                _Job(CAPTION_NAME, plan(upright, size, size, "contain", size), caption_spec)
            )
        facts_job = _Job("", plan(upright, FACTS_SIDE, FACTS_SIDE, "contain", FACTS_SIDE), {})
        if any(j.animated for j in jobs):
            volume = source.frames * source.canvas[0] * source.canvas[1]
            if volume > limits.max_pixels:
                raise ImageTooLarge(
                    f"Keeping the animation means decoding {volume} pixels; "
                    f"at most {limits.max_pixels} are allowed."
                )

    with stage("decode"):
        scale = max(j.plan.scale for j in [*jobs, facts_job])
        keep_animation = any(j.animated for j in jobs)
        # The budget is decided once the outputs are planned: a JPEG decodes at their
        # scale, and every frame counts only when an output keeps the animation.
        reduction = shrink_on_load(source, scale, DRAFT_GAP)
        decoded_frames = source.frames if keep_animation else 1
        check_decode_budget(
            source, reduction, decoded_frames, limits.max_decode_bytes, limits.max_dimension
        )
        base = decode(source, detach=keep_animation)

    stills = [j for j in jobs if not j.animated and j.name != CAPTION_NAME]
    caption_job = next((j for j in jobs if j.name == CAPTION_NAME), None)
    with stage("resize"):
        _cascade(base, upright, [*stills, facts_job, *([caption_job] if caption_job else [])])
    del base

    if caption_job is not None:
        with stage("caption"):
            assert caption_job.image is not None
            caption_job.image = draw_caption(
                caption_job.image,
                caption_text,
                position=caption_opts["position"],
                style=caption_opts["style"],
                color=caption_opts["color"],
                max_font_size=caption_opts["max_font_size"],
            )

    with stage("facts"):
        assert facts_job.image is not None
        facts = _facts(source, facts_job.image)

    animations: dict[str, tuple[list[Image.Image], list[int], int]] = {}
    animated_jobs = [j for j in jobs if j.animated]
    if animated_jobs:
        with stage("animation"):
            animations = _animate(source, animated_jobs)
    source.image.close()

    outputs: list[RenderedOutput] = []
    with stage("encode"):
        for job in jobs:
            fmt, quality = job.spec["format"], job.spec["quality"]
            if job.name in animations:
                frames, durations, loop = animations[job.name]
                payload = encode_animation(frames, durations, loop, fmt, quality)
                size = frames[0].size
            else:
                assert job.image is not None
                payload = encode(job.image, fmt, quality, job.spec["background"])
                size = job.image.size
            outputs.append(
                RenderedOutput(job.name, payload, size[0], size[1], fmt, OUTPUT_FORMATS[fmt].mime)
            )
            job.image = None
    return ImageReport(facts=facts, outputs=outputs)


def _cascade(base: Image.Image, upright: tuple[int, int], jobs: list[_Job]) -> None:
    """Resize every job from the smallest uncropped image that still holds enough detail."""
    sources: list[tuple[float, Image.Image]] = [(base.width / upright[0], base)]
    for job in sorted(jobs, key=lambda j: -j.plan.scale):
        same = next(
            (img for _, img in sources[1:] if job.plan.uncropped and img.size == job.plan.size),
            None,
        )
        if same is not None:
            # Another output already has exactly this picture (the caption's base is
            # usually the preview): share it; encoding does not change it.
            job.image = same
            continue
        factor, image = sources[0]
        for candidate_factor, candidate in sources:
            if candidate_factor >= job.plan.scale * CASCADE_GAP and candidate_factor < factor:
                factor, image = candidate_factor, candidate
        left, top, right, bottom = job.plan.crop
        # Per-axis factors: a rounded intermediate (1280x1047 from 2200x1800) does not
        # keep the exact aspect ratio, and a box past its edge is an error in Pillow.
        fx, fy = image.width / upright[0], image.height / upright[1]
        box = (
            left * fx,
            top * fy,
            min(right * fx, image.width),
            min(bottom * fy, image.height),
        )
        job.image = _resize(image, job.plan.size, box)
        if job.plan.uncropped:
            sources.append((job.image.width / upright[0], job.image))


def _band_pool() -> ThreadPoolExecutor | None:
    """This process's resampling threads (None on one core), made after any fork."""
    global _pool, _pool_pid, _pool_threads
    threads = min(len(os.sched_getaffinity(0)), MAX_BAND_THREADS)
    if threads < 2:
        return None
    if _pool is None or _pool_pid != os.getpid():
        # A pool inherited through fork (Celery's prefork) has no live threads.
        _pool = ThreadPoolExecutor(threads, thread_name_prefix="resample")
        _pool_pid, _pool_threads = os.getpid(), threads
    return _pool


def _resize(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    """``image.resize(size, LANCZOS, box=box, reducing_gap=REDUCING_GAP)``, on several cores.

    The cheap integer reduction Pillow's ``reducing_gap`` does first is done here once
    for the whole region; the Lanczos pass is then split into horizontal bands of the
    output. Pillow places each output row's filter by its position in the source and
    reads past the band's box, so the bands join without a seam.
    """
    lanczos = Image.Resampling.LANCZOS
    left, top, right, bottom = box
    fx = int((right - left) / size[0] / REDUCING_GAP) or 1
    fy = int((bottom - top) / size[1] / REDUCING_GAP) or 1
    if fx > 1 or fy > 1:
        # Reduce the region plus a margin for the Lanczos support (3 lobes at the
        # remaining scale), aligned to whole blocks.
        mx = 3 * (right - left) / size[0] + fx
        my = 3 * (bottom - top) / size[1] + fy
        x0 = max(0, int((left - mx) // fx) * fx)
        y0 = max(0, int((top - my) // fy) * fy)
        x1 = min(image.width, math.ceil((right + mx) / fx) * fx)
        y1 = min(image.height, math.ceil((bottom + my) / fy) * fy)
        image = image.reduce((fx, fy), box=(x0, y0, x1, y1))
        left, right = (left - x0) / fx, min((right - x0) / fx, image.width)
        top, bottom = (top - y0) / fy, min((bottom - y0) / fy, image.height)
    pool = _band_pool() if size[1] >= BAND_MIN_ROWS else None
    if pool is None:
        return image.resize(size, lanczos, box=(left, top, right, bottom))
    bands = _pool_threads
    rows = [size[1] * i // bands for i in range(bands + 1)]
    step = (bottom - top) / size[1]

    def band(i: int) -> Image.Image:
        box = (left, top + rows[i] * step, right, top + rows[i + 1] * step)
        return image.resize((size[0], rows[i + 1] - rows[i]), lanczos, box=box)

    out = Image.new(image.mode, size)
    for i, part in enumerate(pool.map(band, range(bands))):
        out.paste(part, (0, rows[i]))
    return out


def _facts(source: Source, small: Image.Image) -> dict[str, Any]:
    image = source.image
    return {
        "width": source.width,
        "height": source.height,
        "format": source.format,
        "mode": image.mode,
        "has_alpha": has_alpha(image),
        "animated": source.animated,
        "frames": source.frames,
        "dominant_colors": dominant_colors(small),
        "phash": perceptual_hash(small),
        "exif": source.exif,
    }


def _animate(
    source: Source, jobs: list[_Job]
) -> dict[str, tuple[list[Image.Image], list[int], int]]:
    """Decode every frame once and resize it for each animation-keeping job."""
    results: dict[str, tuple[list[Image.Image], list[int], int]] = {
        j.name: ([], [], int(source.image.info.get("loop", 0) or 0)) for j in jobs
    }
    method = source.transpose
    upright = (source.width, source.height)
    with decoding(source):
        for frame in ImageSequence.Iterator(source.image):
            duration = int(frame.info.get("duration", 100) or 100)
            rgba = frame.convert("RGBA")
            if method is not None:
                rgba = rgba.transpose(method)
            for job in jobs:
                frames, durations, _ = results[job.name]
                left, top, right, bottom = job.plan.crop
                scale_x = rgba.width / upright[0]
                scale_y = rgba.height / upright[1]
                box = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
                frames.append(
                    rgba.resize(
                        job.plan.size,
                        Image.Resampling.LANCZOS,
                        box=box,
                        reducing_gap=REDUCING_GAP,
                    )
                )
                durations.append(duration)
    return results
