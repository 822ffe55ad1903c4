#!/usr/bin/env bash
# The worker image (worker/Dockerfile) as its own step of `make package`: built when
# a Docker engine answers, FROM the official Python base when it is here or can be
# pulled, else FROM the stand-in scripts/standin_images.py builds from Debian's
# packages. Whatever stops it, it says why and exits 0: the image is an artifact
# of its own, and deploy.sh builds and pushes it before deploying.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_deploy_common.sh"

skip() {
  say "worker image NOT built: $*"
  say "(the API artifacts stand; deploy.sh builds and pushes the image where Docker and the registries answer)"
  exit 0
}

command -v docker >/dev/null 2>&1 || skip "docker is not installed"
docker info >/dev/null 2>&1 || skip "no Docker engine answers (is the daemon running?)"

TAG="$(worker_image_tag)"
say "worker image media-jobs-worker:$TAG: choosing its base (official, or the stand-in)"
# Its progress and errors go to stderr, as they happen; stdout is VAR=image lines.
IMAGES="$(cd "$ROOT" && "$(python_bin)" -m scripts.standin_images --only PYTHON_IMAGE)" ||
  skip "no base image: neither the official Python image nor its stand-in could be had (see above)"
PYTHON_IMAGE="$(sed -n 's/^PYTHON_IMAGE=//p' <<<"$IMAGES")"
[[ -n "$PYTHON_IMAGE" ]] || skip "scripts/standin_images.py named no PYTHON_IMAGE:
$IMAGES"
export PYTHON_IMAGE

say "docker build worker image media-jobs-worker:$TAG FROM $PYTHON_IMAGE"
build_worker_image "media-jobs-worker:$TAG" || skip "the build failed (its output is above)"
say "built the worker image media-jobs-worker:$TAG"
