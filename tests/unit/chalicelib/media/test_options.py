"""parse_options: defaults, every option, and errors that name their field."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import fields
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core.errors import InvalidOptions
from chalicelib.media.options import (
    GRAVITIES,
    MAX_DIMENSION,
    MAX_RENDITIONS,
    OPTIONS_SCHEMA,
    Caption,
    Encoding,
    Focus,
    Options,
    Rendition,
    parse_options,
)


def parsed(raw: Any) -> dict[str, Any]:
    """The options' JSON form, as stored in the job record."""
    return parse_options(raw).to_dict()


def field_of(raw: Any) -> str:
    with pytest.raises(InvalidOptions) as caught:
        parse_options(raw)
    assert caught.value.code == "invalid_options"
    return str(caught.value.details["field"])


def one(**rendition: Any) -> dict[str, Any]:
    return {"renditions": [{"name": "r", **rendition}]}


@pytest.mark.parametrize("raw", [None, "", "  ", b"", {}, "{}", b"{}"])
def test_absent_options_give_the_defaults(raw: Any) -> None:
    options = parsed(raw)
    assert [r["name"] for r in options["renditions"]] == ["thumbnail", "preview"]
    thumb, preview = options["renditions"]
    assert (thumb["width"], thumb["height"], thumb["fit"], thumb["format"]) == (
        512,
        512,
        "contain",
        "jpeg",
    )
    assert (preview["width"], preview["height"]) == (1280, 1280)
    assert (thumb["gravity"], thumb["focus"]) == ("center", None)
    assert options["caption"] == {
        "enabled": True,
        "position": "bottom",
        "style": "band",
        "color": "#ffffff",
        "max_font_size": 64,
        "size": 1280,
        "format": "jpeg",
        "quality": 85,
    }


def test_normalized_options_are_a_fixed_point_and_json() -> None:
    raw = {
        "renditions": [
            {"name": "a", "width": 100, "format": "png"},
            {"name": "b-2", "height": 50, "fit": "cover", "format": "webp", "quality": 40},
            {"name": "c_3", "width": 64, "height": 64, "fit": "fill", "format": "avif"},
            {"name": "anim", "width": 64, "format": "gif", "keep_animation": True},
        ],
        "caption": {"position": "top", "style": "stroke", "color": "black"},
    }
    once = parsed(json.dumps(raw))
    assert parsed(once) == once
    assert json.loads(json.dumps(once)) == once


def test_every_rendition_option_is_kept() -> None:
    options = parsed(
        one(
            width=300,
            height=200,
            fit="cover",
            gravity="focus",
            focus={"x": 0.25, "y": 1},
            format="webp",
            quality=55,
            background="#ABC",
            keep_animation=True,
        )
    )
    assert options["renditions"] == [
        {
            "name": "r",
            "width": 300,
            "height": 200,
            "fit": "cover",
            "gravity": "focus",
            "focus": {"x": 0.25, "y": 1.0},
            "format": "webp",
            "quality": 55,
            "background": "#aabbcc",
            "keep_animation": True,
        }
    ]


@pytest.mark.parametrize(
    ("fmt", "quality"), [("jpeg", 85), ("webp", 80), ("avif", 60), ("png", None), ("gif", None)]
)
def test_quality_defaults_per_format(fmt: str, quality: int | None) -> None:
    assert parsed(one(width=10, format=fmt))["renditions"][0]["quality"] == quality


@pytest.mark.parametrize(
    ("name", "value"), [("white", "#ffffff"), ("black", "#000000"), ("grey", "#808080")]
)
def test_colour_names(name: str, value: str) -> None:
    assert parsed(one(width=10, background=name))["renditions"][0]["background"] == value


@pytest.mark.parametrize("name", ["Black", " black ", "WHITE"])
def test_colour_names_are_exactly_as_the_schema_lists_them(name: str) -> None:
    with pytest.raises(InvalidOptions):
        parsed(one(width=10, background=name))


def test_every_caption_option_is_kept() -> None:
    caption = {
        "enabled": False,
        "position": "center",
        "style": "stroke",
        "color": "#102030",
        "max_font_size": 20,
        "size": 800,
        "format": "png",
        "quality": None,
    }
    assert parsed({"caption": caption})["caption"] == caption


