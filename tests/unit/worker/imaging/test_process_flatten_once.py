"""Alpha flattened before resizing gives the outputs that resizing first, then flattening, gave."""

from __future__ import annotations

import io
from contextlib import nullcontext
from typing import Any

import numpy as np
from PIL import Image

from tests.support import imagegen
from worker.imaging.encode import flatten
from worker.imaging.process import ImageLimits, process_image

LIMITS = ImageLimits(50_000_000, 20_000, 50)


def picture_with_alpha() -> Image.Image:
    """Detail under every level of transparency, fully clear and fully opaque parts."""
    image = imagegen.busy_patch((640, 480), (320, 240)).convert("RGBA")
    alpha = Image.linear_gradient("L").resize((640, 480)).rotate(90, expand=False)
    alpha.paste(0, (0, 0, 100, 480))
    alpha.paste(255, (540, 0, 640, 480))
    image.putalpha(alpha)
    return image


def outputs(source: Image.Image, renditions: list[dict[str, Any]]) -> dict[str, Image.Image]:
    data = imagegen.encoded(source, "PNG")
    report = process_image(data, "", {"renditions": renditions}, LIMITS, lambda _: nullcontext())
    return {o.name: Image.open(io.BytesIO(o.data)) for o in report.outputs}


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = (np.asarray(i.convert("RGB"), np.float64) for i in (a, b))
    return float(10 * np.log10(255**2 / max(((x - y) ** 2).mean(), 1e-9)))


def test_jpeg_outputs_match_resizing_then_flattening() -> None:
    source = picture_with_alpha()
    made = outputs(
        source,
        [
            {"name": "a", "width": 300, "format": "jpeg", "quality": 100, "background": "#204080"},
            {"name": "b", "width": 97, "format": "jpeg", "quality": 100, "background": "#204080"},
        ],
    )
    for name, image in made.items():
        resized = source.resize(image.size, Image.Resampling.LANCZOS, reducing_gap=2.0)
        reference = flatten(resized, "#204080")
        assert psnr(image, reference) > 40, name
    # The clear strip shows the background, the opaque one the picture.
    clear = np.asarray(made["a"].convert("RGB"))[:, :40].reshape(-1, 3).mean(axis=0)
    assert np.allclose(clear, (0x20, 0x40, 0x80), atol=3)


def test_an_output_keeping_alpha_still_gets_it() -> None:
    """With a PNG beside the JPEG, nothing is flattened before resizing."""
    made = outputs(
        picture_with_alpha(),
        [
            {"name": "j", "width": 300, "format": "jpeg"},
            {"name": "p", "width": 300, "format": "png"},
        ],
    )
    assert made["p"].mode == "RGBA"
    alpha = np.asarray(made["p"].getchannel("A"))
    assert alpha[:, :40].max() == 0 and alpha[:, -40:].min() == 255
    assert made["j"].mode == "RGB"
