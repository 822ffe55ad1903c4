"""The worker's perceptual hash equals imagehash's phash, without importing scipy at run time."""

from __future__ import annotations

import imagehash
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from worker.imaging.facts import perceptual_hash


@settings(max_examples=60, deadline=None)
@given(
    size=st.tuples(st.integers(8, 300), st.integers(8, 300)),
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["RGB", "L", "RGBA"]),
)
def test_equals_imagehash(size: tuple[int, int], seed: int, mode: str) -> None:
    noise = Image.effect_noise(size, 40 + seed % 60).convert(mode)
    gradient = Image.linear_gradient("L").resize(size).convert(mode)
    image = Image.blend(noise, gradient, (seed % 100) / 100)
    assert perceptual_hash(image) == str(imagehash.phash(image))
