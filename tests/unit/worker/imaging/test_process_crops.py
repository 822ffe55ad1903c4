"""Cover crops placed by gravity, end to end in the worker: plans, reported windows, `auto`."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from chalicelib.api.openapi import SCHEMAS
from chalicelib.api.service import JobService
from chalicelib.jobs.status import status_body
from chalicelib.media.geometry import Plan, cover_size, pixel_window, plan
from chalicelib.media.options import COMPASS, parse_options
from chalicelib.tenancy.tenants import Tenant
from tests.support import imagegen
from tests.support.fakes import fake_world
from tests.support.helpers import StageRecorder
from tests.support.subjects import KEEP, SHAPES, kept_share, load_subjects
from worker import tasks
from worker.imaging.process import ImageLimits, ImageReport, RenderedOutput, process_image

LIMITS = ImageLimits(max_pixels=50_000_000, max_dimension=20_000, max_frames=50)


def run(data: bytes, *renditions: dict[str, Any], text: str = "") -> ImageReport:
    return process_image(
        data, text, parse_options({"renditions": list(renditions)}), LIMITS, StageRecorder()
    )


def cover(name: str, width: int, height: int, gravity: str, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "width": width,
        "height": height,
        "fit": "cover",
        "gravity": gravity,
        **more,
    }


def crops(report: ImageReport) -> dict[str, tuple[int, int, int, int]]:
    return {o.name: o.crop for o in report.outputs}


def opened(out: RenderedOutput) -> Image.Image:
    image = Image.open(io.BytesIO(out.data))
    image.load()
    return image.convert("RGB")


def close_to(got: tuple[int, ...], want: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(got, want, strict=True))


def thirds(size: tuple[int, int] = (300, 100), fmt: str = "PNG") -> bytes:
    """Red left third, green middle, blue right third (side by side, or stacked if tall)."""
    width, height = size
    image = Image.new("RGB", size, imagegen.GREEN)
    if width >= height:
        image.paste(imagegen.RED, (0, 0, width // 3, height))
        image.paste(imagegen.BLUE, (2 * width // 3, 0, width, height))
    else:
        image.paste(imagegen.RED, (0, 0, width, height // 3))
        image.paste(imagegen.BLUE, (0, 2 * height // 3, width, height))
    return imagegen.encoded(image, fmt)


# -- planning with a placement ---------------------------------------------------------


@pytest.mark.parametrize(
    ("placement", "left"),
    [((0.0, 0.0), 0.0), ((0.5, 0.5), 50.0), ((1.0, 1.0), 100.0), ((0.25, 0.9), 25.0)],
)
def test_a_placement_moves_the_window_along_the_free_axis(
    placement: tuple[float, float], left: float
) -> None:
    # 400x300 to a square: a 300x300 window with 100 px of room across and none down.
    planned = plan((400, 300), 60, 60, "cover", 4096, placement)
    assert planned.crop == (left, 0.0, left + 300, 300.0)
    assert planned.size == (60, 60) and planned.scale == pytest.approx(0.2)


def test_a_placement_moves_the_window_down_a_tall_source() -> None:
    assert plan((300, 600), 300, 100, "cover", 4096, (0.5, 0.0)).crop == (0, 0, 300, 100)
    assert plan((300, 600), 300, 100, "cover", 4096, (0.5, 1.0)).crop == (0, 500, 300, 600)
    assert plan((300, 600), 300, 100, "cover", 4096, (0.9, 0.2)).crop == (0, 100, 300, 200)


def test_a_placement_past_the_edges_is_clamped() -> None:
    assert plan((400, 300), 60, 60, "cover", 4096, (-1.0, 2.0)).crop == (0, 0, 300, 300)
    assert plan((400, 300), 60, 60, "cover", 4096, (7.0, -3.0)).crop == (100, 0, 400, 300)


@pytest.mark.parametrize(
    ("width", "height", "fit"),
    [(60, 60, "contain"), (60, 20, "fill"), (60, None, "cover"), (None, 20, "cover")],
)
def test_fits_that_crop_nothing_ignore_a_placement(
    width: int | None, height: int | None, fit: str
) -> None:
    assert plan((400, 300), width, height, fit, 4096, (0.0, 1.0)) == plan(
        (400, 300), width, height, fit, 4096
    )


@settings(max_examples=300, deadline=None)
@given(
    source=st.tuples(st.integers(1, 20_000), st.integers(1, 20_000)),
    box=st.tuples(st.integers(1, 4096), st.integers(1, 4096)),
    placement=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_a_placement_changes_where_not_how_much(
    source: tuple[int, int], box: tuple[int, int], placement: tuple[float, float]
) -> None:
    centred = plan(source, box[0], box[1], "cover", 4096)
    placed = plan(source, box[0], box[1], "cover", 4096, placement)
    left, top, right, bottom = placed.crop
    c_left, c_top, c_right, c_bottom = centred.crop
    # Same size, same scale (so the same decode), the window inside the source.
    assert (placed.size, placed.scale, placed.uncropped) == (
        centred.size,
        centred.scale,
        centred.uncropped,
    )
    assert right - left == pytest.approx(c_right - c_left)
    assert bottom - top == pytest.approx(c_bottom - c_top)
    assert left >= -1e-9 and right <= source[0] + 1e-6
    assert top >= -1e-9 and bottom <= source[1] + 1e-6
    # The reported window: whole pixels, inside, never empty, within a pixel of the float one.
    x, y, w, h = pixel_window(placed, source)
    assert x >= 0 and y >= 0 and w >= 1 and h >= 1
    assert x + w <= source[0] and y + h <= source[1]
    assert abs(x - left) <= 1 and abs(y - top) <= 1
    # (A window under a pixel wide still reports one pixel.)
    assert abs(x + w - right) <= 1 or w == 1
    assert abs(y + h - bottom) <= 1 or h == 1


def test_the_reported_window_of_an_uncropped_plan_is_the_whole_picture() -> None:
    for planned in (
        plan((401, 299), 60, 60, "contain", 4096),
        plan((401, 299), 60, 20, "fill", 4096),
        plan((401, 299), 60, None, "cover", 4096),
    ):
        assert pixel_window(planned, (401, 299)) == (0, 0, 401, 299)


def test_the_reported_window_rounds_a_fractional_crop() -> None:
    # The size rounds on its own (10.1 x 9.89 -> 10 x 10); the corner follows, inside.
    planned = Plan((10, 10), (10.4, 0.6, 20.5, 10.49), 1.0, False)
    assert pixel_window(planned, (30, 11)) == (10, 1, 10, 10)
    assert pixel_window(Plan((10, 10), (10.4, 0.6, 20.5, 10.49), 1.0, False), (30, 10)) == (
        10,
        0,
        10,
        10,
    )


def test_every_gravity_reports_the_same_size_for_a_box() -> None:
    # 290 px wide to 3:1 is a 96.67 px tall window wherever it sits.
    sizes = {
        pixel_window(plan((290, 442), 600, 200, "cover", 4096, (0.5, fy)), (290, 442))[2:]
        for fy in (0.0, 0.0459, 0.1, 0.37, 0.5, 0.77, 1.0)
    }
    assert sizes == {(290, 97)}


# -- the crop each output reports, through process_image ---------------------------------


def test_every_fit_reports_the_region_it_shows() -> None:
    data = imagegen.jpeg(400, 300)
    whole = run(
        data,
        {"name": "contain", "width": 200, "height": 200, "fit": "contain"},
        {"name": "fill", "width": 200, "height": 50, "fit": "fill"},
        {"name": "open", "width": 100, "fit": "cover"},
        cover("middle", 200, 200, "center"),
        text="A caption",
    )
    assert crops(whole) == {
        "contain": (0, 0, 400, 300),
        "fill": (0, 0, 400, 300),
        "open": (0, 0, 400, 300),
        "middle": (50, 0, 300, 300),
        "captioned": (0, 0, 400, 300),
    }
    placed = run(
        data,
        cover("left", 200, 200, "west"),
        cover("right", 90, 90, "east"),
        cover("banner", 400, 100, "north"),
        cover("strip", 400, 100, "south"),
        cover("point", 100, 100, "focus", focus={"x": 0.9, "y": 0.5}),
    )
    assert crops(placed) == {
        "left": (0, 0, 300, 300),
        "right": (100, 0, 300, 300),
        "banner": (0, 0, 400, 100),
        "strip": (0, 200, 400, 100),
        "point": (100, 0, 300, 300),  # centred on x=360 as far as the picture allows
    }


@pytest.mark.parametrize(
    ("gravity", "colour"),
    [("west", imagegen.RED), ("center", imagegen.GREEN), ("east", imagegen.BLUE)],
)
def test_the_pixels_come_from_the_reported_window(
    gravity: str, colour: tuple[int, int, int]
) -> None:
    out = run(thirds(), cover("sq", 50, 50, gravity, format="png")).outputs[0]
    assert out.crop == {"west": (0, 0, 100, 100), "center": (100, 0, 100, 100)}.get(
        gravity, (200, 0, 100, 100)
    )
    image = opened(out)
    for x in (2, 47):
        assert close_to(image.getpixel((x, 25)), colour), (gravity, x)  # type: ignore[arg-type]


def test_focus_keeps_the_point_it_names() -> None:
    tall = thirds((100, 300))
    top = run(tall, cover("sq", 40, 40, "focus", focus={"x": 0.5, "y": 0.1}, format="png"))
    bottom = run(tall, cover("sq", 40, 40, "focus", focus={"x": 0.5, "y": 0.95}, format="png"))
    assert top.outputs[0].crop == (0, 0, 100, 100)
    assert bottom.outputs[0].crop == (0, 200, 100, 100)
    assert close_to(opened(top.outputs[0]).getpixel((20, 20)), imagegen.RED)  # type: ignore[arg-type]
    assert close_to(opened(bottom.outputs[0]).getpixel((20, 20)), imagegen.BLUE)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("orientation", "gravity", "crop"),
    [
        # rotated_jpeg is 400x300 as stored; orientations 6 and 8 stand it up as 300x400.
        (1, "north", (50, 0, 300, 300)),
        (6, "north", (0, 0, 300, 300)),
        (6, "south", (0, 100, 300, 300)),
        (8, "northwest", (0, 0, 300, 300)),
    ],
)
def test_windows_are_in_upright_pixels(
    orientation: int, gravity: str, crop: tuple[int, int, int, int]
) -> None:
    report = run(imagegen.rotated_jpeg(orientation=orientation), cover("sq", 60, 60, gravity))
    assert report.outputs[0].crop == crop


def test_compass_points_land_where_the_schema_table_puts_them() -> None:
    # A square from 500x400 has 100 px of room across, from 400x500 100 px down.
    wide, tall = imagegen.jpeg(500, 400), imagegen.jpeg(400, 500)
    for name, (fx, fy) in COMPASS.items():
        assert run(wide, cover("sq", 30, 30, name)).outputs[0].crop == (100 * fx, 0, 400, 400)
        assert run(tall, cover("sq", 30, 30, name)).outputs[0].crop == (0, 100 * fy, 400, 400)


# -- auto ------------------------------------------------------------------------------


def test_auto_has_a_stage_of_its_own_only_when_it_has_a_crop_to_place() -> None:
    data = imagegen.encoded(imagegen.busy_patch((600, 300), (520, 150)), "JPEG")
    for renditions, attention in [
        ([cover("sq", 64, 64, "auto")], True),
        ([cover("sq", 64, 64, "auto"), cover("wide", 300, 100, "auto")], True),
        ([cover("sq", 64, 64, "center")], False),
        ([cover("sq", 64, 64, "east")], False),
        ([cover("same", 60, 30, "auto")], False),  # the source's own shape: nothing to place
        ([{"name": "r", "width": 64}], False),
    ]:
        stages = StageRecorder()
        process_image(data, "Hi", parse_options({"renditions": renditions}), LIMITS, stages)
        expected = ["probe", "decode", "resize", "caption", "facts", "encode"]
        if attention:
            expected.insert(2, "attention")
        assert stages.names == expected, renditions


@pytest.mark.parametrize("x", [80, 520])
def test_auto_finds_a_busy_patch_off_centre(x: int) -> None:
    data = imagegen.encoded(imagegen.busy_patch((600, 300), (x, 150)), "JPEG", quality=95)
    report = run(data, cover("sq", 64, 64, "auto"), cover("mid", 64, 64, "center"))
    left, _, width, _ = report.outputs[0].crop
    r = 30  # the patch's radius
    assert left <= x - r and x + r <= left + width
    assert report.outputs[1].crop == (150, 0, 300, 300)


def test_auto_on_a_picture_of_the_same_shape_keeps_it_whole() -> None:
    data = imagegen.encoded(imagegen.busy_patch((600, 300), (520, 150)), "JPEG")
    assert run(data, cover("same", 200, 100, "auto")).outputs[0].crop == (0, 0, 600, 300)


def test_auto_keeps_one_window_for_every_frame_of_an_animation() -> None:
    # The first frame has the busy patch on the right; the later ones are flat. The
    # window is chosen on the first and holds for the whole animation.
    frames = [imagegen.busy_patch((300, 100), (250, 50)).convert("P")]
    frames += [Image.new("RGB", (300, 100), (v, v, v)).convert("P") for v in (100, 160)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    report = run(
        buffer.getvalue(),
        cover("anim", 50, 50, "auto", format="gif", keep_animation=True),
        cover("still", 50, 50, "auto", format="png"),
    )
    anim, still = report.outputs
    assert anim.crop == still.crop
    left, _, width, _ = anim.crop
    assert width == 100 and left <= 240 and left + width >= 260  # the patch: 240..260
    assert getattr(Image.open(io.BytesIO(anim.data)), "n_frames", 1) == 3


def test_auto_ignores_what_transparent_pixels_hide() -> None:
    # An opaque disc on the left of a transparent canvas; a busy patch under the
    # transparent part on the right must not pull the window.
    image = imagegen.busy_patch((600, 200), (500, 100)).convert("RGBA")
    alpha = Image.new("L", image.size, 0)
    ImageDraw.Draw(alpha).ellipse((40, 60, 120, 140), fill=255)
    image.putalpha(alpha)
    report = run(imagegen.encoded(image, "PNG"), cover("sq", 50, 50, "auto", format="png"))
    left, _, width, _ = report.outputs[0].crop
    assert left <= 40 and left + width >= 120


def auto_and_center_counts() -> dict[str, dict[str, int]]:
    """Subjects kept (at least ``KEEP`` of the box) by auto and center, per shape, with
    a square and a 3:1 rendition in one job per photo, as a client would ask."""
    sizes = {"square": (256, 256), "3:1": (600, 200)}
    names = {"square": "square", "3:1": "wide"}
    counts = {shape: {"auto": 0, "center": 0} for shape in SHAPES}
    for subject in load_subjects():
        data = subject.path.read_bytes()
        for gravity in ("auto", "center"):
            renditions = [cover(names[s], *sizes[s], gravity) for s in SHAPES]
            windows = crops(run(data, *renditions))
            for shape in SHAPES:
                kept = kept_share(windows[names[shape]], subject.box)
                counts[shape][gravity] += kept >= KEEP
    return counts


def test_auto_keeps_the_subject_through_the_whole_worker() -> None:
    # What tests/unit/worker/imaging/test_gravity.py asks of the windows, asked of the
    # crops the worker reports: the attention map is made from the worker's own decode
    # (JPEG DCT-scaled when the outputs allow it), not from the stored file.
    counts = auto_and_center_counts()
    print(f"\nsubjects kept through process_image: {json.dumps(counts)}")
    for shape in SHAPES:
        assert counts[shape]["auto"] >= 8, (shape, counts)
        assert counts[shape]["auto"] > counts[shape]["center"], (shape, counts)


# -- the result and the status answer ------------------------------------------------------


def test_the_status_answer_carries_each_crop_as_the_api_document_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = fake_world()
    monkeypatch.setattr(tasks, "get_context", lambda: world.backends)
    service = JobService.from_backends(world.backends)
    options = {
        "renditions": [
            cover("square", 64, 64, "auto"),
            {"name": "small", "width": 64, "height": 64},
        ]
    }
    data = imagegen.encoded(imagegen.busy_patch((600, 300), (520, 150)), "JPEG")
    submission = service.validate(data, "A text.", json.dumps(options))
    job_id = service.submit(submission, Tenant("alpha", "Alpha")).job_id
    assert tasks.process_job(job_id=job_id) == "completed"
    job = world.store.get(job_id)
    assert job is not None
    body = status_body(job, world.objects, 60)
    outputs = {o["name"]: o for o in body["result"]["outputs"]}
    square = outputs["square"]["crop"]
    assert (square["top"], square["width"], square["height"]) == (0, 300, 300)
    assert square["left"] <= 490 and square["left"] + 300 >= 550  # the patch: 490..550
    assert outputs["small"]["crop"] == {"left": 0, "top": 0, "width": 600, "height": 300}
    assert outputs["captioned"]["crop"] == {"left": 0, "top": 0, "width": 600, "height": 300}
    assert "attention" in body["result"]["timings_ms"]
    schema = {**SCHEMAS["Result"], "components": {"schemas": SCHEMAS}}
    jsonschema.validate(body["result"], schema)
    # The document's rule can fail: an output without its crop is refused.
    del body["result"]["outputs"][0]["crop"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body["result"], schema)


def test_cover_size_is_what_a_cover_plan_keeps() -> None:
    for source, box in [((4000, 3000), (512, 512)), ((1000, 1047), (1280, 400)), ((7, 3), (5, 9))]:
        left, top, right, bottom = plan(source, box[0], box[1], "cover", 4096).crop
        width, height = cover_size(source, box)
        assert math.isclose(right - left, width) and math.isclose(bottom - top, height)
