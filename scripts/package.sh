#!/usr/bin/env bash
# make package: build the deployable artifacts of one stage (STAGE=dev|prod).
#
#   1. chalice package --pkg-format terraform: the API as chalice.tf.json +
#      deployment.zip (the Lambda's code and its requirements.txt wheels);
#   2. scripts/chalice_tf.py adapts it and drops both into infra/, beside the
#      hand-written Terraform, so one `terraform apply` deploys everything;
#   3. the worker image (worker/Dockerfile), when a Docker engine answers;
#      deploy.sh builds it otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_deploy_common.sh"

CHALICE="${CHALICE:-$ROOT/.venv/bin/chalice}"
if [[ ! -x "$CHALICE" ]]; then
  CHALICE="$(command -v chalice || true)"
fi
[[ -n "$CHALICE" ]] || die "chalice not found: run 'make venv' (it installs chalice into .venv)"

OUT="$ROOT/build/chalice-$STAGE"
rm -rf "$OUT"
mkdir -p "$ROOT/build"

say "chalice package --pkg-format terraform --stage $STAGE"
(cd "$ROOT" && "$CHALICE" package --pkg-format terraform --stage "$STAGE" "$OUT")

say "merging the API into infra/"
"$(python_bin)" "$ROOT/scripts/chalice_tf.py" "$OUT" "$INFRA"

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  TAG="$(worker_image_tag)"
  say "docker build worker image media-jobs-worker:$TAG"
  build_worker_image "media-jobs-worker:$TAG"
else
  say "no Docker engine: skipping the worker image (deploy.sh builds it before pushing)"
fi

say "packaged stage '$STAGE': infra/chalice.tf.json, infra/deployment.zip"
