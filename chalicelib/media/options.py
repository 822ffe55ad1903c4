"""A job's ``options``: the JSON Schema that states them, and their validation (pure; no Pillow).

``OPTIONS_SCHEMA`` is the one statement of the options: the validator compiled
from it, the OpenAPI document (``components.schemas.Options``) and the options
table of docs/API.md all come from it. Only what a schema cannot say is code
here: rendition names unique, ``keep_animation`` only for an animatable format,
the per-format default quality, and the total work (``MAX_TOTAL_PIXELS``).

``parse_options`` returns typed, frozen ``Options``: a ``Rendition`` per rendition
and the ``Caption``, each field a property of the schema (a test holds them equal),
and each with the ``Encoding`` its output is written with. The API validates at
submit time and stores the normalized form (``Options.to_dict()``, every default
filled in); the worker parses it again, which gives the same ``Options``.

To add an option: add it to the schema below, then to ``Rendition`` or ``Caption``
(the constructor call in ``parse_options`` fails without it); if the encoder needs
it, to ``Encoding`` too, and mypy names every place that builds one.

Fits: ``contain`` scales to fit inside the box keeping the aspect ratio and never
upscales; ``cover`` fills the box exactly and crops where ``gravity`` says (the
centre by default); ``fill`` stretches to the box exactly. With only one of
width/height the other follows the aspect ratio (all fits act as ``contain``),
capped at 4096. A ``gravity`` other than ``center`` is refused where nothing is
cropped (``contain``, ``fill``, an open side) rather than ignored.
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from chalicelib.core.errors import InvalidOptions
from chalicelib.core.parsing import parse_json, whole_number
from chalicelib.media.formats import (
    ANIMATABLE_OUTPUT_NAMES,
    CAPTION_OUTPUT_NAMES,
    OUTPUT_FORMATS,
    OUTPUT_NAMES,
)

MAX_RENDITIONS = 8
MAX_DIMENSION = 4096
MAX_TOTAL_PIXELS = 32_000_000
MAX_OPTIONS_BYTES = 16_384

COLOR_NAMES = {
    "white": "#ffffff",
    "black": "#000000",
    "gray": "#808080",
    "grey": "#808080",
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
}
CAPTION_NAME = "captioned"
# The captioned output is drawn on the upright picture; a format without alpha
# flattens it onto white.
CAPTION_BACKGROUND = "#ffffff"

# Where each compass point puts a cover crop's window, as fractions of the free room
# on each axis (0 = flush left or top, 1 = flush right or bottom). Names as libvips
# and sharp spell them (imgproxy's "no", "noea", ... and thumbor's halign/valign map
# onto the same nine). The worker's geometry reads the fractions from here.
COMPASS: dict[str, tuple[float, float]] = {
    "center": (0.5, 0.5),
    "north": (0.5, 0.0),
    "northeast": (1.0, 0.0),
    "east": (1.0, 0.5),
    "southeast": (1.0, 1.0),
    "south": (0.5, 1.0),
    "southwest": (0.0, 1.0),
    "west": (0.0, 0.5),
    "northwest": (0.0, 0.0),
}
#: Every gravity a cover rendition may name: the compass, a focus point, and ``auto``.
GRAVITIES: tuple[str, ...] = (*COMPASS, "focus", "auto")

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

DEFAULT_RENDITIONS: tuple[dict[str, Any], ...] = (
    {"name": "thumbnail", "width": 512, "height": 512},
    {"name": "preview", "width": 1280, "height": 1280},
)

_COLOR: dict[str, Any] = {
    "type": "string",
    "description": '"#rrggbb", "#rgb" or one of ' + ", ".join(COLOR_NAMES) + ".",
    "anyOf": [{"pattern": f"^{_HEX.pattern}$"}, {"enum": list(COLOR_NAMES)}],
}
_QUALITY: dict[str, Any] = {
    "type": ["integer", "null"],
    "minimum": 1,
    "maximum": 100,
    "description": "Lossy formats' quality; default "
    + ", ".join(f"{f.name} {f.default_quality}" for f in OUTPUT_FORMATS.values() if not f.lossless)
    + "; ignored for the lossless ones.",
}
_SIDE: dict[str, Any] = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_DIMENSION}
_FRACTION: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}

# The rules that tie gravity, focus and fit together, each an "anyOf" of the allowed
# shapes (an "if"/"then" or a "not" beside multipart binary trips schemathesis'
# coverage phase). ``_as_invalid_options`` recognises a broken one and names the field.
_GRAVITY_RULES: list[dict[str, Any]] = [
    {
        # focus goes with gravity "focus", and only with it.
        "anyOf": [
            {
                "required": ["gravity", "focus"],
                "properties": {"gravity": {"const": "focus"}, "focus": {"type": "object"}},
            },
            {
                "properties": {
                    "gravity": {"enum": [g for g in GRAVITIES if g != "focus"]},
                    "focus": {"type": "null"},
                }
            },
        ]
    },
    {
        # A gravity other than center places a crop: only a cover box with both sides has one.
        "anyOf": [
            {"properties": {"gravity": {"const": "center"}}},
            {
                "required": ["fit", "width", "height"],
                "properties": {
                    "fit": {"const": "cover"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                },
            },
        ]
    },
]

# JSON Schema (draft 2020-12 / OpenAPI 3.1, also valid draft-07 for the compiled
# validator). Every key is optional unless required; an unknown key is an error.
OPTIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "renditions": {
            "type": "array",
            "maxItems": MAX_RENDITIONS,
            "description": "Replaces the default set: thumbnail (512, jpeg) and preview "
            "(1280, jpeg). Names must be unique.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "anyOf": [{"required": ["width"]}, {"required": ["height"]}],
                "allOf": _GRAVITY_RULES,
                "properties": {
                    "name": {
                        "type": "string",
                        # A slug, and not the captioned output's name (a lookahead: a
                        # "not" keyword trips schemathesis' coverage phase on multipart).
                        "pattern": f"^(?!{CAPTION_NAME}$)[a-z0-9][a-z0-9_-]{{0,39}}$",
                        "description": f"A slug, unique, not {CAPTION_NAME!r}.",
                    },
                    "width": {**_SIDE, "description": "Box width; width and/or height."},
                    "height": {**_SIDE, "description": "Box height; width and/or height."},
                    "fit": {
                        "enum": ["contain", "cover", "fill"],
                        "default": "contain",
                        "description": "contain: inside the box, never upscaled; cover: fills "
                        "the box, cropped where gravity says; fill: stretched to the box.",
                    },
                    "gravity": {
                        "enum": list(GRAVITIES),
                        "default": "center",
                        "description": "Where a cover crop's window sits: center; a compass "
                        "point pushes it to that side or corner; focus centres it on `focus`; "
                        "auto finds what draws the eye (edges, skin tones, saturated colour). "
                        "Other than center only with fit cover and both width and height.",
                    },
                    "focus": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "required": ["x", "y"],
                        "properties": {"x": _FRACTION, "y": _FRACTION},
                        "description": "With gravity focus, and only then: the point to keep "
                        "in the crop, as fractions of the width and height from the top left, "
                        'e.g. `{"x": 0.3, "y": 0.2}`.',
                    },
                    "format": {"enum": list(OUTPUT_NAMES), "default": "jpeg"},
                    "quality": _QUALITY,
                    "background": {
                        **_COLOR,
                        "default": "#ffffff",
                        "description": "Alpha is flattened onto it for formats without alpha; "
                        "GIF composites partly transparent pixels onto it.",
                    },
                    "keep_animation": {
                        "type": "boolean",
                        "default": False,
                        "description": "Keep every frame of an animated source; only with "
                        + " or ".join(ANIMATABLE_OUTPUT_NAMES)
                        + ".",
                    },
                },
            },
        },
        "caption": {
            "type": "object",
            "additionalProperties": False,
            "description": "The captioned output: the text drawn on the image (not made for "
            "a blank text).",
            "properties": {
                "enabled": {
                    "type": "boolean",
                    "default": True,
                    "description": "false: no captioned output.",
                },
                "position": {"enum": ["top", "bottom", "center"], "default": "bottom"},
                "style": {
                    "enum": ["band", "stroke"],
                    "default": "band",
                    "description": "band: on a translucent band; stroke: outlined text.",
                },
                "color": {
                    **_COLOR,
                    "default": "#ffffff",
                    "description": "Text colour; the band or stroke takes a contrasting one.",
                },
                "max_font_size": {
                    "type": "integer",
                    "minimum": 8,
                    "maximum": 256,
                    "default": 64,
                    "description": "px; the font size is fitted down from it to the box.",
                },
                "size": {
                    "type": "integer",
                    "minimum": 64,
                    "maximum": MAX_DIMENSION,
                    "default": 1280,
                    "description": "Longest side of the captioned image.",
                },
                "format": {"enum": list(CAPTION_OUTPUT_NAMES), "default": "jpeg"},
                "quality": _QUALITY,
            },
        },
    },
}
OPTIONS_SCHEMA["description"] = (
    "All outputs together may total at most "
    f"{MAX_TOTAL_PIXELS // 1_000_000} megapixels (an open side counts as {MAX_DIMENSION})."
)


@functools.cache
def _validator() -> Callable[[Any], Any]:
    """The schema compiled to Python, on first use (cold starts that read no options
    never pay for it). It fills every default in."""
    import fastjsonschema

    schema: Callable[[Any], Any] = fastjsonschema.compile(OPTIONS_SCHEMA, use_default=True)
    return schema


Fit = Literal["contain", "cover", "fill"]


@dataclass(frozen=True)
class Focus:
    """The point a ``gravity: focus`` crop keeps, as fractions from the top left."""

    x: float
    y: float


@dataclass(frozen=True)
class Encoding:
    """How one output is written: everything the encoder reads about it."""

    format: str  # a name of OUTPUT_FORMATS
    quality: int | None  # None for a lossless format
    background: str  # "#rrggbb" that alpha is flattened onto when it is not kept

    @property
    def keeps_alpha(self) -> bool:
        """Whether the output keeps its alpha; else it is flattened onto ``background``."""
        return OUTPUT_FORMATS[self.format].alpha


@dataclass(frozen=True)
class Rendition:
    """One rendition as asked for, normalized: the schema's ``renditions`` item."""

    name: str
    width: int | None
    height: int | None
    fit: Fit
    gravity: str  # one of GRAVITIES
    focus: Focus | None
    format: str
    quality: int | None
    background: str
    keep_animation: bool

    @property
    def encoding(self) -> Encoding:
        return Encoding(format=self.format, quality=self.quality, background=self.background)


