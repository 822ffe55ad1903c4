"""Every source size and every fit gives outputs of the planned size (no rounding errors)."""

from __future__ import annotations

import io
from contextlib import contextmanager

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from worker.imaging.process import ImageLimits, process_image

LIMITS = ImageLimits(max_pixels=50_000_000, max_dimension=20_000, max_frames=10)


@contextmanager
def no_timing(_name: str):
    yield


def gradient_jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 3200),
    height=st.integers(1, 3200),
    fit=st.sampled_from(["contain", "cover", "fill"]),
    box=st.tuples(st.integers(1, 1500), st.integers(1, 1500)),
)
def test_any_size_renders(width: int, height: int, fit: str, box: tuple[int, int]) -> None:
    options = {
        "renditions": [
            {"name": "a", "width": box[0], "height": box[1], "fit": fit},
            {"name": "b", "width": 512},
            {"name": "c", "width": 1280, "height": 1280},
        ]
    }
    report = process_image(gradient_jpeg(width, height), "caption", options, LIMITS, no_timing)
    by_name = {output.name: output for output in report.outputs}
    if fit != "contain":
        assert (by_name["a"].width, by_name["a"].height) == box
    assert by_name["a"].width <= box[0] and by_name["a"].height <= box[1]
    # Only a width: the height follows the aspect ratio, and contain never enlarges.
    assert by_name["b"].width == min(512, width)
    assert by_name["b"].height <= height
    assert "captioned" in by_name


def test_the_sizes_a_client_found_broken() -> None:
    for width, height in [(2200, 1800), (2400, 1600), (2100, 1900), (1800, 2200), (3001, 2001)]:
        report = process_image(gradient_jpeg(width, height), "", None, LIMITS, no_timing)
        assert {output.name for output in report.outputs} == {"thumbnail", "preview"}
