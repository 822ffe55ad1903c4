"""Guards on the libraries' private code the worker relies on (``worker/upstream.py``)."""

from __future__ import annotations

import importlib.metadata

import pytest

from worker.upstream import PRIVATE_DEPENDENCIES, PrivateDependency


@pytest.mark.parametrize("dependency", PRIVATE_DEPENDENCIES, ids=lambda d: d.package)
def test_the_installed_version_is_the_one_the_override_was_written_for(
    dependency: PrivateDependency,
) -> None:
    installed = importlib.metadata.version(dependency.package)
    assert installed == dependency.version, (
        f"{dependency.package} is {installed}, but {dependency.used_by} was written against "
        f"{dependency.version}: review it against the new {', '.join(dependency.members)}, "
        "then update worker/upstream.py"
    )


@pytest.mark.parametrize("dependency", PRIVATE_DEPENDENCIES, ids=lambda d: d.package)
def test_the_private_upstream_code_is_unchanged(dependency: PrivateDependency) -> None:
    current = dependency.current_digest()
    assert current == dependency.source_sha256, (
        f"{dependency.package}'s {', '.join(dependency.members)} changed: review "
        f"{dependency.used_by}, then set source_sha256 = {current!r} in worker/upstream.py"
    )


@pytest.mark.parametrize("dependency", PRIVATE_DEPENDENCIES, ids=lambda d: d.package)
def test_each_dependent_module_names_its_fence(dependency: PrivateDependency) -> None:
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(dependency.used_by))
    assert "worker.upstream" in source or "worker/upstream.py" in source
