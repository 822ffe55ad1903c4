"""Presets in Redis (fakeredis): the name rule, the checks of a job's options, the
per-tenant limit, and that a tenant never sees another's."""

from __future__ import annotations

import fakeredis
import pytest

from chalicelib.core.errors import (
    InvalidOptions,
    InvalidPresetName,
    PresetNotFound,
    TooManyPresets,
)
from chalicelib.tenancy.presets import PresetStore, check_name

WEB = {"renditions": [{"name": "web", "width": 800, "format": "webp"}]}


@pytest.fixture()
def presets() -> PresetStore:
    return PresetStore(fakeredis.FakeRedis(decode_responses=True), prefix="t:")


@pytest.mark.parametrize("name", ["web", "a", "web-2x", "0", "x" * 40])
def test_good_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "Web", "web_2x", "-web", "x" * 41, "wéb", "web/x", " web", None, 7]
)
def test_bad_names_are_refused_with_their_code(name: object) -> None:
    with pytest.raises(InvalidPresetName) as refused:
        check_name(name)
    assert refused.value.status == 400 and refused.value.code == "invalid_preset_name"


def test_a_preset_is_stored_as_given_read_listed_and_deleted(presets: PresetStore) -> None:
    made = presets.put("alpha", "web", WEB, most=50)
    assert made.options == WEB
    found = presets.get("alpha", "web")
    assert found is not None and found.options == WEB
    assert [p.name for p in presets.all("alpha")] == ["web"]
    presets.delete("alpha", "web")
    assert presets.get("alpha", "web") is None
    with pytest.raises(PresetNotFound):
        presets.delete("alpha", "web")


def test_replacing_a_preset_keeps_one_of_the_name(presets: PresetStore) -> None:
    presets.put("alpha", "web", WEB, most=1)
    presets.put("alpha", "web", {"caption": {"enabled": False}}, most=1)
    assert presets.count("alpha") == 1
    assert presets.require("alpha", "web").options == {"caption": {"enabled": False}}


def test_options_a_job_would_be_refused_are_refused(presets: PresetStore) -> None:
    with pytest.raises(InvalidOptions) as refused:
        presets.put("alpha", "web", {"renditions": [{"name": "x", "width": 0}]}, most=50)
    assert refused.value.status == 422
    with pytest.raises(InvalidOptions):
        presets.put("alpha", "web", {"colour": "red"}, most=50)
    assert presets.count("alpha") == 0


def test_a_new_name_past_the_limit_is_refused_but_a_replacement_is_not(
    presets: PresetStore,
) -> None:
    presets.put("alpha", "a", WEB, most=2)
    presets.put("alpha", "b", WEB, most=2)
    with pytest.raises(TooManyPresets) as refused:
        presets.put("alpha", "c", WEB, most=2)
    assert refused.value.status == 409 and refused.value.details["limit"] == "presets"
    presets.put("alpha", "b", {}, most=2)
    assert sorted(p.name for p in presets.all("alpha")) == ["a", "b"]


def test_another_tenants_preset_of_the_same_name_is_invisible(presets: PresetStore) -> None:
    presets.put("alpha", "web", WEB, most=50)
    assert presets.get("beta", "web") is None
    assert presets.all("beta") == []
    with pytest.raises(PresetNotFound):
        presets.delete("beta", "web")
    assert presets.get("alpha", "web") is not None
