#!/usr/bin/env bash
# What `make images` and `make compose-test` need: a container engine (docker, or Debian's
# podman with runc) and, for the local base images (scripts/local-base.sh), debootstrap.
# Installs podman, runc and debootstrap with apt-get when no engine is found (as root, or
# with sudo); a machine with docker needs nothing. Prints the engine it found.
set -euo pipefail
engine="${CONTAINER_ENGINE:-}"
if [ -z "$engine" ]; then
    if command -v podman >/dev/null 2>&1; then engine=podman
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then engine=docker
    else engine=podman
    fi
fi
missing=()
if [ "$engine" = podman ]; then
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v runc >/dev/null 2>&1 || missing+=(runc)
fi
if [ "${LIVEWS_IMAGE_BASE:-auto}" != official ]; then
    command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "container-deps: need ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]}); run as root or install them" >&2
        exit 1
    fi
    echo "container-deps: installing ${missing[*]}" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "$engine"
