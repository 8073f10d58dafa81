#!/bin/sh
# Create (or replace) the Secret `livews-secrets` in a dev namespace with freshly generated
# values: a Fernet token key, an EC P-256 JWT signing key, the emulator's dev app credentials
# and PIN; and the Secret `livews-redis`: one password per Redis ACL user (keys auth,
# marketdata, gateway, consumer, replica, sentinel, admin) and the dev Redis's ACL file
# (users.acl, rendered from infra/redis/users.acl). Nothing is stored in the repository; the values live only in
# the cluster.
#
#   sh infra/k8s/dev-secrets.sh [namespace]          # default: livews-dev
#
# Production takes the same keys from a secret manager instead (External Secrets, Sealed
# Secrets, or `kubectl create secret generic livews-secrets --from-file=...` run by whoever
# holds them): docs/operations.md, "Secrets".
set -eu
NS="${1:-livews-dev}"
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d)"
trap 'chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

SERVICE_UID="$(id -u)" REDIS_ACL_DIR="$WORK/redis" \
FYERS_REDIRECT_URI="${FYERS_REDIRECT_URI:-https://livews.localtest.me/auth/callback}" \
    sh "$HERE/../compose/init.sh" "$WORK" >/dev/null

kubectl create secret generic livews-secrets --namespace "$NS" \
    --from-file="$WORK/secrets" --dry-run=client -o yaml | kubectl apply -f -
S="$WORK/secrets"
kubectl create secret generic livews-redis --namespace "$NS" \
    --from-file=auth="$S/redis-auth-password" --from-file=marketdata="$S/redis-marketdata-password" \
    --from-file=gateway="$S/redis-gateway-password" --from-file=consumer="$S/redis-consumer-password" \
    --from-file=replica="$S/redis-replica-password" --from-file=sentinel="$S/redis-sentinel-password" \
    --from-file=admin="$S/redis-admin-password" --from-file=users.acl="$WORK/redis/users.acl" \
    --dry-run=client -o yaml | kubectl apply -f -
echo "dev-secrets.sh: livews-secrets and livews-redis applied in namespace $NS"
