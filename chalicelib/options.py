"""Validation of a job's optional ``options`` JSON into a normalized dict (pure; no Pillow).

The API validates at submit time and stores the normalized form; the worker
normalizes again (a normalized dict is valid input and comes back unchanged).

Schema (every key is optional; an unknown key anywhere is an error)::

    {
      "renditions": [                 # replaces the default set; 0..8 entries
        {
          "name": "thumb",            # slug [a-z0-9][a-z0-9_-]{0,39}, unique, not "captioned"
          "width": 512,               # 1..4096; width and/or height is required
          "height": 512,              # 1..4096
          "fit": "contain",           # contain | cover | fill            (default contain)
          "format": "jpeg",           # jpeg | png | webp | avif | gif    (default jpeg)
          "quality": 85,              # 1..100; default jpeg 85, webp 80, avif 60;
                                      #   ignored (null) for the lossless png and gif
          "background": "#ffffff",    # "#rrggbb", "#rgb" or a name (white, black, gray,
                                      #   grey, red, green, blue); alpha is flattened onto
                                      #   it for jpeg                 (default "#ffffff")
          "keep_animation": false     # keep all frames of an animated source; gif/webp only
        }
      ],
      "caption": {                    # the "captioned" output, made when the text is not blank
        "enabled": true,              # false: no captioned output
        "position": "bottom",         # top | bottom | center
        "style": "band",              # band (text on a translucent band) | stroke (outlined text)
        "color": "#ffffff",           # text colour; the band/stroke takes a contrasting one
        "max_font_size": 64,          # 8..256 px; the size is fitted down from it
        "size": 1280,                 # 64..4096: longest side of the captioned image
        "format": "jpeg",             # jpeg | png | webp | avif
        "quality": 85                 # as for renditions
      }
    }

Fits: ``contain`` scales to fit inside the box keeping the aspect ratio and never
upscales; ``cover`` fills the box exactly and crops the centre; ``fill`` stretches to
the box exactly. With only one of width/height the other follows the aspect ratio
(all fits act as ``contain``), capped at 4096.

The defaults, when ``renditions`` is absent: ``thumbnail`` (jpeg, contain, 512x512)
and ``preview`` (jpeg, contain, 1280x1280).

Limits: at most 8 renditions, each side at most 4096 px, and all outputs together at
most 32 megapixels (a side left open counts as 4096), so a client cannot order an
unbounded amount of work.
"""

from __future__ import annotations

import math
import re
from typing import Any

from chalicelib.errors import InvalidOptions
from chalicelib.intake import parse_json, whole_number

MAX_RENDITIONS = 8
MAX_DIMENSION = 4096
MAX_TOTAL_PIXELS = 32_000_000
MAX_OPTIONS_BYTES = 16_384

FITS = ("contain", "cover", "fill")
FORMATS = ("jpeg", "png", "webp", "avif", "gif")
CAPTION_FORMATS = ("jpeg", "png", "webp", "avif")
ANIMATED_FORMATS = ("gif", "webp")
LOSSLESS_FORMATS = ("png", "gif")
POSITIONS = ("top", "bottom", "center")
STYLES = ("band", "stroke")
DEFAULT_QUALITY = {"jpeg": 85, "webp": 80, "avif": 60}
RESERVED_NAMES = frozenset({"captioned"})
COLOR_NAMES = {
    "white": "#ffffff",
    "black": "#000000",
    "gray": "#808080",
    "grey": "#808080",
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
}

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

_RENDITION_KEYS = (
    "name",
    "width",
    "height",
    "fit",
    "format",
    "quality",
    "background",
    "keep_animation",
)
_CAPTION_KEYS = (
    "enabled",
    "position",
    "style",
    "color",
    "max_font_size",
    "size",
    "format",
    "quality",
)

DEFAULT_RENDITIONS: tuple[dict[str, Any], ...] = (
    {"name": "thumbnail", "width": 512, "height": 512, "format": "jpeg"},
    {"name": "preview", "width": 1280, "height": 1280, "format": "jpeg"},
)
DEFAULT_CAPTION: dict[str, Any] = {
    "enabled": True,
    "position": "bottom",
    "style": "band",
    "color": "#ffffff",
    "max_font_size": 64,
    "size": 1280,
    "format": "jpeg",
    "quality": None,
}

