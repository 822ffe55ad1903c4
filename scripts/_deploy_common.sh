# Shared by package.sh, deploy.sh and destroy.sh (sourced, not run).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA="$ROOT/infra"
STAGE="${STAGE:-dev}"
# tflocal (pip install terraform-local) points Terraform at LocalStack.
TERRAFORM="${TERRAFORM:-terraform}"
export AWS_REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
export AWS_DEFAULT_REGION="$AWS_REGION"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

case "$STAGE" in
  dev | prod) ;;
  *) die "STAGE must be dev or prod (a stage of .chalice/config.json), not '$STAGE'" ;;
esac

python_bin() {
  if [[ -x "$ROOT/.venv/bin/python" ]]; then
    echo "$ROOT/.venv/bin/python"
  elif command -v python3 >/dev/null 2>&1; then
    command -v python3
  else
    die "python3 not found: run 'make venv' (creates .venv) first"
  fi
}

require_terraform() {
  command -v "$TERRAFORM" >/dev/null 2>&1 || die "'$TERRAFORM' not found. Install Terraform >= 1.5 \
(https://developer.hashicorp.com/terraform/install), or for LocalStack 'pip install terraform-local' \
and run with TERRAFORM=tflocal."
}

require_aws() {
  command -v aws >/dev/null 2>&1 || die "the AWS CLI ('aws') is not installed: pip install awscli, or see \
https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
  if [[ "$TERRAFORM" != "tflocal" ]]; then
    aws sts get-caller-identity >/dev/null 2>&1 || die "no working AWS credentials: set AWS_PROFILE \
or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (check with 'aws sts get-caller-identity')"
  fi
}

require_docker() {
  command -v docker >/dev/null 2>&1 || die "docker is not installed; it builds and pushes the worker image"
  docker info >/dev/null 2>&1 || die "docker is installed but no Docker engine answers (is the daemon running?)"
}

# build_worker_image TAG. The Dockerfile needs BuildKit (a pip cache mount): `docker build`
# has it through the buildx plugin (docker-ce, Docker Desktop); without the plugin,
# `docker compose build` drives BuildKit through the engine's API instead.
# PYTHON_IMAGE, when set, is the base (scripts/standin_images.py's stand-in, say).
build_worker_image() {
  if docker buildx version >/dev/null 2>&1; then
    docker build ${PYTHON_IMAGE:+--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE"} \
      -f "$ROOT/worker/Dockerfile" -t "$1" "$ROOT"
  elif docker compose version >/dev/null 2>&1; then
    (cd "$ROOT" && docker compose -f docker-compose.localstack.yml build worker) || return 1
    docker tag media-jobs-worker:local "$1"
  else
    printf 'error: %s\n' "building the worker image needs BuildKit: install the docker buildx or compose plugin" >&2
    return 1
  fi
}

# Terraform's working directory, a workspace (state) per stage, and variables:
# -var for the stage and region, plus infra/<stage>.tfvars when it exists.
# (cd rather than -chdir: tflocal writes its provider override into the cwd.)
tf() { (cd "$INFRA" && "$TERRAFORM" "$@"); }

tf_init() {
  tf init -input=false >/dev/null
  tf workspace select -or-create=true "$STAGE" >/dev/null
}

tf_vars() {
  TF_VAR_ARGS=(-var "stage=$STAGE" -var "region=$AWS_REGION")
  if [[ -f "$INFRA/$STAGE.tfvars" ]]; then
    TF_VAR_ARGS+=(-var-file "$STAGE.tfvars")
  fi
}

# Immutable ECR tags: one per commit, marked when the tree has local changes.
worker_image_tag() {
  if [[ -n "${WORKER_IMAGE_TAG:-}" ]]; then
    echo "$WORKER_IMAGE_TAG"
    return
  fi
  local tag
  tag="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo manual)"
  if [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]]; then
    tag="$tag-dirty-$(date +%Y%m%d%H%M%S)"
  fi
  echo "$tag"
}