@dataclass(frozen=True)
class Caption:
    """The captioned output as asked for, normalized: the schema's ``caption``."""

    enabled: bool
    position: Literal["top", "bottom", "center"]
    style: Literal["band", "stroke"]
    color: str
    max_font_size: int
    size: int
    format: str
    quality: int | None

    @property
    def encoding(self) -> Encoding:
        return Encoding(format=self.format, quality=self.quality, background=CAPTION_BACKGROUND)


@dataclass(frozen=True)
class Options:
    """A job's options, validated and normalized (what ``parse_options`` returns)."""

    renditions: tuple[Rendition, ...]
    caption: Caption

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as stored in the job record; ``parse_options`` reads it back."""
        return {"renditions": [asdict(r) for r in self.renditions], "caption": asdict(self.caption)}


def parse_options(raw: str | bytes | dict[str, Any] | Options | None) -> Options:
    """Validate ``raw`` (JSON text, a decoded dict, or ``Options`` already) and return it
    normalized and typed.

    Every default is filled in: without ``renditions`` the default ones, without
    ``caption`` the default caption. Raises ``InvalidOptions`` with ``field=`` naming
    the culprit.
    """
    if isinstance(raw, Options):
        return raw
    document = copy.deepcopy(_decode(raw))
    document.setdefault("renditions", [dict(r) for r in DEFAULT_RENDITIONS])
    document.setdefault("caption", {})
    validate = _validator()
    from fastjsonschema import JsonSchemaValueException

    try:
        validate(document)
    except JsonSchemaValueException as exc:
        raise _as_invalid_options(exc, document) from None
    renditions = [_normalize(r, f"renditions[{i}]") for i, r in enumerate(document["renditions"])]
    names = [r["name"] for r in renditions]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise InvalidOptions(
                f"rendition name {name!r} is used twice", field=f"renditions[{index}].name"
            )
    caption = _normalize(document["caption"], "caption")
    _check_total_pixels(renditions, caption)
    return Options(
        renditions=tuple(
            Rendition(**{**r, "focus": Focus(**r["focus"]) if r["focus"] else None})
            for r in renditions
        ),
        caption=Caption(**caption),
    )


def decode_options(raw: str | bytes | dict[str, Any] | None) -> dict[str, Any]:
    """``raw`` as the options document it holds (not yet checked against the schema):
    ``InvalidOptions`` for JSON that is not an object, or over ``MAX_OPTIONS_BYTES``."""
    return copy.deepcopy(_decode(raw))


def merge_options(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A preset's document with a request's top-level keys laid over it (a request's
    ``renditions`` replaces the preset's list whole: lists have no keys to merge)."""
    return {**copy.deepcopy(base), **copy.deepcopy(override)}


