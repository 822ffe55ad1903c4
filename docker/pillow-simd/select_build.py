"""Puts the Pillow-SIMD build this CPU can run on ``sys.path`` (run from a .pth file).

Pillow-SIMD has no run-time dispatch: a build compiled with ``-mavx2`` stops with
SIGILL on a CPU without AVX2. The worker image carries two builds, SSE4 and AVX2
(docker/pillow-simd/compile.sh), and every interpreter start takes the AVX2 one when
the kernel lists the ``avx2`` flag. ``PILLOW_SIMD_LEVEL=sse4`` (or ``avx2``) forces
one, so the SSE4 build can be tested on an AVX2 machine. Standard library only:
this runs before anything else in every Python process of the image.
"""

from __future__ import annotations

import os
import sys

ROOT = "/opt/pillow-simd"
LEVELS = ("sse4", "avx2")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The first processor's flags as the kernel lists them (empty if unreadable)."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as lines:
            for line in lines:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def choose(flags: frozenset[str], forced: str | None) -> str:
    """``avx2`` or ``sse4``: the forced level if it names one, else what the CPU runs."""
    if forced in LEVELS:
        return forced
    return "avx2" if "avx2" in flags else "sse4"


def install(root: str = ROOT) -> str:
    """Appends the chosen build's folder to ``sys.path``; returns it."""
    folder = os.path.join(root, choose(cpu_flags(), os.environ.get("PILLOW_SIMD_LEVEL")))
    if folder not in sys.path:
        sys.path.append(folder)
    return folder


if __name__ == "_pillow_simd_select":  # imported by the .pth file install.sh writes
    install()
