"""The imaging engine named from what is installed, and the worker image's choice of build."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import PIL
from PIL import features

from worker.imaging import engine

SELECT_BUILD = Path(__file__).resolve().parents[4] / "docker" / "pillow-simd" / "select_build.py"


def load_select_build() -> ModuleType:
    """docker/pillow-simd/select_build.py under another name, so it does not act on import."""
    spec = importlib.util.spec_from_file_location("select_build_under_test", SELECT_BUILD)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_engine_is_the_installed_pil() -> None:
    current = engine.current()
    assert current.name in ("pillow", "pillow-simd")
    assert current.version == PIL.__version__
    assert (current.simd == "") == (current.name == "pillow")
    assert current.describe().startswith(f"{current.name} {PIL.__version__}")
    assert current.as_facts()["engine"] == current.name
    # The codecs every job needs are there, with their versions.
    named = {codec.split()[0] for codec in current.codecs}
    assert {"libjpeg_turbo", "zlib", "webp", "avif"} <= named, current.codecs
    assert features.check("avif")


def test_the_avx2_build_only_where_the_cpu_lists_avx2(tmp_path: Path) -> None:
    select = load_select_build()
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_1 sse4_2 avx avx2 bmi2\n\n")
    assert select.cpu_flags(str(cpuinfo)) >= {"avx2", "sse4_2"}
    assert select.choose(select.cpu_flags(str(cpuinfo)), None) == "avx2"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_1 sse4_2 avx\n\n")
    assert select.choose(select.cpu_flags(str(cpuinfo)), None) == "sse4"
    assert select.choose(frozenset(), None) == "sse4"
    assert select.cpu_flags(str(tmp_path / "missing")) == frozenset()
    # Forced by PILLOW_SIMD_LEVEL, when it names a build.
    assert select.choose(frozenset({"avx2"}), "sse4") == "sse4"
    assert select.choose(frozenset({"avx2"}), "avx512") == "avx2"


def test_select_build_appends_the_chosen_folder_once() -> None:
    select = load_select_build()
    before = list(sys.path)
    try:
        folder = select.install("/nonexistent/pillow-simd")
        select.install("/nonexistent/pillow-simd")
        assert sys.path.count(folder) == 1
        assert folder.rsplit("/", 1)[-1] in ("sse4", "avx2")
    finally:
        sys.path[:] = before
