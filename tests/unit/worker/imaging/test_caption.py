"""The caption's layout: a fixed budget of measurements whatever the text's directions."""

from __future__ import annotations

import pytest
from PIL import Image, ImageFont

from tests.support import textgen
from worker.imaging import caption
from worker.imaging.caption import MAX_CAPTION_CHARS, draw_caption


@pytest.fixture()
def measured(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the font measurements of a draw: raqm layouts and basic ones."""
    counts = {"raqm": 0, "basic": 0}
    real = ImageFont.FreeTypeFont.getlength

    def counting(self: ImageFont.FreeTypeFont, text: str, *args: object, **kw: object) -> float:
        basic = self.layout_engine == ImageFont.Layout.BASIC
        counts["basic" if basic else "raqm"] += 1
        return real(self, text, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageFont.FreeTypeFont, "getlength", counting)
    caption._basic_font.cache_clear()
    return counts


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("size", "spaces"),
    [((3, 2000), False), ((2000, 3), False), ((3, 2000), True), ((640, 480), True)],
)
def test_any_text_within_the_limit_lays_out_in_a_fixed_number_of_measurements(
    measured: dict[str, int], seed: int, size: tuple[int, int], spaces: bool
) -> None:
    text = textgen.mixed_direction(MAX_CAPTION_CHARS + 50, seed=seed, spaces=spaces)
    image = Image.new("RGB", size, (90, 120, 150))
    out = draw_caption(image, text, max_font_size=256)
    assert out.size == image.size
    # Each character is measured once per font size tried (bisection: at most 9
    # sizes, and the final one); no line is laid out again to be measured.
    distinct = len(set(text[:MAX_CAPTION_CHARS])) + 2  # the space and the ellipsis
    assert measured["basic"] <= distinct * 10
    assert measured["raqm"] == 0


def test_a_long_word_is_split_where_it_reaches_the_line() -> None:
    advances = caption.Advances(caption.FONT_FILES[0], 20)
    word = "W" * 50
    lines = caption.wrap(word, advances, advances.width("WWWW") + 1)
    assert lines == ["WWWW"] * 12 + ["WW"]
    assert caption.wrap("one two three", advances, 10_000) == ["one two three"]