def _decode(raw: str | bytes | dict[str, Any] | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str | bytes | bytearray):
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


def _as_invalid_options(exc: ValueError, document: dict[str, Any]) -> InvalidOptions:
    """The validator's error as ``InvalidOptions`` naming the field in the options' terms."""
    path = _path(getattr(exc, "path", ["data"])[1:], document)
    rule = getattr(exc, "rule", "")
    definition = getattr(exc, "rule_definition", None)
    value = getattr(exc, "value", None)
    field = _field(path)
    gravity_error = _gravity_error(exc, path, document)
    if gravity_error is not None:
        return gravity_error
    if rule == "additionalProperties" and isinstance(value, dict):
        known = list(getattr(exc, "definition", {}).get("properties", {}))
        unknown = sorted(str(k) for k in value if k not in known)
        field = _field([*path, unknown[0] if unknown else "?"])
        return InvalidOptions(
            f"unknown option {field!r}; allowed here: {', '.join(known)}", field=field
        )
    if rule == "required" and isinstance(value, dict) and isinstance(definition, list):
        missing = [k for k in definition if k not in value]
        field = _field([*path, missing[0] if missing else "?"])
        return InvalidOptions(f"{field} is required", field=field)
    if rule == "anyOf" and path[-1:] in (["background"], ["color"]):
        return InvalidOptions(
            f"{field} must be '#rrggbb', '#rgb' or one of {', '.join(COLOR_NAMES)}", field=field
        )
    if rule == "anyOf":  # a rendition with neither side
        field = _field([*path, "width"])
        return InvalidOptions("a rendition needs a width or a height", field=field)
    if rule == "pattern" and path[-1:] == ["name"] and value == CAPTION_NAME:
        return InvalidOptions(f"the name {CAPTION_NAME!r} is reserved", field=field)
    # The validator says "data.renditions[0].width must be ...": keep what it says.
    rule_text = str(getattr(exc, "message", "")).partition(" ")[2] or "is invalid"
    field = field or "options"
    return InvalidOptions(f"{field} {rule_text}", field=field)


