"""Drawing the job's text onto an image: wrapped, size-fitted, legible on any background."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from worker.imaging.encode import hex_to_rgb

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
# Tried in order; the first that has a glyph for every character of the text is used.
# DejaVu Sans covers Latin, Greek and Cyrillic (see worker/fonts/README.md to add more).
FONT_FILES = ("DejaVuSans-Bold.ttf",)

MIN_FONT_SIZE = 8
# Share of the image height the text block may take.
MAX_BLOCK_SHARE = {"top": 0.35, "bottom": 0.35, "center": 0.8}
BAND_ALPHA = 150
ELLIPSIS = "…"


@lru_cache(maxsize=64)
def _font(filename: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / filename), size)


# The longest caption drawn; a longer text is cut with an ellipsis.
MAX_CAPTION_CHARS = 600


def _glyph(filename: str, ch: str) -> bytes:
    canvas = Image.new("L", (24, 24))
    ImageDraw.Draw(canvas).text((2, 2), ch, font=_font(filename, 16), fill=255)
    return canvas.tobytes()


@lru_cache(maxsize=8)
def _notdef(filename: str) -> bytes:
    # U+10FFFF is a noncharacter: every font draws its "missing glyph" box for it.
    return _glyph(filename, "\U0010ffff")


@lru_cache(maxsize=4096)
def _has_glyph(filename: str, ch: str) -> bool:
    # Drawing a character costs more than the rest of a short caption's layout: once.
    return ch.isspace() or _glyph(filename, ch) != _notdef(filename)


def _covers(filename: str, text: str) -> bool:
    return all(_has_glyph(filename, ch) for ch in set(text))


def pick_font(text: str) -> str:
    """The first of ``FONT_FILES`` with a glyph for every character (else the first)."""
    for filename in FONT_FILES:
        if _covers(filename, text):
            return filename
    return FONT_FILES[0]


def contrast_color(color: str) -> tuple[int, int, int]:
    """Black or white, whichever stands out more against ``color``."""
    r, g, b = hex_to_rgb(color)
    luminance = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
    return (0, 0, 0) if luminance > 0.5 else (255, 255, 255)


class Advances:
    """A string's width as the sum of its characters' advances at one size.

    Each character is measured once (with Pillow's basic layout: no bidi runs to
    resolve, no shaping), so laying out any text costs a few operations a character
    whatever its directions or marks. With raqm every ``getlength`` lays out every
    direction run of the string again: a wrap that measured each candidate line and
    bisected long words took 30 s for 600 characters of alternating Hebrew and Latin on
    a 3-pixel-wide image. Kerning and shaping make a drawn line differ from the sum by
    a few pixels at most, which the margin absorbs.
    """

    def __init__(self, filename: str, size: int) -> None:
        self._font = _basic_font(filename, size)
        self._known: dict[str, float] = {}

    def of(self, ch: str) -> float:
        width = self._known.get(ch)
        if width is None:
            width = self._known[ch] = self._font.getlength(ch)
        return width

    def width(self, text: str) -> float:
        return sum(self.of(ch) for ch in text)


@lru_cache(maxsize=64)
def _basic_font(filename: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / filename), size, layout_engine=ImageFont.Layout.BASIC)


def wrap(text: str, advances: Advances, max_width: float) -> list[str]:
    """Greedy word wrap to ``max_width`` pixels; words wider than a line are split.
    Linear in the text: each character's advance is added once or twice."""
    lines: list[str] = []
    space = advances.of(" ")
    for paragraph in text.splitlines():
        line, line_width = "", 0.0
        for word in paragraph.split():
            word_width = advances.width(word)
            candidate = line_width + space + word_width if line else word_width
            if candidate <= max_width:
                line = f"{line} {word}" if line else word
                line_width = candidate
                continue
            if line:
                lines.append(line)
            while len(word) > 1 and word_width > max_width:
                cut, cut_width = _longest_prefix(word, advances, max_width)
                lines.append(word[:cut])
                word, word_width = word[cut:], word_width - cut_width
            line, line_width = word, word_width
        if line:
            lines.append(line)
    return lines


def _longest_prefix(word: str, advances: Advances, max_width: float) -> tuple[int, float]:
    """The longest prefix of ``word`` that fits (at least one character), and its width."""
    cut, width = 1, advances.of(word[0])
    while cut < len(word):
        wider = width + advances.of(word[cut])
        if wider > max_width:
            break
        cut, width = cut + 1, wider
    return cut, width


