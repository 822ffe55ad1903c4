"""Guards on the libraries' private code the worker relies on (``worker/upstream.py``)."""

from __future__ import annotations

import importlib.metadata

import pytest

from worker.upstream import (
    NATIVE_DEPENDENCIES,
    PRIVATE_DEPENDENCIES,
    NativeDependency,
    PrivateDependency,
)


@pytest.mark.parametrize("dependency", PRIVATE_DEPENDENCIES, ids=lambda d: d.package)
def test_the_installed_version_is_the_one_the_override_was_written_for(
    dependency: PrivateDependency,
) -> None:
    if not dependency.installed():
        pytest.skip(f"{dependency.package} is the other imaging engine (docs/ENGINE.md)")
    installed = importlib.metadata.version(dependency.package)
    assert installed == dependency.version, (
        f"{dependency.package} is {installed}, but {dependency.used_by} was written against "
        f"{dependency.version}: review it against the new {', '.join(dependency.members)}, "
        "then update worker/upstream.py"
    )


@pytest.mark.parametrize("dependency", PRIVATE_DEPENDENCIES, ids=lambda d: d.package)
def test_the_private_upstream_code_is_unchanged(dependency: PrivateDependency) -> None:
    if not dependency.installed():
        pytest.skip(f"{dependency.package} is the other imaging engine (docs/ENGINE.md)")
    current = dependency.current_digest()
    assert current == dependency.source_sha256, (
        f"{dependency.package}'s {', '.join(dependency.members)} changed: review "
        f"{dependency.used_by}, then set source_sha256 = {current!r} in worker/upstream.py"
    )


def test_only_an_imaging_engine_may_be_missing() -> None:
    """Pillow and Pillow-SIMD are never installed together; every other fenced package is."""
    missing = {d.package for d in PRIVATE_DEPENDENCIES if not d.installed()}
    assert missing <= {"pillow", "pillow-simd"}
    assert len(missing) <= 1, missing


@pytest.mark.parametrize("dependency", PRIVATE_DEPENDENCIES, ids=lambda d: d.package)
def test_each_dependent_module_names_its_fence(dependency: PrivateDependency) -> None:
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(dependency.used_by))
    assert "worker.upstream" in source or "worker/upstream.py" in source


@pytest.mark.parametrize("dependency", NATIVE_DEPENDENCIES, ids=lambda d: d.package)
def test_the_native_binding_is_the_one_the_caller_was_written_for(
    dependency: NativeDependency,
) -> None:
    installed = importlib.metadata.version(dependency.package)
    assert installed == dependency.version, (
        f"{dependency.package} is {installed}, but {dependency.used_by} was written against "
        f"{dependency.version}: review its prototypes and constants against the library's "
        "header, then update worker/upstream.py"
    )
    expected = dependency.expected_digest()
    if expected is not None:
        current = dependency.current_digest()
        assert current == expected, (
            f"{dependency.module} changed: review {dependency.used_by}, then set its "
            f"module_sha256 to {current!r} in worker/upstream.py"
        )


def test_libspng_exports_what_the_worker_calls() -> None:
    import ctypes

    from worker.imaging import spng

    (dependency,) = (d for d in NATIVE_DEPENDENCIES if d.used_by == "worker.imaging.spng")
    lib = ctypes.CDLL(dependency.module_path())
    for symbol in spng.SYMBOLS:
        assert hasattr(lib, symbol), symbol
    assert spng.version() == dependency.library_version
    # The error numbers the module relies on (spng.h's enum, by position).
    assert "end-of-image" in spng.message(spng.EOI)
    assert spng.message(spng.OK) == "success"


def test_the_native_callers_name_their_fence() -> None:
    import importlib
    import inspect

    for dependency in NATIVE_DEPENDENCIES:
        source = inspect.getsource(importlib.import_module(dependency.used_by))
        assert "worker/upstream.py" in source