@functools.cache
def _validator_without_gravity_rules() -> Callable[[Any], Any]:
    """The renditions' schema without the gravity rules: what a rendition that breaks one
    is checked against first, so that a plainly wrong value is named as such."""
    import fastjsonschema

    item = dict(OPTIONS_SCHEMA["properties"]["renditions"]["items"])
    del item["allOf"]
    schema = {"type": "object", "properties": {"renditions": {"type": "array", "items": item}}}
    validate: Callable[[Any], Any] = fastjsonschema.compile(schema)
    return validate


def _gravity_error(exc: ValueError, path: list[str | int], document: Any) -> InvalidOptions | None:
    """A broken gravity rule as the field to change, and the rule in words; else None."""
    rules = [rule["anyOf"] for rule in _GRAVITY_RULES]
    if getattr(exc, "rule", "") != "anyOf" or getattr(exc, "rule_definition", None) not in rules:
        return None
    from fastjsonschema import JsonSchemaValueException

    try:
        _validator_without_gravity_rules()(copy.deepcopy({"renditions": document["renditions"]}))
    except JsonSchemaValueException as plain:
        return _as_invalid_options(plain, document)  # e.g. an unknown gravity, fit or side
    rendition = document["renditions"][path[1]]
    prefix = _field(path[:2])
    gravity, focus = rendition.get("gravity"), rendition.get("focus")
    if gravity == "focus" and not isinstance(focus, dict):
        wrong = "is required" if focus is None else "must be an object"
        return InvalidOptions(
            f'{prefix}.focus {wrong} with gravity "focus": {{"x": 0..1, "y": 0..1}}',
            field=f"{prefix}.focus",
        )
    if focus is not None and gravity != "focus":
        return InvalidOptions(
            f'{prefix}.focus is only for gravity "focus" (gravity is {gravity or "center"!r})',
            field=f"{prefix}.focus",
        )
    fit = rendition.get("fit", "contain")
    open_sides = [s for s in ("width", "height") if rendition.get(s) is None]
    because = f"fit is {fit!r}" if fit != "cover" else f"no {' and no '.join(open_sides)}"
    return InvalidOptions(
        f"{prefix}.gravity {gravity!r} places a crop: it needs fit 'cover' and both a width "
        f"and a height ({because})",
        field=f"{prefix}.gravity",
    )


