#!/usr/bin/env bash
# make deploy: deploy one stage (STAGE=dev|prod) to AWS, or to LocalStack with
# TERRAFORM=tflocal.
#
#   1. checks terraform, the AWS CLI and credentials, and Docker;
#   2. packages the API if infra/chalice.tf.json is missing (package.sh);
#   3. selects the Terraform workspace named after the stage (one state each);
#   4. creates the ECR repository first (targeted apply), then builds and pushes
#      the worker image under an immutable tag (WORKER_IMAGE_TAG, default the
#      git commit) unless that tag is already there;
#   5. applies everything: network, bucket, Redis, the workers, the API
#      (Chalice's functions in the VPC, their settings taken from the other
#      resources by reference), autoscaling and alarms.
# Extra variables: infra/<stage>.tfvars, or TF_VAR_<name> in the environment.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_deploy_common.sh"

require_terraform
require_aws
require_docker

if [[ ! -f "$INFRA/chalice.tf.json" || ! -f "$INFRA/deployment.zip" ]]; then
  say "infra/chalice.tf.json is missing: packaging first"
  "$ROOT/scripts/package.sh"
fi

TAG="$(worker_image_tag)"
tf_init
tf_vars
TF_VAR_ARGS+=(-var "worker_image_tag=$TAG")

say "creating the worker image repository (if missing)"
tf apply -input=false -auto-approve "${TF_VAR_ARGS[@]}" -target=aws_ecr_repository.worker >/dev/null
REPO="$(tf output -raw ecr_repository_url)"

if aws ecr describe-images --repository-name "${REPO#*/}" --image-ids "imageTag=$TAG" >/dev/null 2>&1; then
  say "worker image $REPO:$TAG already pushed (tags are immutable)"
else
  say "building and pushing $REPO:$TAG"
  aws ecr get-login-password | docker login --username AWS --password-stdin "${REPO%%/*}"
  build_worker_image "$REPO:$TAG"
  docker push "$REPO:$TAG"
fi

say "terraform apply (stage $STAGE, worker image $TAG)"
if [[ "${AUTO_APPROVE:-}" == "1" || "${CI:-}" == "true" ]]; then
  tf apply -input=false -auto-approve "${TF_VAR_ARGS[@]}"
else
  tf apply -input=false "${TF_VAR_ARGS[@]}"
fi

say "deployed. API endpoint: $(tf output -raw EndpointURL 2>/dev/null || echo '(see terraform output)')"
