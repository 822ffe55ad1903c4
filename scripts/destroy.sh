#!/usr/bin/env bash
# make destroy: delete everything one stage (STAGE=dev|prod) created.
#
# The bucket and the image repository refuse deletion while they hold data, so
# this first switches force_destroy on for them (a targeted apply), then runs
# terraform destroy. It asks for confirmation unless AUTO_APPROVE=1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_deploy_common.sh"

require_terraform
require_aws

if [[ -f "$INFRA/chalice.tf.json" && ! -f "$INFRA/deployment.zip" ]]; then
  die "infra/chalice.tf.json is there but infra/deployment.zip is not: run 'make package STAGE=$STAGE' first"
fi

tf_init
tf_vars
# Any tag will do: nothing is built or started on the way down.
TF_VAR_ARGS+=(-var "worker_image_tag=${WORKER_IMAGE_TAG:-destroy}" -var "force_destroy=true")

if [[ "${AUTO_APPROVE:-}" != "1" ]]; then
  read -r -p "Destroy stage '$STAGE' (bucket contents, Redis data, everything)? Type the stage name: " answer
  [[ "$answer" == "$STAGE" ]] || die "not confirmed; nothing destroyed"
fi

say "allowing deletion of the non-empty bucket and image repository"
tf apply -input=false -auto-approve "${TF_VAR_ARGS[@]}" \
  -target=aws_s3_bucket.media -target=aws_ecr_repository.worker >/dev/null

say "terraform destroy (stage $STAGE)"
tf destroy -input=false -auto-approve "${TF_VAR_ARGS[@]}"
say "stage '$STAGE' destroyed"