def _path(parts: list[Any], document: Any) -> list[str | int]:
    """The validator's path (all strings) with list indexes as ints, read off the document."""
    path: list[str | int] = []
    node = document
    for part in parts:
        if isinstance(node, list) and str(part).isdigit():
            index = int(part)
            path.append(index)
            node = node[index] if index < len(node) else None
        else:
            path.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return path


def _field(path: list[str | int]) -> str:
    """``["renditions", 0, "width"]`` -> ``renditions[0].width``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _normalize(item: dict[str, Any], path: str) -> dict[str, Any]:
    """A valid rendition or caption with whole numbers as ints, colours as ``#rrggbb``,
    the format's default quality, and no quality for a lossless format."""
    out = {key: whole_number(value) for key, value in item.items()}
    if path != "caption":
        for key in ("width", "height", "focus"):
            out.setdefault(key, None)
        if out["focus"] is not None:
            out["focus"] = {axis: float(out["focus"][axis]) for axis in ("x", "y")}
    for key in ("background", "color"):
        if key in out:
            out[key] = _color(out[key])
    fmt = OUTPUT_FORMATS[out["format"]]
    out["quality"] = None if fmt.lossless else (out.get("quality") or fmt.default_quality)
    if out.get("keep_animation") and not fmt.animatable:
        raise InvalidOptions(
            "keep_animation needs format " + " or ".join(ANIMATABLE_OUTPUT_NAMES),
            field=f"{path}.keep_animation",
        )
    return out


def _color(value: str) -> str:
    if value in COLOR_NAMES:
        return COLOR_NAMES[value]
    digits = value[1:].lower()
    return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)


def _check_total_pixels(renditions: list[dict[str, Any]], caption: dict[str, Any]) -> None:
    # A side left open follows the source's aspect ratio, so count it at its cap.
    total = sum((r["width"] or MAX_DIMENSION) * (r["height"] or MAX_DIMENSION) for r in renditions)
    if caption["enabled"]:
        total += caption["size"] ** 2
    if total > MAX_TOTAL_PIXELS:
        raise InvalidOptions(
            f"the renditions ask for {math.ceil(total / 1e6)} megapixels in all; "
            f"at most {MAX_TOTAL_PIXELS // 1_000_000} are allowed",
            field="renditions",
        )
