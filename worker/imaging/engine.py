"""Which imaging engine this process runs: Pillow or Pillow-SIMD, its version and SIMD level.

The worker image builds Pillow-SIMD on x86-64 (docker/pillow-simd/) and keeps the
Pillow wheel elsewhere; the development venv has whichever its owner installed. The
worker names the engine in its start log line and in the facts it records for
``/api/health`` (``chalicelib/broker/workers.py``), so that which one ran is never a
guess. Both engines answer the same API (``Image.Resampling`` and the other enums
since Pillow 9.1); what differs is fenced in ``worker.upstream``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import metadata

import PIL
from PIL import features

# Where docker/pillow-simd/compile.sh puts its builds: /opt/pillow-simd/<level>/PIL.
SIMD_ROOT = "/opt/pillow-simd"


@dataclass(frozen=True)
class Engine:
    """The imaging engine of this process."""

    name: str  # "pillow" or "pillow-simd" (the distribution's name)
    version: str  # PIL.__version__
    simd: str  # "avx2", "sse4" (Pillow-SIMD's build) or "" (Pillow: scalar C)
    codecs: tuple[str, ...]  # the codec libraries it was built with, with their versions

    def describe(self) -> str:
        """One line for logs: ``pillow-simd 12.1.1.post0 (avx2)``."""
        return f"{self.name} {self.version}" + (f" ({self.simd})" if self.simd else "")

    def as_facts(self) -> dict[str, str]:
        return {"engine": self.name, "version": self.version, "simd": self.simd}


def _distribution_name(package_dir: str) -> str:
    """The distribution that installed the PIL found at ``package_dir``."""
    for dist in metadata.distributions(path=[os.path.dirname(package_dir)]):
        name = (dist.metadata["Name"] or "").lower()
        if name in ("pillow", "pillow-simd"):
            return name
    # Not installed by pip (a source checkout): Pillow-SIMD's versions end in .postN.
    return "pillow-simd" if ".post" in PIL.__version__ else "pillow"


@functools.cache
def current() -> Engine:
    """The engine imported in this process (computed once)."""
    package_dir = os.path.dirname(PIL.__file__ or "")
    name = _distribution_name(package_dir)
    simd = ""
    if name == "pillow-simd":
        parent = os.path.dirname(package_dir)
        level = os.path.basename(parent)
        # The image's builds say their level by their folder; another install does not.
        simd = level if os.path.dirname(parent) == SIMD_ROOT else "unknown"
    codecs = tuple(
        f"{feature} {features.version(feature)}"
        for feature in (
            "libjpeg_turbo",
            "zlib",
            "libtiff",
            "webp",
            "avif",
            "freetype2",
            "littlecms2",
        )
        if features.version(feature)
    )
    return Engine(name=name, version=PIL.__version__, simd=simd, codecs=codecs)
