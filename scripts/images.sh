#!/usr/bin/env bash
# `make images`: build every image, then print each one's size.
#
#   livews/auth:dev  livews/gateway:dev  livews/marketdata:dev  livews/fyers-emulator:dev
#       infra/images/python.Dockerfile, one build per workspace member
#   livews/web:dev   web/Dockerfile
#
# Engine: $CONTAINER_ENGINE, else podman when installed, else docker (scripts/container-deps.sh
# installs podman where neither is). Base images ($LIVEWS_IMAGE_BASE):
#   official  python:3.11-slim-bookworm, node:20-bookworm-slim, nginxinc/nginx-unprivileged
#   local     the Debian bases of scripts/local-base.sh; the web app is built on the host with
#             the repository's npm and copied in (WEB_DIST=prebuilt)
#   auto      (default) official when the registry answers, else local
# Layers are cached by the engine, so a second run rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE="$(scripts/container-deps.sh)"
BASE_MODE="${LIVEWS_IMAGE_BASE:-auto}"
OFFICIAL_PYTHON=docker.io/library/python:3.11-slim-bookworm
OFFICIAL_NODE=docker.io/library/node:20-bookworm-slim
OFFICIAL_NGINX=docker.io/nginxinc/nginx-unprivileged:1.27-alpine
if [ "$ENGINE" = podman ]; then
    # Sandboxes without CAP_SYS_RESOURCE cannot raise limits to the defaults; --network host
    # needs no netavark/CNI setup; the docker format keeps HEALTHCHECK (OCI has none).
    flags=(--format docker --network host --ulimit nofile=16384:16384 --ulimit nproc=8192:8192)
else
    flags=()
fi
if [ "$BASE_MODE" = auto ]; then
    if timeout 120 "$ENGINE" pull -q "$OFFICIAL_PYTHON" >/dev/null 2>&1; then BASE_MODE=official; else
        echo "images: $OFFICIAL_PYTHON cannot be pulled here; using the local Debian bases (LIVEWS_IMAGE_BASE=local)"
        BASE_MODE=local
    fi
fi
case "$BASE_MODE" in
    official)
        python_base="$OFFICIAL_PYTHON"; web_args=(--build-arg "BASE_IMAGE=$OFFICIAL_NGINX" --build-arg "NODE_IMAGE=$OFFICIAL_NODE") ;;
    local)
        scripts/local-base.sh "$ENGINE"
        python_base=localhost/livews-base:python
        echo "images: building web/dist on the host (npm ci && npm run build)"
        (cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent build >/dev/null)
        web_args=(--build-arg BASE_IMAGE=localhost/livews-base:nginx --build-arg NODE_IMAGE=localhost/livews-base:nginx
                  --build-arg WEB_DIST=prebuilt) ;;
    *) echo "images: LIVEWS_IMAGE_BASE must be official, local or auto, not '$BASE_MODE'" >&2; exit 2 ;;
esac

# name service-dir package port
members=(
    "auth services/auth livews-auth 8001"
    "gateway services/gateway livews-gateway 8002"
    "marketdata services/marketdata livews-marketdata 8003"
    "fyers-emulator tools/fyers-emulator fyers-emulator 8090"
)
start=$SECONDS
for row in "${members[@]}"; do
    read -r name dir package port <<<"$row"
    echo "images: livews/$name:dev ($package from $python_base)"
    "$ENGINE" build "${flags[@]}" -q -f infra/images/python.Dockerfile \
        --build-arg "BASE_IMAGE=$python_base" --build-arg "SERVICE_DIR=$dir" \
        --build-arg "PACKAGE=$package" --build-arg "PORT=$port" -t "livews/$name:dev" . >/dev/null
done
echo "images: livews/web:dev"
"$ENGINE" build "${flags[@]}" -q -f web/Dockerfile "${web_args[@]}" -t livews/web:dev . >/dev/null
echo "images: built in $((SECONDS - start)) s with $ENGINE ($BASE_MODE bases); sizes:"
for name in auth gateway marketdata fyers-emulator web; do
    size="$("$ENGINE" image inspect --format '{{.Size}}' "livews/$name:dev")"
    printf '  %-26s %6s MB\n' "livews/$name:dev" "$((size / 1000000))"
done
