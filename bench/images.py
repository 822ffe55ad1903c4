"""Photo-like benchmark images, made once at run time and cached under ``bench/.cache``.

Flat colours compress to nothing and decode in no time, which flatters every
decoder; these images have what photos have: smooth light and colour gradients,
soft large shapes, some hard edges, fine texture and sensor-like noise, and
camera EXIF. The generator is seeded, so every run benchmarks the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CACHE = Path(__file__).resolve().parent / ".cache"
# Bump when the generator changes, so stale cached files are not reused.
VERSION = 2


@dataclass(frozen=True)
class BenchImage:
    """One benchmark input: a name for the report, the file and what it is."""

    key: str
    label: str
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


def _exif(model: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"
    exif[0x0110] = model
    exif[0x0112] = 1
    exif[0x0131] = "bench/images.py"
    exif.get_ifd(0x8769).update({0x9003: "2024:06:01 10:20:30", 0x829D: 1.8, 0x8827: 100})
    return exif.tobytes()


def photo(width: int, height: int, seed: int) -> Image.Image:
    """An RGB picture with a photo's spectrum: gradients, soft shapes, edges, texture, noise."""
    rng = np.random.default_rng(seed)
    # Low frequencies: a random 8x6 colour field blown up smoothly, plus a sky-like
    # vertical light gradient.
    field = Image.fromarray(rng.integers(30, 226, (6, 8, 3), dtype=np.uint8))
    base = np.asarray(field.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)
    light = np.linspace(1.15, 0.75, height, dtype=np.float32)[:, None, None]
    img = Image.fromarray(np.clip(base * light, 0, 255).astype(np.uint8))
    # Shapes: soft blobs (out of focus) and hard-edged polygons (buildings, objects).
    draw = ImageDraw.Draw(img)
    scale = min(width, height)
    for _ in range(40):
        x, y = rng.integers(0, width), rng.integers(0, height)
        r = int(rng.integers(scale // 40, scale // 6))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
        else:
            points = [
                (int(x + rng.integers(-r, r)), int(y + rng.integers(-r, r))) for _ in range(5)
            ]
            draw.polygon(points, fill=color)
    # Soften some of it as a lens would, on a reduced copy to keep generation quick.
    small = img.resize((width // 4, height // 4), Image.Resampling.BILINEAR)
    blurred = small.filter(ImageFilter.GaussianBlur(3)).resize(img.size, Image.Resampling.BICUBIC)
    mask = Image.linear_gradient("L").resize(img.size)
    img = Image.composite(blurred, img, mask)
    # Mid frequencies (foliage, fabric) and per-pixel sensor noise.
    grain = np.clip(rng.normal(128, 18, (height // 3, width // 3)), 0, 255).astype(np.uint8)
    texture = Image.fromarray(grain).resize(img.size, Image.Resampling.BILINEAR)
    texture_arr = np.asarray(texture, np.int16) - 128
    noise = rng.normal(0, 5, (height, width, 1)).astype(np.int16)
    arr = np.asarray(img, dtype=np.int16) + texture_arr[:, :, None] + noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _jpeg(width: int, height: int, seed: int, model: str) -> bytes:
    buffer = io.BytesIO()
    photo(width, height, seed).save(
        buffer, "JPEG", quality=90, subsampling="4:2:0", exif=_exif(model)
    )
    return buffer.getvalue()


def _png_alpha() -> bytes:
    # A cut-out: a photo with an alpha channel that fades and has a hard-edged hole.
    img = photo(1920, 1080, seed=3).convert("RGBA")
    alpha = Image.radial_gradient("L").resize(img.size).point(lambda v: 255 - v)
    ImageDraw.Draw(alpha).rectangle((100, 100, 500, 400), fill=0)
    img.putalpha(alpha)
    buffer = io.BytesIO()
    img.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def _gif() -> bytes:
    # 24 frames of 800x600 panning across a photo, each quantized to its own palette.
    scene = photo(1200, 600, seed=4)
    frames = [
        scene.crop((i * 16, 0, i * 16 + 800, 600)).quantize(256, dither=Image.Dither.NONE)
        for i in range(24)
    ]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    return buffer.getvalue()


def _heic() -> bytes:
    import pillow_heif

    heif = pillow_heif.from_pillow(photo(4032, 3024, seed=5))
    buffer = io.BytesIO()
    heif.save(buffer, quality=85, exif=_exif("BenchPhone HEIC"))
    return buffer.getvalue()


_MAKERS = {
    "jpeg12": ("12 MP JPEG (4000x3000)", "jpg", lambda: _jpeg(4000, 3000, 1, "Bench 12")),
    "jpeg50": ("50 MP JPEG (8192x6144)", "jpg", lambda: _jpeg(8192, 6144, 2, "Bench 50")),
    "png2": ("2 MP PNG with alpha (1920x1080)", "png", _png_alpha),
    "gif": ("animated GIF (800x600, 24 frames)", "gif", _gif),
    "heic": ("12 MP HEIC photo (4032x3024)", "heic", _heic),
}
KEYS = tuple(_MAKERS)


def get(key: str) -> BenchImage:
    """The cached image ``key``, generating it on first use."""
    label, ext, make = _MAKERS[key]
    path = CACHE / f"{key}-v{VERSION}.{ext}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(make())
        tmp.replace(path)
    return BenchImage(key, label, path)


def tiny_jpeg() -> bytes:
    """A small photo (640x480, ~50 KB): the 'tiny job' of the end-to-end benchmark."""
    buffer = io.BytesIO()
    photo(640, 480, seed=6).save(buffer, "JPEG", quality=85, exif=_exif("Bench tiny"))
    return buffer.getvalue()


if __name__ == "__main__":
    for key in KEYS:
        image = get(key)
        print(f"{image.label:40} {image.path.stat().st_size / 1e6:6.2f} MB  {image.path}")
