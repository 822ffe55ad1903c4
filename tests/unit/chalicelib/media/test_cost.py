"""The job cost model: the attack cases over the cap, ordinary jobs light, one arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core.settings import Settings
from chalicelib.media.cost import JobCost, is_heavy, job_cost, job_queue, planned_outputs
from chalicelib.media.geometry import plan
from chalicelib.media.image_header import ImageHeader
from chalicelib.media.options import MAX_DIMENSION, parse_options

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
def test_the_price_is_of_the_sizes_the_worker_makes(
    source: tuple[int, int], width: int | None, height: int | None, fit: str
) -> None:
    if width is None and height is None:
        width = 100
    options = parse_options(
        {"renditions": [{"name": "a", "width": width, "height": height, "fit": fit}]}
    )
    (priced,) = planned_outputs(ImageHeader("png", *source), options, captioned=False)
    assert priced.size == plan(source, width, height, fit, MAX_DIMENSION).size


HEAVY = {"renditions": [{"name": "a", "width": 2000, "format": "avif"}]}


def test_a_job_over_the_heavy_threshold_waits_in_the_heavy_queue() -> None:
    big = ImageHeader("jpeg", 2400, 1800)
    light, heavy = (job_cost(big, parse_options(o), True) for o in (None, HEAVY))
    assert not is_heavy(light, SETTINGS) and job_queue(light, SETTINGS) == "images"
    assert is_heavy(heavy, SETTINGS) and job_queue(heavy, SETTINGS) == "images-heavy"


@pytest.mark.parametrize(("threshold", "heavy"), [(999, True), (1000, False), (1001, False)])
def test_heavy_means_over_the_threshold(threshold: int, heavy: bool) -> None:
    settings = Settings.from_env({"HEAVY_JOB_WORK_MS": str(threshold), "CELERY_QUEUE": "q"})
    cost = JobCost(decode_ms=500.0, resize_ms=250.0, encode_ms=250.0, fixed_ms=0.0)
    assert is_heavy(cost, settings) is heavy
    assert job_queue(cost, settings) == ("q-heavy" if heavy else "q")


def test_placing_a_crop_by_attention_costs_its_map() -> None:
    cover = {"name": "a", "width": 512, "height": 512, "fit": "cover"}
    centred = cost_ms(PHOTO, {"renditions": [cover]})
    auto = cost_ms(PHOTO, {"renditions": [{**cover, "gravity": "auto"}]})
    assert auto == pytest.approx(centred + 10.0)


def test_the_text_analysis_is_priced_by_the_texts_length() -> None:
    from chalicelib.media.cost import TEXT_MS_PER_1K_CHARS

    header = ImageHeader("jpeg", 64, 48)
    short = job_cost(header, parse_options(None), True, 10)
    long = job_cost(header, parse_options(None), True, 10_000)
    assert long.total_ms - short.total_ms == pytest.approx(TEXT_MS_PER_1K_CHARS * 9.99, abs=0.2)