def test_an_empty_rendition_list_is_allowed() -> None:
    assert parsed({"renditions": []})["renditions"] == []


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", "options"),
        (b"\xff\xfe", "options"),
        ("[1, 2]", "options"),
        ('{"renditions": NaN}', "options"),
        ("x" * 20_000, "options"),
        ("[" * 5000 + "]" * 5000, "options"),
        ({"colour": 1}, "colour"),
        ({"renditions": {}}, "renditions"),
        ({"renditions": [1]}, "renditions[0]"),
        ({"renditions": [{"name": "r", "width": 1}] * 2}, "renditions[1].name"),
        ({"renditions": [{"name": f"r{i}", "width": 8} for i in range(9)]}, "renditions"),
        (one(width=10, colour="red"), "renditions[0].colour"),
        ({"renditions": [{"width": 10}]}, "renditions[0].name"),
        ({"renditions": [{"name": "Bad Name", "width": 10}]}, "renditions[0].name"),
        ({"renditions": [{"name": "captioned", "width": 10}]}, "renditions[0].name"),
        (one(), "renditions[0].width"),
        (one(width=0), "renditions[0].width"),
        (one(width=4097), "renditions[0].width"),
        (one(width=10.5), "renditions[0].width"),
        (one(width=True), "renditions[0].width"),
        (one(width="10"), "renditions[0].width"),
        (one(height=-1), "renditions[0].height"),
        (one(width=10, fit="stretch"), "renditions[0].fit"),
        (one(width=10, height=10, fit="cover", gravity="top"), "renditions[0].gravity"),
        (one(width=10, height=10, fit="cover", gravity=None), "renditions[0].gravity"),
        (one(width=10, height=10, gravity="north"), "renditions[0].gravity"),
        (one(width=10, height=10, fit="contain", gravity="auto"), "renditions[0].gravity"),
        (one(width=10, height=10, fit="fill", gravity="east"), "renditions[0].gravity"),
        (one(width=10, fit="cover", gravity="auto"), "renditions[0].gravity"),
        (one(width=10, height=None, fit="cover", gravity="auto"), "renditions[0].gravity"),
        (one(height=10, fit="cover", gravity="south"), "renditions[0].gravity"),
        (
            one(width=8, height=8, fit="contain", gravity="focus", focus={"x": 0, "y": 0}),
            "renditions[0].gravity",
        ),
        (one(width=10, height=10, fit="cover", gravity="focus"), "renditions[0].focus"),
        (one(width=10, height=10, fit="cover", gravity="focus", focus=None), "renditions[0].focus"),
        (
            one(width=10, height=10, fit="cover", gravity="focus", focus=[0.5, 0.5]),
            "renditions[0].focus",
        ),
        (one(width=10, height=10, fit="cover", focus={"x": 0.5, "y": 0.5}), "renditions[0].focus"),
        (
            one(width=10, height=10, fit="cover", gravity="auto", focus={"x": 0.5, "y": 0.5}),
            "renditions[0].focus",
        ),
        (one(width=10, focus={"x": 0.5, "y": 0.5}), "renditions[0].focus"),
        (
            one(width=10, height=10, fit="cover", gravity="focus", focus={"x": 0.5}),
            "renditions[0].focus.y",
        ),
        (
            one(width=10, height=10, fit="cover", gravity="focus", focus={"x": 1.5, "y": 0}),
            "renditions[0].focus.x",
        ),
        (
            one(width=10, height=10, fit="cover", gravity="focus", focus={"x": 0, "y": -0.1}),
            "renditions[0].focus.y",
        ),
        (
            one(width=10, height=10, fit="cover", gravity="focus", focus={"x": "0", "y": 0}),
            "renditions[0].focus.x",
        ),
        (
            one(width=10, height=10, fit="cover", gravity="focus", focus={"x": 0, "y": 0, "z": 0}),
            "renditions[0].focus.z",
        ),
        (one(width=10, format="bmp"), "renditions[0].format"),
        (one(width=10, quality=0), "renditions[0].quality"),
        (one(width=10, quality=101), "renditions[0].quality"),
        (one(width=10, background="#12345"), "renditions[0].background"),
        (one(width=10, background="purple"), "renditions[0].background"),
        (one(width=10, keep_animation="yes"), "renditions[0].keep_animation"),
        (one(width=10, format="jpeg", keep_animation=True), "renditions[0].keep_animation"),
        ({"caption": "top"}, "caption"),
        ({"caption": {"font": "x"}}, "caption.font"),
        ({"caption": {"enabled": 1}}, "caption.enabled"),
        ({"caption": {"position": "left"}}, "caption.position"),
        ({"caption": {"style": "shadow"}}, "caption.style"),
        ({"caption": {"color": "#zzzzzz"}}, "caption.color"),
        ({"caption": {"max_font_size": 4}}, "caption.max_font_size"),
        ({"caption": {"size": 5000}}, "caption.size"),
        ({"caption": {"format": "gif"}}, "caption.format"),
        ({"caption": {"quality": 1000}}, "caption.quality"),
    ],
)
def test_errors_name_their_field(raw: Any, field: str) -> None:
    assert field_of(raw) == field


