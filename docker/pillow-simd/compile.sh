#!/bin/sh
# Pillow-SIMD compiled for the worker image (worker/Dockerfile's pillow-simd stage,
# cached until this file or the pins change): on x86-64 (IMAGING_ENGINE=auto or
# pillow-simd), from its pinned sdist, twice against Debian's headers: for SSE4
# (Pillow-SIMD's default, any x86-64 CPU since about 2008) and with -mavx2, each into
# a folder of its own under /opt/pillow-simd. Elsewhere (IMAGING_ENGINE=pillow, or
# another architecture) it does nothing and the image keeps the Pillow wheel.
# install.sh then makes these builds the image's engine.
set -eu

OUT=/opt/pillow-simd
HERE=$(dirname "$0")

compile() {
    mkdir -p "$OUT"
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
        gcc libc6-dev pkg-config $headers \
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
        # Every codec found by setup.py (it skips a library it cannot find, silently);
        # the AVX2 build is imported only where this CPU can run it.
        if [ "$level" = avx2 ] && ! grep -qw avx2 /proc/cpuinfo; then continue; fi
        PYTHONPATH="$OUT/$level" python -c '
from PIL import features
needed = ("jpg", "zlib", "libtiff", "webp", "freetype2", "littlecms2", "jpg_2000")
missing = [name for name in needed if not features.check(name)]
assert not missing, f"Pillow-SIMD built without {missing}"'
    done
    rm -rf "$work"
}

compile
