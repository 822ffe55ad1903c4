#!/bin/sh
# The worker image's imaging engine (worker/Dockerfile), in two steps:
#
#   build.sh compile   in a stage of its own (cached until this folder or the pins
#                      change): on x86-64 (IMAGING_ENGINE=auto or pillow-simd),
#                      Pillow-SIMD from its pinned sdist, compiled twice against
#                      Debian's codec libraries, for SSE4 (Pillow-SIMD's default, any
#                      x86-64 CPU since about 2008) and with -mavx2, each into a folder
#                      of its own under /opt/pillow-simd.
#   build.sh install   in the build stage, after requirements installed the Pillow
#                      wheel: AVIF support taken from that wheel (its _avif extension,
#                      the libavif it bundles and the plugin that drives them) into both
#                      builds, because Debian bookworm's libavif (0.11) is older than
#                      Pillow's minimum (1.0); then the wheel uninstalled and a .pth file
#                      that runs select_build.py, which puts the build the CPU can run
#                      on sys.path at every interpreter start.
#
# Elsewhere (IMAGING_ENGINE=pillow, or another architecture) both steps leave the
# Pillow wheel in place. /opt/pillow-simd/runtime-packages names the Debian packages
# the runtime stage must install (empty for the Pillow wheel, which bundles its own).
set -eu

OUT=/opt/pillow-simd
HERE=$(dirname "$0")

compile() {
    mkdir -p "$OUT"
    : >"$OUT/runtime-packages"
    engine="${IMAGING_ENGINE:-auto}"
    arch="$(uname -m)"
    if [ "$engine" = auto ]; then
        if [ "$arch" = x86_64 ]; then engine=pillow-simd; else engine=pillow; fi
    fi
    case "$engine" in
        pillow)
            echo "imaging engine: Pillow (the wheel from requirements), $arch"
            return 0 ;;
        pillow-simd)
            [ "$arch" = x86_64 ] || { echo "Pillow-SIMD builds on x86-64 only (this is $arch)"; exit 1; } ;;
        *)
            echo "IMAGING_ENGINE must be auto, pillow or pillow-simd (got $engine)"; exit 1 ;;
    esac
    echo "imaging engine: Pillow-SIMD $PILLOW_SIMD_VERSION (SSE4 and AVX2 builds), $arch"

    # The compiler and the codec libraries' headers (this stage only).
    headers=""
    python -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || headers=python3-dev
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        gcc libc6-dev $headers \
        libjpeg62-turbo-dev libpng-dev zlib1g-dev libtiff-dev libwebp-dev \
        libfreetype-dev liblcms2-dev libopenjp2-7-dev >/dev/null

    # The sdist, by its digest; the build tools in a venv of their own.
    work=$(mktemp -d)
    python -m venv "$work/tools"
    "$work/tools/bin/pip" install --quiet --disable-pip-version-check setuptools==80.9.0 pybind11==3.0.1 wheel==0.45.1
    printf 'pillow-simd==%s --hash=sha256:%s\n' "$PILLOW_SIMD_VERSION" "$PILLOW_SIMD_SHA256" >"$work/req.txt"
    "$work/tools/bin/pip" download --quiet --disable-pip-version-check --no-deps \
        --no-binary :all: --no-build-isolation --require-hashes -r "$work/req.txt" -d "$work"
    mkdir "$work/src"
    tar -xzf "$work"/pillow_simd-*.tar.gz -C "$work/src" --strip-components=1

    for level in sse4 avx2; do
        # setup.py compiles the core with -msse4 itself; -mavx2 lets the compiler use
        # AVX2 everywhere (Pillow-SIMD's documented way: CC="cc -mavx2").
        cc="cc"; [ "$level" = avx2 ] && cc="cc -mavx2"
        rm -rf "$work/src/build"
        # From the folder, not the sdist: pip caches wheels built from an sdist by its
        # digest, and would hand the second build the first one's wheel.
        CC="$cc" "$work/tools/bin/pip" wheel --quiet --disable-pip-version-check --no-deps \
            --no-build-isolation --no-cache-dir "$work/src" -w "$work/wheels-$level"
        "$work/tools/bin/pip" install --quiet --disable-pip-version-check --no-deps \
            --target "$OUT/$level" "$work/wheels-$level"/*.whl
    done
    rm -rf "$work"
    # Their runtime halves, which the runtime stage installs (and nothing else).
    echo "libjpeg62-turbo libpng16-16 zlib1g libtiff6 libwebp7 libwebpmux3 libwebpdemux2" \
        "libfreetype6 liblcms2-2 libopenjp2-7 libstdc++6" >"$OUT/runtime-packages"
}

install() {
    venv=/opt/venv
    [ -d "$OUT/sse4" ] || { echo "imaging engine: the Pillow wheel stays"; return 0; }
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    for level in sse4 avx2; do
        (cd "$site" && cp -a PIL/_avif.*.so PIL/AvifImagePlugin.py "$OUT/$level/PIL/" \
            && mkdir -p "$OUT/$level/pillow.libs" && cp -a pillow.libs/libavif* "$OUT/$level/pillow.libs/")
    done
    echo "AVIF from the Pillow wheel: $(cd "$site" && ls PIL/_avif.*.so pillow.libs/libavif* | tr '\n' ' ')"
    # Pillow-SIMD replaces the wheel; pillow-heif (which requires "pillow") imports
    # whichever PIL is on sys.path. Nothing is installed after this, so pip never
    # brings the wheel back.
    "$venv/bin/pip" uninstall --quiet --yes pillow
    cp "$HERE/select_build.py" "$site/_pillow_simd_select.py"
    echo "import _pillow_simd_select" >"$site/_pillow_simd_select.pth"
    chmod -R a+rX "$OUT"
    for level in sse4 avx2; do
        if [ "$level" = avx2 ] && ! grep -qw avx2 /proc/cpuinfo; then continue; fi
        PILLOW_SIMD_LEVEL=$level "$venv/bin/python" -c \
            'import PIL, pillow_heif; from PIL import features; assert features.check("avif") and features.check("webp") and features.check("jpg") and features.check("zlib") and features.check("libtiff") and features.check("freetype2") and features.check("littlecms2") and features.check("jpg_2000"), features.pilinfo(); print("checked", PIL.__file__, PIL.__version__)'
    done
}

"$1"