@pytest.mark.parametrize("gravity", GRAVITIES)
def test_every_gravity_is_taken_by_a_cover_rendition(gravity: str) -> None:
    focus = {"x": 0.3, "y": 0.2} if gravity == "focus" else None
    rendition = parsed(one(width=40, height=20, fit="cover", gravity=gravity, focus=focus))
    assert rendition["renditions"][0]["gravity"] == gravity
    assert rendition["renditions"][0]["focus"] == focus


@pytest.mark.parametrize(
    ("rendition", "says"),
    [
        (dict(width=9, height=9, fit="contain", gravity="auto"), "fit is 'contain'"),
        (dict(width=9, height=9, gravity="north"), "fit is 'contain'"),
        (dict(width=9, height=9, fit="fill", gravity="west"), "fit is 'fill'"),
        (dict(width=9, fit="cover", gravity="auto"), "no height"),
        (dict(height=9, fit="cover", gravity="auto"), "no width"),
    ],
)
def test_a_gravity_where_nothing_is_cropped_is_refused_not_ignored(
    rendition: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidOptions) as caught:
        parsed(one(**rendition))
    assert caught.value.details["field"] == "renditions[0].gravity"
    assert caught.value.message.startswith(f"renditions[0].gravity {rendition['gravity']!r} ")
    assert "fit 'cover'" in caught.value.message and says in caught.value.message


def test_center_is_accepted_with_every_fit() -> None:
    # Today's behaviour, spelled out: nothing to refuse.
    for fit in ("contain", "cover", "fill"):
        parsed(one(width=9, fit=fit, gravity="center"))


def test_focus_and_gravity_focus_go_together() -> None:
    with pytest.raises(InvalidOptions, match=r'focus is required with gravity "focus"'):
        parsed(one(width=9, height=9, fit="cover", gravity="focus"))
    with pytest.raises(InvalidOptions, match=r'focus is only for gravity "focus" \(gravity is '):
        parsed(one(width=9, height=9, fit="cover", gravity="auto", focus={"x": 0, "y": 0}))
    # A normalized rendition carries "focus": null, which re-parses unchanged.
    once = parsed(one(width=9, height=9, fit="cover", gravity="auto"))
    assert once["renditions"][0]["focus"] is None
    assert parsed(once) == once


def test_the_gravity_rules_are_stated_in_the_schema() -> None:
    # The OpenAPI document serves this schema: a client's validator refuses the same.
    import jsonschema

    item = OPTIONS_SCHEMA["properties"]["renditions"]["items"]
    validator = jsonschema.Draft202012Validator(item)
    assert validator.is_valid(
        {"name": "a", "width": 1, "height": 1, "fit": "cover", "gravity": "auto"}
    )
    for bad in (
        {"name": "a", "width": 1, "height": 1, "gravity": "auto"},
        {"name": "a", "width": 1, "height": 1, "fit": "fill", "gravity": "auto"},
        {"name": "a", "width": 1, "fit": "cover", "gravity": "auto"},
        {"name": "a", "width": 1, "height": None, "fit": "cover", "gravity": "auto"},
        {"name": "a", "width": 1, "height": 1, "fit": "cover", "gravity": "focus"},
        {"name": "a", "width": 1, "height": 1, "fit": "cover", "focus": {"x": 0, "y": 0}},
    ):
        assert not validator.is_valid(bad), bad


def test_total_pixels_are_capped() -> None:
    renditions = [{"name": f"r{i}", "width": 4096, "height": 4096} for i in range(4)]
    assert field_of({"renditions": renditions}) == "renditions"
    # An open side counts at the cap: eight 1024-wide renditions may be 1024x4096 each.
    wide = [{"name": f"r{i}", "width": 2048} for i in range(8)]
    assert field_of({"renditions": wide}) == "renditions"
    parsed({"renditions": wide[:3]})


