"""Points a Pillow-SIMD build's extensions at the codec libraries the Pillow wheel bundles.

Pillow-SIMD compiles against Debian bookworm's headers (libtiff 4.5, libwebp 1.2,
freetype 2.12, ...), whose libraries are older than the ones the pinned Pillow wheel
bundles (libtiff 4.7, libwebp 1.6, freetype 2.14, ...), and the older ones end some
files differently (a WebP-compressed TIFF, a TIFF libtiff 4.5 refuses, a WebP canvas
at the format's limit). Each library keeps its ABI within its soname, so an extension
built against the older headers runs on the newer library: this rewrites each
extension's ``DT_NEEDED`` entry ``libtiff.so.6`` to the wheel's ``libtiff-<hash>.so.6.x``
(matched by the name before ``.so`` and the soname's major version) and its RPATH to
``$ORIGIN/../pillow.libs``, as auditwheel does for the wheel itself. What the wheel does
not bundle (zlib, libc) stays the system's.

    python relink.py PATCHELF BUILD_DIR    # BUILD_DIR holds PIL/ and pillow.libs/
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# libtiff-20b7e810.so.6.3.0 -> ("libtiff", "6"); auditwheel's names: <stem>-<8 hex>.so.<ver>
BUNDLED = re.compile(r"^(?P<stem>.+)-[0-9a-f]{8}\.so\.(?P<major>\d+)")
NEEDED = re.compile(r"^(?P<stem>.+)\.so\.(?P<major>\d+)$")
# The system's own, never bundled by the wheel.
# Libraries whose file is named after the release rather than the soname: OpenJPEG
# 2.x is libopenjp2.so.7 in every release (auditwheel names its copy by the file).
SONAME_MAJOR = {"libopenjp2": "7"}
SYSTEM = {"libc", "libm", "libpthread", "libdl", "librt", "libz", "libstdc++", "libgcc_s"}


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def main(patchelf: str, build: Path) -> None:
    libs = build / "pillow.libs"
    bundled: dict[str, list[Path]] = {}
    for path in libs.iterdir():
        match = BUNDLED.match(path.name)
        if match:
            bundled.setdefault(match["stem"], []).append(path)
    for extension in sorted((build / "PIL").glob("*.so")):
        needed = run(patchelf, "--print-needed", str(extension)).split()
        changed = False
        for name in needed:
            match = NEEDED.match(name)
            if not match or match["stem"] in SYSTEM or BUNDLED.match(name):
                continue
            candidates = bundled.get(match["stem"], [])
            if len(candidates) != 1:
                sys.exit(f"{extension.name} needs {name}: the wheel bundles {candidates}")
            target = candidates[0]
            # The soname's major version is the ABI: the wheel's must be the same one.
            soname = run(patchelf, "--print-soname", str(target)).strip()
            if soname != target.name:
                sys.exit(f"{target.name}: soname {soname}, not its file name")
            major = BUNDLED.match(target.name)["major"]  # type: ignore[index]
            if major != match["major"] and SONAME_MAJOR.get(match["stem"]) != match["major"]:
                sys.exit(f"{extension.name} needs {name}, the wheel has {target.name}")
            run(patchelf, "--replace-needed", name, target.name, str(extension))
            print(f"{extension.name}: {name} -> {target.name}")
            changed = True
        if changed:
            run(patchelf, "--set-rpath", "$ORIGIN/../pillow.libs", str(extension))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