def _layout(
    text: str, filename: str, size: int, max_width: float, max_height: float
) -> tuple[list[str], int, int, bool]:
    font = _font(filename, size)
    lines = wrap(text, Advances(filename, size), max_width)
    ascent, descent = font.getmetrics()
    line_height = ascent + descent
    spacing = round(size * 0.2)
    block = len(lines) * line_height + max(0, len(lines) - 1) * spacing
    return lines, line_height, spacing, block <= max_height


def draw_caption(
    image: Image.Image,
    text: str,
    *,
    position: str = "bottom",
    style: str = "band",
    color: str = "#ffffff",
    max_font_size: int = 64,
) -> Image.Image:
    """Return a copy of ``image`` with ``text`` drawn on it.

    The font size is the largest up to ``max_font_size`` at which the wrapped text fits
    its share of the image; text that does not fit even at the smallest size is cut
    with an ellipsis.
    """
    if len(text) > MAX_CAPTION_CHARS:
        # More would not be legible at any size, and laying it out costs seconds.
        text = text[: MAX_CAPTION_CHARS - 1].rstrip() + "…"
    width, height = image.size
    margin = max(2, round(min(width, height) * 0.03))
    max_width = max(1, width - 2 * margin)
    max_height = height * MAX_BLOCK_SHARE[position]
    filename = pick_font(text)

    # The largest size that fits, by bisection: a smaller size never needs more room.
    low, high = MIN_FONT_SIZE, max(MIN_FONT_SIZE, min(max_font_size, height // 3))
    while low < high:
        mid = (low + high + 1) // 2
        if _layout(text, filename, mid, max_width, max_height)[3]:
            low = mid
        else:
            high = mid - 1
    size = low
    font = _font(filename, size)
    lines, line_height, spacing, fits = _layout(text, filename, size, max_width, max_height)
    if not fits:
        advances = Advances(filename, size)
        lines = _truncate(lines, advances, max_width, max_height, line_height, spacing)
    block = len(lines) * line_height + max(0, len(lines) - 1) * spacing

    pad = max(2, size // 3)
    if position == "top":
        top = margin + pad
    elif position == "bottom":
        top = height - margin - pad - block
    else:
        top = (height - block) // 2
    fill = (*hex_to_rgb(color), 255)
    backdrop = contrast_color(color)

    stroke = 0 if style == "band" else max(1, round(size * 0.08))
    band = None
    if style == "band":
        band_top = 0 if position == "top" else top - pad
        band_bottom = height if position == "bottom" else top + block + pad
        band = (0, band_top, width, band_bottom)
    placed = []
    y = top
    for line in lines:
        placed.append((line, y))
        y += line_height + spacing
    # Only the rows the band and the glyphs touch are composited: the rest of the
    # picture stays as it is (alpha_composite of a transparent overlay changes nothing),
    # which saves converting and compositing the whole picture.
    rows: list[float] = [band[1], band[3]] if band else []
    for line, y in placed:
        _, ink_top, _, ink_bottom = font.getbbox(line, anchor="ma", stroke_width=stroke)
        rows += [y + ink_top, y + ink_bottom]
    y0, y1 = max(0, math.floor(min(rows))), min(height, math.ceil(max(rows)) + 1)
    if y1 <= y0:
        return image.copy()

    overlay = Image.new("RGBA", (width, y1 - y0), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    if band is not None:
        draw.rectangle((0, band[1] - y0, width, band[3] - y0), fill=(*backdrop, BAND_ALPHA))
    for line, y in placed:
        draw.text(
            (width / 2, y - y0),
            line,
            font=font,
            fill=fill,
            anchor="ma",
            stroke_width=stroke,
            stroke_fill=(*backdrop, 255),
        )
    region = image.crop((0, y0, width, y1)).convert("RGBA")
    region.alpha_composite(overlay)
    result = image.copy()
    result.paste(region if image.mode == "RGBA" else region.convert(image.mode), (0, y0))
    return result


def _truncate(
    lines: list[str],
    advances: Advances,
    max_width: float,
    max_height: float,
    line_height: int,
    spacing: int,
) -> list[str]:
    keep = max(1, int((max_height + spacing) // (line_height + spacing)))
    kept = lines[:keep]
    last = kept[-1]
    width = advances.width(last + ELLIPSIS)
    while last and width > max_width:
        width -= advances.of(last[-1])
        last = last[:-1]
    kept[-1] = last.rstrip() + ELLIPSIS
    return kept
