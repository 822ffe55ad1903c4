"""What a job will cost, priced from the image's header and the options (pure).

One model for the whole service: the API prices a job at submit, refuses it over
``MAX_JOB_WORK_MS`` (``422 invalid_options`` naming the figures), routes it to the
light or the heavy queue (``is_heavy``, ``job_queue``: the one place that decides)
and charges it to its tenant's hourly work; the worker prices
it again from Pillow's reading of the header and refuses it the same way, so a header
that lied to the API gains nothing.

The unit is the estimated milliseconds of one core of the reference machine (the
2-core VM of docs/BENCHMARKS.md). The weights per megapixel were measured with
``python -m bench.encoders`` (encoding every output format, decoding every input
format); resampling and the caption with ``python -m bench.pipeline``.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core.settings import Settings
from chalicelib.media.formats import INPUT_FORMATS, OUTPUT_FORMATS
from chalicelib.media.geometry import plan
from chalicelib.media.image_header import ImageHeader
from chalicelib.media.options import MAX_DIMENSION, Options

# Decoding and encoding weights, per megapixel, are the formats' own
# (chalicelib/media/formats.py: ``decode_ms_per_mp``, ``encode_ms_per_mp``); a JPEG decodes
# smaller when the outputs allow.
# Lanczos resampling, per megapixel read; drawing a caption, per megapixel drawn on.
RESIZE_MS_PER_MP = 6.0
CAPTION_MS_PER_MP = 10.0
# Placing ``gravity: auto`` crops: one attention map of the decoded picture (2.5 ms
# from a JPEG's reduced decode, 6.8 ms from a full 12 MP one; python -m bench.smartcrop).
ATTENTION_MS = 10.0
# The header, the facts, a short text's analysis and the stores' round trips.
FIXED_MS = 30.0
# The text analysis, per 1,000 characters: 10,000 characters of mixed scripts took
# 337 ms, of Latin sentences 160 ms (the development machine, warm models).
TEXT_MS_PER_1K_CHARS = 40.0
# A source whose header could not be read is priced as a 12 MP photo; the worker
# prices it again from the real header.
UNKNOWN_SIZE = (4000, 3000)


@dataclass(frozen=True)
class PlannedOutput:
    """An output as the price sees it."""

    format: str
    size: tuple[int, int]
    frames: int
    captioned: bool = False

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


@dataclass(frozen=True)
class JobCost:
    """A job's estimated work, in milliseconds of one reference core, by part."""

    decode_ms: float
    resize_ms: float
    encode_ms: float
    fixed_ms: float = FIXED_MS
    text_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.decode_ms + self.resize_ms + self.encode_ms + self.fixed_ms + self.text_ms

    def describe(self) -> str:
        """The figure and its parts, for messages and logs."""
        return (
            f"about {self.total_ms / 1000:.1f} s of work (decoding {self.decode_ms / 1000:.1f} s, "
            f"resampling {self.resize_ms / 1000:.1f} s, encoding {self.encode_ms / 1000:.1f} s)"
        )


def planned_outputs(
    header: ImageHeader | None, options: Options, captioned: bool
) -> list[PlannedOutput]:
    """Every output the (normalized) ``options`` ask of this source."""
    source = (header.width, header.height) if header else UNKNOWN_SIZE
    frames = header.frames if header else 1
    outputs = [
        PlannedOutput(
            r.format,
            plan(source, r.width, r.height, r.fit, MAX_DIMENSION).size,
            frames if r.keep_animation else 1,
        )
        for r in options.renditions
    ]
    caption = options.caption
    if captioned and caption.enabled:
        side = caption.size
        size = plan(source, side, side, "contain", side).size
        outputs.append(PlannedOutput(caption.format, size, 1, captioned=True))
    return outputs


def _jpeg_reduction(scale: float) -> int:
    """The DCT scaling a JPEG decode gets for outputs at ``scale`` (1, 2, 4 or 8)."""
    reduction = 8
    while reduction > 1 and scale * reduction > 1:
        reduction //= 2
    return reduction


def job_cost(
    header: ImageHeader | None, options: Options, captioned: bool, text_chars: int = 0
) -> JobCost:
    """The estimated work of one job from its header, its (normalized) options and the
    length of its text."""
    outputs = planned_outputs(header, options, captioned)
    fmt = header.format if header else "jpeg"
    width, height = (header.width, header.height) if header else UNKNOWN_SIZE
    largest = max((max(o.size[0] / width, o.size[1] / height) for o in outputs), default=0.1)
    reduction = _jpeg_reduction(largest) if fmt == "jpeg" else 1
    decoded_mp = width * height / 1e6 / reduction**2
    animated = [o for o in outputs if o.frames > 1]
    frames = max((o.frames for o in animated), default=1)
    decode_ms = INPUT_FORMATS[fmt].decode_ms_per_mp * decoded_mp * frames
    # The cascade reads the decode about twice; a kept animation resamples every frame.
    resize_ms = RESIZE_MS_PER_MP * decoded_mp * (2 + len(animated) * (frames - 1))
    if any(r.gravity == "auto" for r in options.renditions):
        resize_ms += ATTENTION_MS
    encode_ms = sum(
        (OUTPUT_FORMATS[o.format].encode_ms_per_mp + (CAPTION_MS_PER_MP if o.captioned else 0))
        * o.megapixels
        * o.frames
        for o in outputs
    )
    text_ms = TEXT_MS_PER_1K_CHARS * text_chars / 1000
    return JobCost(
        round(decode_ms, 1), round(resize_ms, 1), round(encode_ms, 1), text_ms=round(text_ms, 1)
    )


def work_limit_seconds(cost_ms: float, settings: Settings) -> float:
    """How long a job priced ``cost_ms`` may run before the worker stops it
    (``work_limit_exceeded``): its price times ``WORK_LIMIT_FACTOR``, at least
    ``WORK_LIMIT_FLOOR_SECONDS`` (a price is an estimate; a cold process, a busy core),
    at most ``TASK_SOFT_TIME_LIMIT`` (the heavy queue's ceiling). A job priced
    0 (a record from before prices) gets the floor."""
    priced = max(0.0, cost_ms) / 1000 * settings.work_limit_factor
    return min(float(settings.task_soft_time_limit), max(settings.work_limit_floor_seconds, priced))


def is_heavy(cost: JobCost, settings: Settings) -> bool:
    """Whether a job is heavy: estimated over ``HEAVY_JOB_WORK_MS``. A heavy job waits in
    the heavy queue and counts against its tenant's heavy jobs in flight."""
    return cost.total_ms > settings.heavy_job_work_ms


def job_queue(cost: JobCost, settings: Settings) -> str:
    """The queue a job of this cost waits in: the heavy one, or ``CELERY_QUEUE``."""
    return settings.heavy_queue if is_heavy(cost, settings) else settings.celery_queue