_COLOR_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": '"#rrggbb", "#rgb" or one of ' + ", ".join(COLOR_NAMES),
    "anyOf": [{"pattern": f"^{_HEX.pattern}$"}, {"enum": list(COLOR_NAMES)}],
}
_QUALITY_SCHEMA: dict[str, Any] = {
    "type": ["integer", "null"],
    "minimum": 1,
    "maximum": 100,
    "description": "Default jpeg 85, webp 80, avif 60; ignored for png and gif.",
}

# JSON-Schema (draft 2020-12 / OpenAPI 3.1) form of the same rules; the bounds
# that depend on the whole document (unique names, total pixels) are only in code.
OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "renditions": {
            "type": "array",
            "maxItems": MAX_RENDITIONS,
            "description": "Replaces the default thumbnail (512) and preview (1280).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "anyOf": [{"required": ["width"]}, {"required": ["height"]}],
                "properties": {
                    "name": {"type": "string", "pattern": f"^{_NAME.pattern}$"},
                    "width": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_DIMENSION},
                    "height": {
                        "type": ["integer", "null"],
                        "minimum": 1,
                        "maximum": MAX_DIMENSION,
                    },
                    "fit": {"enum": list(FITS), "default": "contain"},
                    "format": {"enum": list(FORMATS), "default": "jpeg"},
                    "quality": _QUALITY_SCHEMA,
                    "background": {**_COLOR_SCHEMA, "default": "#ffffff"},
                    "keep_animation": {
                        "type": "boolean",
                        "default": False,
                        "description": "Only with format gif or webp.",
                    },
                },
            },
        },
        "caption": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean", "default": True},
                "position": {"enum": list(POSITIONS), "default": "bottom"},
                "style": {"enum": list(STYLES), "default": "band"},
                "color": {**_COLOR_SCHEMA, "default": "#ffffff"},
                "max_font_size": {"type": "integer", "minimum": 8, "maximum": 256, "default": 64},
                "size": {
                    "type": "integer",
                    "minimum": 64,
                    "maximum": MAX_DIMENSION,
                    "default": 1280,
                },
                "format": {"enum": list(CAPTION_FORMATS), "default": "jpeg"},
                "quality": _QUALITY_SCHEMA,
            },
        },
    },
}


def parse_options(
    raw: str | bytes | dict[str, Any] | None,
    *,
    max_renditions: int = MAX_RENDITIONS,
    max_dimension: int = MAX_DIMENSION,
) -> dict[str, Any]:
    """Validate ``raw`` (JSON text or an already decoded dict) and return it normalized.

    The result always holds ``renditions`` (a list) and ``caption`` (a dict) with every
    default filled in. Raises ``InvalidOptions`` with ``field=`` naming the culprit.
    """
    document = _decode(raw)
    _check_keys(document, ("renditions", "caption"), "")
    raw_renditions = document.get("renditions")
    if raw_renditions is None:
        raw_renditions = [dict(r) for r in DEFAULT_RENDITIONS]
    if not isinstance(raw_renditions, list):
        raise InvalidOptions("renditions must be a list", field="renditions")
    if len(raw_renditions) > max_renditions:
        raise InvalidOptions(f"at most {max_renditions} renditions are allowed", field="renditions")
    renditions = []
    seen: set[str] = set()
    for index, item in enumerate(raw_renditions):
        rendition = _rendition(item, f"renditions[{index}]", max_dimension)
        if rendition["name"] in seen:
            raise InvalidOptions(
                f"rendition name {rendition['name']!r} is used twice",
                field=f"renditions[{index}].name",
            )
        seen.add(rendition["name"])
        renditions.append(rendition)
    caption = _caption(document.get("caption"), max_dimension)
    _check_total_pixels(renditions, caption, max_dimension)
    return {"renditions": renditions, "caption": caption}


def _decode(raw: str | bytes | dict[str, Any] | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, (str, bytes, bytearray)):
        if len(raw) > MAX_OPTIONS_BYTES:
            raise InvalidOptions(
                f"options must be at most {MAX_OPTIONS_BYTES} bytes", field="options"
            )
        if not raw.strip():
            return {}
        raw = parse_json(raw, InvalidOptions, "options", field="options")
    if not isinstance(raw, dict):
        raise InvalidOptions("options must be a JSON object", field="options")
    return raw


