#!/usr/bin/env bash
# Local base images for `make images` / `make compose-test` where public registries cannot be
# reached (this is what the tests use): Debian bookworm from Debian's own packages
# (`debootstrap --variant=minbase`, imported with `podman import`), then three small layers:
#
#   localhost/livews-base:python   python3.11 + venv: BASE_IMAGE of infra/images/python.Dockerfile
#   localhost/livews-base:nginx    nginx + wget: BASE_IMAGE of web/Dockerfile, and compose's nginx
#   localhost/livews-base:tools    python base + openssl + redis-server: compose-test's stand-ins
#                                  for the `init` (alpine) and `redis` (redis:7.2-alpine) images
#
# Each is built once and kept (an existing tag is reused; LIVEWS_BASE_REBUILD=1 rebuilds).
# The certificate authorities the host trusts (/usr/local/share/ca-certificates) are added, so
# pip/uv/apt inside builds work behind a TLS-intercepting egress proxy; these bases are for this
# machine only and are never published.
#   usage: scripts/local-base.sh [engine]      (engine: podman (default) or docker)
set -euo pipefail
ENGINE="${1:-podman}"
SUITE="${LIVEWS_BASE_SUITE:-bookworm}"
MIRROR="${LIVEWS_BASE_MIRROR:-http://deb.debian.org/debian}"
REPO="localhost/livews-base"
engine() { "$ENGINE" "$@"; }
if [ "$ENGINE" = podman ]; then
    # The sandbox this runs in lacks CAP_SYS_RESOURCE: keep limits under the hard ones.
    build_flags=(--network host --ulimit nofile=16384:16384 --ulimit nproc=8192:8192)
else
    build_flags=(--network host)
fi
have() { [ "${LIVEWS_BASE_REBUILD:-0}" != 1 ] && engine image exists "$1" 2>/dev/null; }
if [ "$ENGINE" = docker ]; then have() { [ "${LIVEWS_BASE_REBUILD:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }; fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! have "$REPO:minbase"; then
    command -v debootstrap >/dev/null || { echo "local-base: debootstrap is missing (scripts/container-deps.sh)" >&2; exit 1; }
    echo "local-base: debootstrap --variant=minbase $SUITE (about 30 s)"
    debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
        "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/locale/*
    tar -C "$work/rootfs" -c . | engine import --change 'CMD ["/bin/bash"]' - "$REPO:minbase" \
        >/dev/null 2>"$work/import.log" || { cat "$work/import.log" >&2; exit 1; }
    rm -rf "$work/rootfs"
fi

layer() { # tag from "packages" "extra shell command"
    local tag="$1" from="$2" packages="$3" extra="${4:-true}"
    have "$REPO:$tag" && return 0
    mkdir -p "$work/$tag"
    cp /usr/local/share/ca-certificates/*.crt "$work/$tag/" 2>/dev/null || true
    {
        echo "FROM $from"
        echo "COPY . /usr/local/share/ca-certificates/"
        echo "RUN rm -f /usr/local/share/ca-certificates/Containerfile && apt-get update -qq && \\"
        echo "    DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq --no-install-recommends ca-certificates $packages >/dev/null && \\"
        echo "    update-ca-certificates >/dev/null && $extra && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /usr/share/doc/* /usr/share/man/*"
        echo "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt"
    } >"$work/$tag/Containerfile"
    echo "local-base: $REPO:$tag ($packages)"
    engine build "${build_flags[@]}" -q -t "$REPO:$tag" -f "$work/$tag/Containerfile" "$work/$tag" >/dev/null
}
layer python "$REPO:minbase" "python3.11 python3.11-venv"
# uid 101 "nginx", as in the official nginx images: compose's nginx workers run as it.
layer nginx "$REPO:minbase" "nginx wget" \
    "groupadd --system --gid 101 nginx && useradd --system --uid 101 --gid 101 --no-create-home --shell /usr/sbin/nologin nginx"
# /data owned by uid 999, as in the official redis image (a new named volume copies it); the
# ACL file is mounted under /etc/redis, which Debian keeps for its own redis user (0750).
layer tools "$REPO:python" "openssl redis-server" "mkdir -p /data && chown 999:999 /data && chmod 0755 /etc/redis"
