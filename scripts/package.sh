#!/usr/bin/env bash
# make package: build the deployable artifacts of one stage (STAGE=dev|prod).
#
#   1. the API: chalice package --pkg-format terraform, on a staged copy of the app
#      whose requirements.txt adds -c constraints.txt (the versions the suite tests),
#      gives chalice.tf.json and deployment.zip; scripts/lambda_package.py trims the
#      zip of what the API never imports and checks every pin in it;
#      scripts/chalice_tf.py adapts the Terraform and drops both into infra/;
#   2. the worker image (worker/Dockerfile), a separate artifact: built when a Docker
#      engine answers, on the official Python base or, where the registry cannot be
#      reached, on the stand-in (scripts/standin_images.py); when it cannot be built
#      this says why and the API artifacts stand (deploy.sh builds and pushes the image).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_deploy_common.sh"

CHALICE="${CHALICE:-$ROOT/.venv/bin/chalice}"
if [[ ! -x "$CHALICE" ]]; then
  CHALICE="$(command -v chalice || true)"
fi
[[ -n "$CHALICE" ]] || die "chalice not found: run 'make venv' (it installs chalice into .venv)"
PYTHON="$(python_bin)"

SRC="$ROOT/build/chalice-src" # kept between runs: chalice caches the built wheels in it
OUT="$ROOT/build/chalice-$STAGE"
rm -rf "$OUT"
mkdir -p "$ROOT/build"

say "staging the app with the pins of constraints.txt"
(cd "$ROOT" && "$PYTHON" -m scripts.lambda_package stage "$SRC")

say "chalice package --pkg-format terraform --stage $STAGE"
(cd "$SRC" && "$CHALICE" package --pkg-format terraform --stage "$STAGE" "$OUT")

say "trimming the Lambda package and checking its pins"
(cd "$ROOT" && "$PYTHON" -m scripts.lambda_package trim "$OUT/deployment.zip")

say "merging the API into infra/"
"$PYTHON" "$ROOT/scripts/chalice_tf.py" "$OUT" "$INFRA"
say "packaged the API of stage '$STAGE': infra/chalice.tf.json, infra/deployment.zip ($(wc -c <"$INFRA/deployment.zip") bytes)"

"$ROOT/scripts/worker_image.sh"
