"""Cover-crop windows: compass points, focus, `auto` on hand-marked photos (no network)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from chalicelib.media.geometry import plan
from tests.support import imagegen
from tests.support.subjects import KEEP, SHAPES, Subject, keep_table, load_subjects
from worker.imaging import gravity
from worker.imaging.gravity import GRAVITIES, best_window, cover_size, crop_window

# What the issue asks of `auto`: the subject kept in at least this many of the ten.
REQUIRED = 8

# gravity -> shape -> photo -> share of the subject's box the crop keeps.
Kept = dict[str, dict[str, dict[str, float]]]


def inside(window: tuple[float, float, float, float], size: tuple[int, int]) -> bool:
    left, top, width, height = window
    eps = 1e-6
    return (
        left >= -eps
        and top >= -eps
        and left + width <= size[0] + eps
        and (top + height <= size[1] + eps)
    )


# -- geometry ----------------------------------------------------------------------


def test_gravity_names() -> None:
    assert GRAVITIES == (
        "center",
        "north",
        "northeast",
        "east",
        "southeast",
        "south",
        "southwest",
        "west",
        "northwest",
        "focus",
        "auto",
    )


@pytest.mark.parametrize(
    ("gravity", "expected"),
    [
        # A 400x300 source cut to a square (300x300): 100 px of free room across.
        ("center", (50, 0)),
        ("north", (50, 0)),
        ("south", (50, 0)),
        ("east", (100, 0)),
        ("northeast", (100, 0)),
        ("southeast", (100, 0)),
        ("west", (0, 0)),
        ("northwest", (0, 0)),
        ("southwest", (0, 0)),
    ],
)
def test_compass_on_a_wide_source(gravity: str, expected: tuple[int, int]) -> None:
    assert crop_window((400, 300), 1.0, gravity) == (*expected, 300, 300)


@pytest.mark.parametrize(
    ("gravity", "expected_top"),
    [
        ("center", 250),
        ("east", 250),
        ("west", 250),
        ("north", 0),
        ("northeast", 0),
        ("northwest", 0),
        ("south", 500),
        ("southeast", 500),
        ("southwest", 500),
    ],
)
def test_compass_on_a_tall_source(gravity: str, expected_top: int) -> None:
    # 300x600 to 3:1: a 300x100 strip, 500 px of free room down.
    left, top, width, height = crop_window((300, 600), 3.0, gravity)
    assert (left, width, height) == (0, 300, 100)
    assert top == expected_top


def test_center_is_todays_cover_crop() -> None:
    for source, box in [((4000, 3000), (512, 512)), ((1000, 1047), (1280, 400)), ((7, 3), (5, 9))]:
        left, top, right, bottom = plan(source, box[0], box[1], "cover", 4096).crop
        assert crop_window(source, box, "center") == pytest.approx(
            (left, top, right - left, bottom - top)
        )


@settings(max_examples=200, deadline=None)
@given(
    source=st.tuples(st.integers(1, 20_000), st.integers(1, 20_000)),
    target=st.tuples(st.integers(1, 4096), st.integers(1, 4096)),
    gravity=st.sampled_from([g for g in GRAVITIES if g != "auto"]),
    focus=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_windows_are_inside_and_of_the_exact_aspect(
    source: tuple[int, int], target: tuple[int, int], gravity: str, focus: tuple[float, float]
) -> None:
    window = crop_window(source, target, gravity, focus=focus)
    width, height = window[2:]
    assert inside(window, source)
    assert width > 0 and height > 0
    # One side always spans the source (the largest window), the other follows.
    assert math.isclose(width, source[0], rel_tol=1e-12) or math.isclose(
        height, source[1], rel_tol=1e-12
    )
    assert width / height == pytest.approx(target[0] / target[1], rel=1e-9)


def test_focus_centres_the_window_and_clamps_at_the_edges() -> None:
    # 1000x500 to a square: 500x500, left free in 0..500.
    assert crop_window((1000, 500), 1.0, "focus", focus=(0.5, 0.5))[0] == 250
    assert crop_window((1000, 500), 1.0, "focus", focus=(0.6, 0.0))[0] == 350
    assert crop_window((1000, 500), 1.0, "focus", focus=(0.1, 0.9))[0] == 0
    assert crop_window((1000, 500), 1.0, "focus", focus=(1.0, 0.5))[0] == 500
    # 500x1000 to 2:1: 500x250, top free in 0..750.
    assert crop_window((500, 1000), 2.0, "focus", focus=(0.0, 0.3))[1] == 175
    assert crop_window((500, 1000), 2.0, "focus", focus=(0.0, 0.99))[1] == 750


@pytest.mark.parametrize("focus", [None, (1.2, 0.5), (0.5, -0.1), (math.nan, 0.5)])
def test_focus_needs_a_point_in_the_picture(focus: tuple[float, float] | None) -> None:
    with pytest.raises(ValueError, match="focus"):
        crop_window((100, 100), 2.0, "focus", focus=focus)


def test_unknown_gravity_and_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown gravity"):
        crop_window((100, 100), 1.0, "smart")
    with pytest.raises(ValueError, match="target"):
        crop_window((100, 100), 0.0)
    with pytest.raises(ValueError, match="source"):
        cover_size((0, 100), 1.0)


def test_a_source_of_the_target_shape_is_kept_whole() -> None:
    photo = Image.new("RGB", (300, 100), "red")
    for name in GRAVITIES:
        assert crop_window((300, 100), (600, 200), name, focus=(0, 0), image=photo) == (
            0,
            0,
            300,
            100,
        )


# -- auto ----------------------------------------------------------------------------


def patch_box(size: tuple[int, int], spot: tuple[int, int]) -> tuple[float, float, float, float]:
    r = min(size) // 10
    return spot[0] - r, spot[1] - r, spot[0] + r, spot[1] + r


def holds(window: gravity.Window, box: tuple[float, float, float, float]) -> bool:
    left, top, width, height = window
    return left <= box[0] and top <= box[1] and box[2] <= left + width and box[3] <= top + height


@pytest.mark.parametrize("x", [100, 300, 600, 900, 1100])
def test_auto_keeps_a_busy_patch_anywhere_along_a_wide_picture(x: int) -> None:
    size, spot = (1200, 600), (x, 300)
    window = crop_window(size, 1.0, "auto", image=imagegen.busy_patch(size, spot))
    assert holds(window, patch_box(size, spot))
    # The centre crop (300..900) misses all but the middle patch: this is not luck.
    assert holds(crop_window(size, 1.0, "center"), patch_box(size, spot)) == (x == 600)


@pytest.mark.parametrize("y", [60, 200, 540])
def test_auto_keeps_a_busy_patch_anywhere_down_a_tall_picture(y: int) -> None:
    size, spot = (600, 900), (300, y)
    window = crop_window(size, 3.0, "auto", image=imagegen.busy_patch(size, spot))
    assert holds(window, patch_box(size, spot))


def test_auto_leaves_the_centre_only_as_far_as_it_must() -> None:
    # Every window from left 1700 to 2000 holds the whole patch: the tie goes to the
    # one nearest the centre (to within the two map pixels the patch's blurred edge
    # spreads over).
    size, spot = (4000, 2000), (3500, 1000)
    left = crop_window(size, 1.0, "auto", image=imagegen.busy_patch(size, spot))[0]
    assert 1700 <= left <= 1700 + 2 * 4000 / gravity.ANALYSIS_SIDE


def test_auto_accepts_any_smaller_copy_and_scales_back_to_the_source() -> None:
    # The caller may pass an intermediate it already has: the window is in source
    # pixels and nearly the same whichever copy it was computed on.
    size, spot = (4000, 2000), (3500, 1000)
    full = imagegen.busy_patch(size, spot)
    for copy in (full, full.resize((1280, 640)), full.resize((64, 32), Image.Resampling.BOX)):
        window = crop_window(size, 1.0, "auto", image=copy)
        assert window[2:] == (2000, 2000)
        assert holds(window, patch_box(size, spot))


def test_auto_on_a_flat_or_symmetric_picture_is_the_centre() -> None:
    for image in (
        Image.new("RGB", (800, 400), "white"),
        imagegen.busy_patch((800, 400), (400, 200)),
    ):
        assert crop_window((800, 400), 1.0, "auto", image=image) == crop_window(
            (800, 400), 1.0, "center"
        )


def test_auto_without_an_image_is_the_centre() -> None:
    assert crop_window((800, 400), 1.0, "auto") == crop_window((800, 400), 1.0, "center")


def test_auto_is_deterministic() -> None:
    subject = load_subjects()[0]
    image = subject.open()
    windows = {crop_window(image.size, 3.0, "auto", image=image) for _ in range(5)}
    assert len(windows) == 1


def test_what_transparent_pixels_hide_does_not_count() -> None:
    # Same alpha, different colour under the transparent part: same map, same window.
    size = (1200, 600)
    alpha = Image.new("L", size, 255)
    ImageDraw.Draw(alpha).rectangle((800, 0, 1200, 600), fill=0)
    hidden = imagegen.busy_patch(size, (1000, 300), mode="RGBA")
    plain = imagegen.busy_patch(size, (1000, 300), mode="RGBA")
    ImageDraw.Draw(plain).rectangle((800, 0, 1200, 600), fill=(128, 128, 128, 255))
    hidden.putalpha(alpha)
    plain.putalpha(alpha)
    assert np.array_equal(gravity.attention_map(hidden), gravity.attention_map(plain))
    interest = gravity.attention_map(hidden)
    assert float(interest[:, round(interest.shape[1] * 0.75) :].max()) == 0.0


def test_a_cut_out_on_a_transparent_canvas_is_found() -> None:
    image = Image.new("RGBA", (1200, 600), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((60, 240, 180, 360), fill=(200, 40, 40, 255))
    assert holds(crop_window((1200, 600), 1.0, "auto", image=image), (60, 240, 180, 360))


def test_a_fully_transparent_picture_crops_like_center() -> None:
    image = Image.new("RGBA", (900, 300), (255, 0, 0, 0))
    assert crop_window((900, 300), 1.0, "auto", image=image) == crop_window(
        (900, 300), 1.0, "center"
    )


def test_best_window_is_the_exact_maximum_over_all_positions() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        interest = rng.random((int(rng.integers(3, 30)), int(rng.integers(3, 30))))
        interest = interest.astype(np.float32)
        cols = interest.shape[1]
        w = int(rng.integers(1, cols + 1))
        fx, _ = best_window(interest, w / cols, 1.0)
        sums = [interest[:, x : x + w].sum() for x in range(cols - w + 1)]
        # Whole-pixel windows: the chosen one holds the most (within float rounding),
        # and it starts on a whole pixel or between two equally good ones.
        chosen = fx * (cols - w)
        best = max(sums)
        lo, hi = math.floor(chosen + 1e-9), math.ceil(chosen - 1e-9)
        assert max(sums[lo], sums[hi]) == pytest.approx(best, rel=1e-5)


# -- the acceptance criterion: hand-marked photos --------------------------------------


def auto_window(_subject: Subject, image: Image.Image, aspect: float) -> gravity.Window:
    return crop_window(image.size, aspect, "auto", image=image)


def center_window(_subject: Subject, image: Image.Image, aspect: float) -> gravity.Window:
    return crop_window(image.size, aspect, "center")


@pytest.fixture(scope="module")
def kept() -> Kept:
    return {"auto": keep_table(auto_window), "center": keep_table(center_window)}


def counts(kept: Kept, shape: str) -> tuple[int, int]:
    """How many photos keep their subject with ``auto`` and with ``center``."""

    def count(name: str) -> int:
        return sum(share >= KEEP for share in kept[name][shape].values())

    return count("auto"), count("center")


def test_the_corpus_has_ten_photos_whose_subject_fits_both_shapes() -> None:
    subjects = load_subjects()
    assert len(subjects) >= 10
    for subject in subjects:
        image = subject.open()
        left, top, right, bottom = subject.box
        assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height
        for aspect in SHAPES.values():
            width, height = cover_size(image.size, aspect)
            # A perfect cropper could keep every subject whole.
            assert right - left <= width + 1 and bottom - top <= height + 1, subject.file


@pytest.mark.parametrize("shape", list(SHAPES))
def test_auto_keeps_the_subject_more_often_than_center(kept: Kept, shape: str) -> None:
    auto, center = counts(kept, shape)
    auto_kept, center_kept = kept["auto"][shape], kept["center"][shape]
    rows = "\n".join(
        f"  {name:14} auto {auto_kept[name]:6.3f}  center {center_kept[name]:6.3f}"
        for name in auto_kept
    )
    print(f"\n{shape}: subject kept (>= {KEEP:.0%} of its box) auto {auto}/10, center {center}/10")
    print(rows)
    assert auto > center


@pytest.mark.parametrize("shape", list(SHAPES))
def test_auto_meets_the_issue(kept: Kept, shape: str) -> None:
    # 9 of 10 square and 8 of 10 wide when this was written (center 7 and 2;
    # libvips' attention 7 and 6): docs/BENCHMARKS.md has the photos it loses.
    auto, _ = counts(kept, shape)
    assert auto >= REQUIRED