def test_the_limits_are_stated_in_the_schema() -> None:
    rendition = OPTIONS_SCHEMA["properties"]["renditions"]
    assert rendition["maxItems"] == MAX_RENDITIONS
    assert rendition["items"]["properties"]["width"]["maximum"] == MAX_DIMENSION
    assert field_of(one(width=MAX_DIMENSION + 1)) == "renditions[0].width"
    assert parsed(one(width=MAX_DIMENSION))["renditions"][0]["width"] == MAX_DIMENSION


def test_whole_numbers_written_as_floats_are_integers() -> None:
    # JSON Schema counts 512.0 as an integer; it comes back as 512.
    rendition = parsed(one(width=512.0, quality=70.0, format="webp"))["renditions"][0]
    assert (rendition["width"], rendition["quality"]) == (512, 70)
    assert isinstance(rendition["width"], int)


def test_messages_name_the_field_in_the_options_terms() -> None:
    with pytest.raises(InvalidOptions) as caught:
        parsed(one(width=0))
    assert caught.value.message.startswith("renditions[0].width ")
    with pytest.raises(InvalidOptions) as caught:
        parsed({"renditions": [{"name": "captioned", "width": 8}]})
    assert "reserved" in caught.value.message


def test_the_typed_options_have_exactly_the_schemas_fields() -> None:
    """The schema is the one statement: an option it gains must be a field (and back)."""
    props = OPTIONS_SCHEMA["properties"]
    assert [f.name for f in fields(Options)] == list(props) == ["renditions", "caption"]
    assert {f.name for f in fields(Rendition)} == set(props["renditions"]["items"]["properties"])
    assert {f.name for f in fields(Caption)} == set(props["caption"]["properties"])
    assert {f.name for f in fields(Focus)} == set(
        props["renditions"]["items"]["properties"]["focus"]["properties"]
    )


def test_options_are_typed_and_their_json_form_reads_back_the_same() -> None:
    options = parse_options(
        one(width=40, height=20, fit="cover", gravity="focus", focus={"x": 0, "y": 1})
    )
    (rendition,) = options.renditions
    assert rendition.focus == Focus(0.0, 1.0)
    assert rendition.encoding == Encoding("jpeg", 85, "#ffffff")
    assert options.caption.encoding == Encoding("jpeg", 85, "#ffffff")
    assert parse_options(options) is options
    assert parse_options(options.to_dict()) == options
    assert parse_options(json.dumps(options.to_dict())) == options


