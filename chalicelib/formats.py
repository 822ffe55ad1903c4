"""Every image format the service reads or writes, and what is true of each: one table.

The options schema, the OpenAPI document, the encoder, the output keys and the
README all read these tables; adding an output format is one entry in
``OUTPUT_FORMATS`` plus its encoder settings in ``worker/imaging/encode.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputFormat:
    """A format outputs can be written in."""

    name: str
    mime: str
    extension: str
    pillow: str  # Pillow's format name for ``Image.save``
    default_quality: int | None  # None: lossless, a given quality is ignored
    animatable: bool  # may keep every frame of an animated source
    caption: bool  # allowed for the captioned output

    @property
    def lossless(self) -> bool:
        return self.default_quality is None


OUTPUT_FORMATS: dict[str, OutputFormat] = {
    f.name: f
    for f in (
        OutputFormat("jpeg", "image/jpeg", "jpg", "JPEG", 85, animatable=False, caption=True),
        OutputFormat("png", "image/png", "png", "PNG", None, animatable=False, caption=True),
        OutputFormat("webp", "image/webp", "webp", "WEBP", 80, animatable=True, caption=True),
        OutputFormat("avif", "image/avif", "avif", "AVIF", 60, animatable=False, caption=True),
        OutputFormat("gif", "image/gif", "gif", "GIF", None, animatable=True, caption=False),
    )
}
OUTPUT_NAMES = tuple(OUTPUT_FORMATS)
CAPTION_OUTPUT_NAMES = tuple(f.name for f in OUTPUT_FORMATS.values() if f.caption)
ANIMATABLE_OUTPUT_NAMES = tuple(f.name for f in OUTPUT_FORMATS.values() if f.animatable)
