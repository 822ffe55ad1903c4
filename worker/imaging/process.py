"""One job's image work, bytes in and bytes out: probe, decode once, derive outputs, facts.

``process_image`` runs the stages in order, each a function of its own: plan the
outputs from the header, decode once (within the memory budget), place the crops of
``gravity: auto`` renditions on the decoded picture, resize every still output through
the cascade, draw the caption, compute the facts, resize the frames of kept
animations, and encode.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from chalicelib.core.errors import ImageTooLarge, InvalidOptions
from chalicelib.core.settings import Settings
from chalicelib.media.cost import job_cost
from chalicelib.media.formats import OUTPUT_FORMATS
from chalicelib.media.geometry import CENTERED, Plan, cover_size, pixel_window, plan
from chalicelib.media.image_header import ImageHeader
from chalicelib.media.options import (
    CAPTION_NAME,
    MAX_DIMENSION,
    Caption,
    Encoding,
    Options,
    Rendition,
    parse_options,
)
from worker.heap import keeper as heap_keeper
from worker.imaging import threads
from worker.imaging.animation import (
    GifCoverage,
    duration_of,
    first_frame_uncovered,
    playing_frames,
)
from worker.imaging.caption import draw_caption
from worker.imaging.colour import has_alpha
from worker.imaging.containers import hdr_transfer
from worker.imaging.encode import encode, encode_animation, flatten
from worker.imaging.errors import decoding
from worker.imaging.facts import dominant_colors, perceptual_hash
from worker.imaging.gravity import attention_map, placement
from worker.imaging.hdr import to_sdr
from worker.imaging.png import check_complete
from worker.imaging.png_decode import decode_png, plan_png
from worker.imaging.resize import REDUCING_GAP, cascade
from worker.imaging.source import (
    Source,
    check_decode_budget,
    decode,
    open_source,
    shrink_on_load,
)
from worker.imaging.spng import SpngError

log = logging.getLogger(__name__)

# Side of the small image the colour palette and the perceptual hash are computed on.
FACTS_SIDE = 64
# JPEG DCT scaling only when it saves work: the decode must stay at least this many
# times larger than the largest output.
DRAFT_GAP = 1.0

Stage = Callable[[str], AbstractContextManager[None]]
# An animation's frames, their durations (ms) and its loop count.
Animation = tuple[list[Image.Image], list[int], int]


@dataclass(frozen=True)
class ImageLimits:
    """What a worker accepts: checked from the header before any pixel is decoded."""

    max_pixels: int
    max_dimension: int
    max_frames: int
    # Memory one decode may need (MAX_DECODE_BYTES); the default is the setting's.
    max_decode_bytes: int = Settings.max_decode_bytes
    # The most estimated work one job may order (MAX_JOB_WORK_MS), priced again here
    # from Pillow's reading of the header.
    max_work_ms: int = Settings.max_job_work_ms


@dataclass(frozen=True)
class RenderedOutput:
    """One encoded output image."""

    name: str
    data: bytes
    width: int
    height: int
    format: str  # a name of chalicelib.media.formats.OUTPUT_FORMATS
    content_type: str
    # The region of the upright source the output shows, (left, top, width, height) in
    # whole source pixels: the crop window of a cover rendition, the whole picture else.
    crop: tuple[int, int, int, int]


@dataclass
class ImageReport:
    """The facts about the source and the encoded outputs, in the order asked for."""

    facts: dict[str, Any]
    outputs: list[RenderedOutput] = field(default_factory=list)
    # What the encoders took, summed over the outputs: they run on the imaging threads
    # beside the caption, facts and animation stages, so the "encode" stage's own wait
    # says little.
    encode_ms: float = 0.0


@dataclass
class OutputPlan:
    """One output being made: how it is cut and written, and its picture.

    ``rendition`` is what was asked for (None for the captioned output and the facts'
    small copy); ``encoding`` how it is written (None for the facts' copy: never encoded).
    """

    name: str
    plan: Plan
    encoding: Encoding | None
    rendition: Rendition | None = None
    animated: bool = False
    image: Image.Image | None = None


def process_image(
    data: bytes,
    text: str,
    options: Options | dict[str, Any] | None,
    limits: ImageLimits,
    stage: Stage,
    on_output: Callable[[RenderedOutput], None] | None = None,
) -> ImageReport:
    """Process one source image into its renditions, the captioned image and facts.

    ``options`` is what ``chalicelib.media.options.parse_options`` returns, or its stored
    JSON form (parsed here). Stages are timed through
    ``stage(name)``: probe, decode, attention (only when a ``gravity: auto`` rendition
    has a crop to place), resize, caption, facts, animation, encode. ``on_output`` is
    called with each output as soon as it is encoded (the caller may start storing it
    while the others encode); it may be called from another thread.

    Raises ``UnsupportedImage``, ``ImageTooLarge``, ``CorruptImage`` or
    ``InvalidOptions``; no raw Pillow error escapes.
    """
    opts = parse_options(options)
    caption_text = text.strip() if opts.caption.enabled else ""

    with stage("probe"):
        source = open_source(data, limits.max_pixels, limits.max_dimension, limits.max_frames)
        check_price(source, opts, bool(caption_text), limits)
        outputs = plan_outputs(source, opts, with_caption=bool(caption_text))
        check_animation_volume(source, outputs, limits)
        facts_output = OutputPlan("", _facts_plan(source), None)
    with stage("decode"):
        base, base_scale = decode_once(source, [*outputs, facts_output], limits, data)
        hdr = hdr_signal(source, data)
        if hdr is not None:
            base = to_sdr(base, *hdr)
    header_facts = source_facts(source)
    upright = (source.width, source.height)
    auto = [
        o
        for o in outputs
        if o.rendition is not None and o.rendition.gravity == "auto" and not o.plan.uncropped
    ]
    if auto:
        with stage("attention"):
            place_auto_crops(base, upright, auto)
    stills = [o for o in outputs if not o.animated]
    with stage("resize"):
        background = shared_background(stills)
        if base.mode == "RGBA" and background is not None:
            # Every still output loses its alpha onto the same colour: flatten once,
            # before resizing (compositing onto a flat colour commutes with resampling,
            # and three bands resample far quicker than four premultiplied ones). The
            # facts are taken first: they count only the opaque pixels.
            cascade(base, upright, [facts_output], base_scale)
            base = flatten(base, background)
            cascade(base, upright, stills, base_scale)
        else:
            cascade(base, upright, [*stills, facts_output], base_scale)
    del base
    animated = [o for o in outputs if o.animated]
    if not animated:
        # The decoded picture (often the source image object itself) has served every
        # output: free it before the encoders and the caption allocate theirs.
        source.image.close()
    # Each output is encoded on the imaging threads as soon as its picture is final,
    # while the caption, the facts and the animations are made here.
    encodings = Encodings(upright, on_output)
    try:
        captioned = next((o for o in outputs if o.name == CAPTION_NAME), None)
        encodings.start([o for o in stills if o is not captioned])
        if captioned is not None:
            with stage("caption"):
                add_caption(captioned, caption_text, opts.caption)
            encodings.start([captioned])
        with stage("facts"):
            assert facts_output.image is not None
            facts = {**header_facts, **pixel_facts(facts_output.image), "exif": source.exif}
        if animated:
            with stage("animation"):
                animations = animate(source, animated, hdr)
            encodings.start(animated, animations)
            source.image.close()
        with stage("encode"):
            rendered = encodings.results(outputs)
    except BaseException:
        encodings.abandon()
        raise
    return ImageReport(facts=facts, outputs=rendered, encode_ms=encodings.spent_ms)


class Encodings:
    """Outputs being encoded on the imaging threads; each reported once it is encoded.

    Outputs that share one picture are encoded one after the other in one task:
    Pillow keeps a save's parameters on the image object while it saves.
    """

    def __init__(
        self, upright: tuple[int, int], on_output: Callable[[RenderedOutput], None] | None
    ) -> None:
        self._upright = upright
        self._on_output = on_output
        # Each output's batch (the outputs encoded together) and its place in it.
        self._done: dict[str, tuple[Future[list[RenderedOutput]], int]] = {}
        self.spent_ms = 0.0  # the encoders' time, all outputs
        self._lock = threading.Lock()

    def start(
        self, outputs: list[OutputPlan], animations: dict[str, Animation] | None = None
    ) -> None:
        """Encode ``outputs`` (their frames from ``animations`` when they keep one)."""
        groups: dict[int, list[OutputPlan]] = {}
        for output in outputs:
            groups.setdefault(id(output.image) if output.image else id(output), []).append(output)
        executor = threads.pool()
        for group in groups.values():
            frames = [(animations or {}).get(o.name) for o in group]
            if executor is None:  # one core: encode here and now
                batch: Future[list[RenderedOutput]] = Future()
                batch.set_result(self._encode(group, frames))
            else:
                batch = executor.submit(self._encode, group, frames)
            for i, output in enumerate(group):
                self._done[output.name] = (batch, i)

    def _encode(
        self, group: list[OutputPlan], frames: list[Animation | None]
    ) -> list[RenderedOutput]:
        rendered = []
        for output, animation in zip(group, frames, strict=True):
            started = time.perf_counter()
            done = encode_output(output, animation, self._upright)
            with self._lock:
                self.spent_ms += (time.perf_counter() - started) * 1000
            if self._on_output is not None:
                self._on_output(done)
            rendered.append(done)
        return rendered

    def results(self, outputs: list[OutputPlan]) -> list[RenderedOutput]:
        """Every output encoded, in the order asked for; an encoder's error is raised."""
        return [batch.result()[i] for batch, i in (self._done[o.name] for o in outputs)]

    def abandon(self) -> None:
        """Cancel what has not started and wait for what has: nothing is reported later."""
        batches = {batch for batch, _ in self._done.values()}
        for batch in batches:
            batch.cancel()
        wait(batches)


def shared_background(outputs: list[OutputPlan]) -> str | None:
    """The colour every output is flattened onto, when each one's format drops alpha
    and all name the same background; None otherwise."""
    encodings = [o.encoding for o in outputs if o.encoding is not None]
    if not encodings or len(encodings) < len(outputs) or any(e.keeps_alpha for e in encodings):
        return None
    backgrounds = {e.background for e in encodings}
    return backgrounds.pop() if len(backgrounds) == 1 else None


def plan_outputs(source: Source, opts: Options, with_caption: bool) -> list[OutputPlan]:
    """Every output of the job, in the order asked for, the captioned image last."""
    upright = (source.width, source.height)
    outputs = [
        OutputPlan(
            r.name,
            plan_rendition(upright, r),
            r.encoding,
            rendition=r,
            animated=r.keep_animation and source.animated,
        )
        for r in opts.renditions
    ]
    if with_caption:
        size = opts.caption.size
        window = plan(upright, size, size, "contain", size)
        outputs.append(OutputPlan(CAPTION_NAME, window, opts.caption.encoding))
    return outputs


def check_price(source: Source, opts: Options, captioned: bool, limits: ImageLimits) -> None:
    """Price the job again from what Pillow read (the API priced it from the header bytes
    the client sent) and refuse it over the cap, as the API does."""
    header = ImageHeader(source.format, source.width, source.height, source.frames)
    cost = job_cost(header, opts, captioned)
    if cost.total_ms > limits.max_work_ms:
        raise InvalidOptions(
            f"These options ask for {cost.describe()} from this image; one job may ask "
            f"for at most {limits.max_work_ms / 1000:g} s.",
            field="options",
        )


def plan_rendition(
    upright: tuple[int, int],
    rendition: Rendition,
    interest: NDArray[np.float32] | None = None,
) -> Plan:
    """A rendition's plan, its crop placed by its gravity.

    ``auto`` needs the attention map of the decoded picture (``interest``); before
    it exists (at probe time) the crop is planned centred, which decides the same size
    and scale, and ``place_auto_crops`` moves it once the picture is decoded.
    """
    width, height, fit = rendition.width, rendition.height, rendition.fit
    where = CENTERED
    if fit == "cover" and width is not None and height is not None:
        focus = rendition.focus
        point = (focus.x, focus.y) if focus else None
        window = cover_size(upright, (width, height))
        where = placement(upright, window, rendition.gravity, point, interest)
    return plan(upright, width, height, fit, MAX_DIMENSION, where)


def place_auto_crops(
    base: Image.Image, upright: tuple[int, int], outputs: list[OutputPlan]
) -> None:
    """Move each ``gravity: auto`` crop to where the decoded picture draws the eye.

    One attention map of the decoded first frame serves every such output (and every
    frame of a kept animation: the window does not move while it plays).
    """
    interest = attention_map(base)
    for output in outputs:
        assert output.rendition is not None
        output.plan = plan_rendition(upright, output.rendition, interest)


def _facts_plan(source: Source) -> Plan:
    return plan((source.width, source.height), FACTS_SIDE, FACTS_SIDE, "contain", FACTS_SIDE)


def check_animation_volume(source: Source, outputs: list[OutputPlan], limits: ImageLimits) -> None:
    """Refuse keeping an animation whose frames together exceed the pixel limit."""
    if any(o.animated for o in outputs):
        volume = source.frames * source.canvas[0] * source.canvas[1]
        if volume > limits.max_pixels:
            raise ImageTooLarge(
                f"Keeping the animation means decoding {volume} pixels; "
                f"at most {limits.max_pixels} are allowed."
            )


def decode_once(
    source: Source, outputs: list[OutputPlan], limits: ImageLimits, data: bytes
) -> tuple[Image.Image, tuple[float, float] | None]:
    """The first frame, decoded as small as the largest output allows, within the budget;
    and its pixels per upright source pixel when a decode in bands reduced it by an exact
    factor (None: its size says it, as for a whole decode or a JPEG's DCT scaling).

    The budget is decided once the outputs are planned: a JPEG decodes at their scale,
    a large PNG that passed the strict pre-check in bands shrunk as they arrive
    (``worker.imaging.png_decode``), and every frame counts only when an output keeps
    the animation.
    """
    scale = max(o.plan.scale for o in outputs)
    keep_animation = any(o.animated for o in outputs)
    reduction = shrink_on_load(source, scale, DRAFT_GAP)
    frames = source.frames if keep_animation else 1
    png = plan_png(source, data, scale, frames)
    budget = (limits.max_decode_bytes, limits.max_dimension)
    if png is not None:
        cost = check_decode_budget(
            source, png.reduction, frames, *budget, band_pixels=png.band_pixels
        )
        heap_keeper.make_room(cost.bytes)
        try:
            with decoding():  # as for Pillow's decode: no memory, a too large image
                base = decode_png(source, data, png, limits.max_dimension)
            return base, (1 / png.reduction, 1 / png.reduction) if png.reduction > 1 else None
        except SpngError as exc:
            # What passed the pre-check and libspng refuses (a stream that ends early, a
            # damaged deflate stream under right CRCs): Pillow decodes it as before and
            # says what it is, at full size if that fits the budget.
            log.info("libspng refused a PNG, Pillow decides: %s", exc)
            if png.reduction > 1:
                heap_keeper.make_room(check_decode_budget(source, 1, frames, *budget).bytes)
    else:
        heap_keeper.make_room(check_decode_budget(source, reduction, frames, *budget).bytes)
    base = decode(source, detach=keep_animation)
    if source.format == "png":
        # Pillow leaves the rows of a stream that ends early black, silently.
        check_complete(data)
    if first_frame_uncovered(source.image):
        # The canvas a GIF's first frame leaves undrawn is transparent.
        base = GifCoverage().apply(source.image, base)
    return base, None


def add_caption(output: OutputPlan, text: str, caption: Caption) -> None:
    """Draw the text onto the captioned output's picture."""
    assert output.image is not None
    output.image = draw_caption(
        output.image,
        text,
        position=caption.position,
        style=caption.style,
        color=caption.color,
        max_font_size=caption.max_font_size,
    )


def source_facts(source: Source) -> dict[str, Any]:
    """The ``result.image`` facts the header and the decoder told."""
    image = source.image
    return {
        "width": source.width,
        "height": source.height,
        "format": source.format,
        "mode": image.mode,
        "has_alpha": has_alpha(image) or first_frame_uncovered(image),
        "animated": source.animated,
        "frames": source.frames,
    }


def pixel_facts(small: Image.Image) -> dict[str, Any]:
    """The ``result.image`` facts computed on a small copy of the picture."""
    return {"dominant_colors": dominant_colors(small), "phash": perceptual_hash(small)}


def hdr_signal(source: Source, data: bytes) -> tuple[int, int] | None:
    """(transfer, primaries) of a HEIF/AVIF coded with PQ or HLG and no ICC profile."""
    if source.format not in ("avif", "heif") or source.image.info.get("icc_profile"):
        return None
    return hdr_transfer(data)


def animate(
    source: Source, outputs: list[OutputPlan], hdr: tuple[int, int] | None = None
) -> dict[str, Animation]:
    """Decode every frame once and resize it for each animation-keeping output (HDR
    frames, ``hdr`` their transfer and primaries, turned into SDR first)."""
    results: dict[str, Animation] = {
        o.name: ([], [], int(source.image.info.get("loop", 0) or 0)) for o in outputs
    }
    upright = (source.width, source.height)
    coverage = GifCoverage() if source.format == "gif" else None
    with decoding(source.variant):
        for frame in playing_frames(source.image):
            duration = duration_of(frame)
            rgba = frame.convert("RGBA")
            if source.crop is not None and rgba.size == source.stored_size:
                rgba = rgba.crop(source.crop)
            if coverage is not None:
                rgba = coverage.apply(frame, rgba)
            if hdr is not None:
                rgba = to_sdr(rgba, *hdr)
            if source.transpose is not None:
                rgba = rgba.transpose(source.transpose)
            for output in outputs:
                frames, durations, _ = results[output.name]
                left, top, right, bottom = output.plan.crop
                scale_x = rgba.width / upright[0]
                scale_y = rgba.height / upright[1]
                box = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
                frames.append(
                    rgba.resize(
                        output.plan.size,
                        Image.Resampling.LANCZOS,
                        box=box,
                        reducing_gap=REDUCING_GAP,
                    )
                )
                durations.append(duration)
    return results


def encode_output(
    output: OutputPlan, animation: Animation | None, upright: tuple[int, int]
) -> RenderedOutput:
    """Encode one output (its frames when it keeps an animation); frees its picture."""
    encoding = output.encoding
    assert encoding is not None
    fmt = encoding.format
    if animation is not None:
        frames, durations, loop = animation
        payload = encode_animation(frames, durations, loop, encoding)
        size = frames[0].size
    else:
        assert output.image is not None
        payload = encode(output.image, encoding)
        size = output.image.size
    output.image = None
    return RenderedOutput(
        output.name,
        payload,
        size[0],
        size[1],
        fmt,
        OUTPUT_FORMATS[fmt].mime,
        crop=pixel_window(output.plan, upright),
    )
