"""The job cost model: the attack cases over the cap, ordinary jobs light, one arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.settings import Settings
from chalicelib.media.cost import job_cost, output_size
from chalicelib.media.image_header import ImageHeader
from chalicelib.media.options import parse_options
from worker.imaging.geometry import plan

SETTINGS = Settings.from_env({})
PHOTO = ImageHeader("jpeg", 4032, 3024)


def cost_ms(header: ImageHeader | None, options: dict | None = None, text: str = "Hi") -> float:  # type: ignore[type-arg]
    return job_cost(header, parse_options(options), bool(text.strip())).total_ms


def test_an_ordinary_photo_job_is_light() -> None:
    figure = cost_ms(PHOTO)
    print(f"12 MP photo, default renditions and caption: {figure:.0f} ms")
    assert figure < SETTINGS.heavy_job_work_ms


def test_eight_large_avif_renditions_of_a_tiny_png_are_over_the_cap() -> None:
    # The red team's job: a 268-byte PNG asking for eight 2000x2000 AVIFs (and no
    # caption, to stay within the options' 32 megapixels) held a worker for 29.6 s.
    renditions = [
        {"name": f"r{i}", "width": 2000, "height": 2000, "fit": "cover", "format": "avif"}
        for i in range(8)
    ]
    tiny = ImageHeader("png", 16, 16)
    no_caption = {"enabled": False}
    assert cost_ms(tiny, {"renditions": renditions, "caption": no_caption}) > (
        SETTINGS.max_job_work_ms
    )
    # One of them is a heavy job, not a refused one.
    one = cost_ms(tiny, {"renditions": renditions[:1], "caption": no_caption})
    assert SETTINGS.heavy_job_work_ms < one < SETTINGS.max_job_work_ms


def test_keeping_a_long_large_animation_is_over_the_cap() -> None:
    # 200 frames of 1448x1448 kept in one GIF: 1.85 GB and minutes of one worker.
    gif = ImageHeader("gif", 1448, 1448, frames=200)
    keep = {"renditions": [{"name": "a", "width": 1448, "format": "gif", "keep_animation": True}]}
    assert cost_ms(gif, keep) > SETTINGS.max_job_work_ms
    # The same GIF as a still (first frame) is cheap.
    still = {"renditions": [{"name": "a", "width": 1448, "format": "gif"}]}
    assert cost_ms(gif, still) < SETTINGS.max_job_work_ms


def test_an_unreadable_header_is_priced_as_a_photo() -> None:
    assert cost_ms(None) == pytest.approx(cost_ms(ImageHeader("jpeg", 4000, 3000)))


def test_bigger_and_more_cost_more() -> None:
    small = {"renditions": [{"name": "a", "width": 500, "format": "webp"}]}
    large = {"renditions": [{"name": "a", "width": 2000, "format": "webp"}]}
    more = {"renditions": [{"name": f"a{i}", "width": 500, "format": "webp"} for i in range(3)]}
    assert cost_ms(PHOTO, small) < cost_ms(PHOTO, large)
    assert cost_ms(PHOTO, small) < cost_ms(PHOTO, more)


@given(
    source=st.tuples(st.integers(1, 20_000), st.integers(1, 20_000)),
    width=st.none() | st.integers(1, 4096),
    height=st.none() | st.integers(1, 4096),
    fit=st.sampled_from(["contain", "cover", "fill"]),
)
def test_output_sizes_are_the_planners(
    source: tuple[int, int], width: int | None, height: int | None, fit: str
) -> None:
    if width is None and height is None:
        width = 100
    planned = plan(source, width, height, fit, 4096).size
    priced = output_size(source, width, height, fit)
    # The price leaves out the open side's cap at 4096 (a smaller output costs less).
    assert priced[0] >= planned[0] - 1 and priced[1] >= planned[1] - 1
    if max(priced) <= 4096:
        assert abs(priced[0] - planned[0]) <= 1 and abs(priced[1] - planned[1]) <= 1


def test_placing_a_crop_by_attention_costs_its_map() -> None:
    cover = {"name": "a", "width": 512, "height": 512, "fit": "cover"}
    centred = cost_ms(PHOTO, {"renditions": [cover]})
    auto = cost_ms(PHOTO, {"renditions": [{**cover, "gravity": "auto"}]})
    assert auto == pytest.approx(centred + 10.0)