@pytest.mark.parametrize(("fmt", "keeps"), [("jpeg", False), ("png", True), ("webp", True)])
def test_an_encoding_keeps_alpha_where_its_format_has_it(fmt: str, keeps: bool) -> None:
    assert Encoding(fmt, None, "#000000").keeps_alpha is keeps


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "name",
        "width",
        "height",
        "fit",
        "gravity",
        "focus",
        "format",
        "quality",
        "background",
        "keep_animation",
    ]
)
plausible_rendition = st.dictionaries(
    keys,
    json_values
    | st.sampled_from(["jpeg", "gif", 512, "cover", "auto", "focus", {"x": 0.5, "y": 1}]),
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_raises_only_invalid_options(value: Any) -> None:
    for raw in (value, json.dumps(value)):
        try:
            result = parsed(raw)
        except InvalidOptions as exc:
            assert isinstance(exc.details.get("field"), str)
        else:
            assert json.loads(json.dumps(result)) == result


@settings(max_examples=300, deadline=None)
@given(st.lists(plausible_rendition, max_size=3), st.dictionaries(st.text(max_size=6), json_values))
def test_near_valid_options_raise_only_invalid_options(
    renditions: list[dict[str, Any]], caption: dict[str, Any]
) -> None:
    try:
        parsed({"renditions": renditions, "caption": caption})
    except InvalidOptions as exc:
        assert isinstance(exc.details.get("field"), str)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_invalid_options(raw: bytes) -> None:
    with suppress(InvalidOptions):
        parsed(raw)


# Valid options drawn from the schema's own ranges: they parse, and parsing the result
# again gives it back unchanged (the worker re-parses what the API stored).
def _placed(rendition: dict[str, Any], gravity: str, focus: dict[str, float]) -> dict[str, Any]:
    """``rendition`` with a gravity where it crops (and its focus point), as allowed."""
    if gravity == "center":
        return {**rendition, "gravity": gravity}
    placed = {**rendition, "fit": "cover", "width": rendition.get("width") or 64}
    placed.update(height=rendition.get("height") or 48, gravity=gravity)
    return {**placed, "focus": focus} if gravity == "focus" else placed


fractions = st.floats(0, 1) | st.sampled_from([0, 1])
valid_rendition = st.fixed_dictionaries(
    {"name": st.from_regex(r"[a-z0-9][a-z0-9_-]{0,9}", fullmatch=True)},
    optional={
        "width": st.integers(1, 1024),
        "height": st.integers(1, 1024),
        "fit": st.sampled_from(["contain", "cover", "fill"]),
        "format": st.sampled_from(["jpeg", "png", "webp", "avif"]),
        "quality": st.none() | st.integers(1, 100),
        "background": st.sampled_from(["#fff", "#A0b1C2", "white", "grey", "black"]),
    },
).filter(lambda r: "width" in r or "height" in r)
valid_rendition = valid_rendition | st.builds(
    _placed,
    valid_rendition,
    st.sampled_from(GRAVITIES),
    st.fixed_dictionaries({"x": fractions, "y": fractions}),
)
valid_caption = st.fixed_dictionaries(
    {},
    optional={
        "enabled": st.booleans(),
        "position": st.sampled_from(["top", "bottom", "center"]),
        "style": st.sampled_from(["band", "stroke"]),
        "color": st.sampled_from(["#123", "#abcdef", "red"]),
        "max_font_size": st.integers(8, 256),
        "size": st.integers(64, 2048),
        "format": st.sampled_from(["jpeg", "png", "webp", "avif"]),
        "quality": st.none() | st.integers(1, 100),
    },
)
valid_options = st.fixed_dictionaries(
    {},
    optional={
        "renditions": st.lists(valid_rendition, max_size=4, unique_by=lambda r: r["name"]).filter(
            lambda rs: all(r["name"] != "captioned" for r in rs)
        ),
        "caption": valid_caption,
    },
)


@settings(max_examples=300, deadline=None)
@given(valid_options)
def test_valid_options_parse_to_a_fixed_point(raw: dict[str, Any]) -> None:
    once = parsed(json.dumps(raw))
    assert parsed(once) == once
    assert parsed(json.dumps(once)) == once
    assert [r["name"] for r in once["renditions"]] == [
        r["name"] for r in raw.get("renditions", [{"name": "thumbnail"}, {"name": "preview"}])
    ]
    for rendition in once["renditions"]:
        assert set(rendition) == set(
            OPTIONS_SCHEMA["properties"]["renditions"]["items"]["properties"]
        )


deep_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(deep_json, st.integers(0, 3000))
def test_nested_json_of_any_depth_raises_only_invalid_options(value: Any, depth: int) -> None:
    # Wrapped at any depth (past the recursion limit too), as text and as a dict.
    text = '{"renditions": ' + "[" * depth + json.dumps(value) + "]" * depth + "}"
    for raw in (text, {"caption": value}, {"renditions": [value]}):
        with suppress(InvalidOptions):
            parsed(raw)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=64))
def test_arbitrary_text_raises_only_invalid_options(raw: str) -> None:
    with suppress(InvalidOptions):
        parsed(raw)


@pytest.mark.parametrize(
    "name", ["captioned\n", "thumb\n", "thumb\r", "\nthumb", "thumb\x00", "thumb ", "Thumb"]
)
def test_names_match_whole_not_up_to_a_line_end(name: str) -> None:
    with pytest.raises(InvalidOptions) as caught:
        parsed({"renditions": [{"name": name, "width": 8}]})
    assert caught.value.details["field"] == "renditions[0].name"


@pytest.mark.parametrize("color", ["#ffffff\n", "#fff\n#", "#ffffff\x00"])
def test_colours_match_whole(color: str) -> None:
    with pytest.raises(InvalidOptions):
        parsed({"caption": {"color": color}})


def test_options_json_holding_a_lone_surrogate_is_invalid_options() -> None:
    with pytest.raises(InvalidOptions):
        parsed('{"renditions": [{"name": "\\ud800", "width": 8}]}')
