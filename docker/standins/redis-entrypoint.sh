#!/bin/sh
# Like the official image: a redis-server without a config file listens on
# every interface with protected mode off, so the other containers reach it.
set -eu
if [ "${1:-}" = "redis-server" ]; then
    shift
    exec redis-server --bind '* -::*' --protected-mode no "$@"
fi
exec "$@"