def _check_keys(value: dict[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in value:
        if key not in allowed:
            raise InvalidOptions(
                f"unknown option {key!r}; allowed: {', '.join(allowed)}",
                field=f"{prefix}{key}",
            )


def _rendition(item: Any, path: str, max_dimension: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidOptions("a rendition must be an object", field=path)
    _check_keys(item, _RENDITION_KEYS, f"{path}.")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidOptions(
            "name must be a slug: lowercase letters, digits, '-' or '_', at most 40",
            field=f"{path}.name",
        )
    if name in RESERVED_NAMES:
        raise InvalidOptions(f"name {name!r} is reserved", field=f"{path}.name")
    width = _optional_int(item.get("width"), f"{path}.width", 1, max_dimension)
    height = _optional_int(item.get("height"), f"{path}.height", 1, max_dimension)
    if width is None and height is None:
        raise InvalidOptions("a rendition needs a width or a height", field=f"{path}.width")
    fit = _choice(item.get("fit", "contain"), FITS, f"{path}.fit")
    fmt = _choice(item.get("format", "jpeg"), FORMATS, f"{path}.format")
    keep_animation = _bool(item.get("keep_animation", False), f"{path}.keep_animation")
    if keep_animation and fmt not in ANIMATED_FORMATS:
        raise InvalidOptions(
            "keep_animation needs format gif or webp", field=f"{path}.keep_animation"
        )
    return {
        "name": name,
        "width": width,
        "height": height,
        "fit": fit,
        "format": fmt,
        "quality": _quality(item.get("quality"), fmt, f"{path}.quality"),
        "background": _color(item.get("background", "#ffffff"), f"{path}.background"),
        "keep_animation": keep_animation,
    }


def _caption(value: Any, max_dimension: int) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidOptions("caption must be an object", field="caption")
    _check_keys(value, _CAPTION_KEYS, "caption.")
    merged = {**DEFAULT_CAPTION, **{k: v for k, v in value.items() if v is not None}}
    fmt = _choice(merged["format"], CAPTION_FORMATS, "caption.format")
    return {
        "enabled": _bool(merged["enabled"], "caption.enabled"),
        "position": _choice(merged["position"], POSITIONS, "caption.position"),
        "style": _choice(merged["style"], STYLES, "caption.style"),
        "color": _color(merged["color"], "caption.color"),
        "max_font_size": _int(merged["max_font_size"], "caption.max_font_size", 8, 256),
        "size": _int(merged["size"], "caption.size", 64, max_dimension),
        "format": fmt,
        "quality": _quality(merged["quality"], fmt, "caption.quality"),
    }


def _check_total_pixels(
    renditions: list[dict[str, Any]], caption: dict[str, Any], max_dimension: int
) -> None:
    # A side left open follows the source's aspect ratio, so count it at its cap.
    total = sum((r["width"] or max_dimension) * (r["height"] or max_dimension) for r in renditions)
    if caption["enabled"]:
        total += caption["size"] ** 2
    if total > MAX_TOTAL_PIXELS:
        raise InvalidOptions(
            f"the renditions ask for {math.ceil(total / 1e6)} megapixels in all; "
            f"at most {MAX_TOTAL_PIXELS // 1_000_000} are allowed",
            field="renditions",
        )


def _int(value: Any, field: str, low: int, high: int) -> int:
    value = whole_number(value)
    # bool is an int subclass; true/false as a size is a client mistake.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidOptions(f"{field} must be an integer", field=field)
    if not low <= value <= high:
        raise InvalidOptions(f"{field} must be {low}..{high}", field=field)
    return value


def _optional_int(value: Any, field: str, low: int, high: int) -> int | None:
    return None if value is None else _int(value, field, low, high)


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidOptions(f"{field} must be true or false", field=field)
    return value


def _choice(value: Any, allowed: tuple[str, ...], field: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidOptions(f"{field} must be one of {', '.join(allowed)}", field=field)
    return value


def _quality(value: Any, fmt: str, field: str) -> int | None:
    if value is not None:
        _int(value, field, 1, 100)
    if fmt in LOSSLESS_FORMATS:
        return None
    return DEFAULT_QUALITY[fmt] if value is None else int(value)


def _color(value: Any, field: str) -> str:
    # Exactly what the schema says: a name as listed, or hex digits of either case.
    if isinstance(value, str):
        if value in COLOR_NAMES:
            return COLOR_NAMES[value]
        if _HEX.fullmatch(value):
            digits = value[1:].lower()
            if len(digits) == 3:
                digits = "".join(c * 2 for c in digits)
            return "#" + digits
    raise InvalidOptions(
        f"{field} must be '#rrggbb', '#rgb' or one of {', '.join(COLOR_NAMES)}", field=field
    )
