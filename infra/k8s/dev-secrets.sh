#!/bin/sh
# Create (or replace) the Secret `livews-secrets` in a dev namespace with freshly generated
# values: a Fernet token key, an EC P-256 JWT signing key, the emulator's dev app credentials
# and PIN. Nothing is stored in the repository; the values live only in the cluster.
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

SERVICE_UID="$(id -u)" \
FYERS_REDIRECT_URI="${FYERS_REDIRECT_URI:-https://livews.localtest.me/auth/callback}" \
    sh "$HERE/../compose/init.sh" "$WORK" >/dev/null

kubectl create secret generic livews-secrets --namespace "$NS" \
    --from-file="$WORK/secrets" --dry-run=client -o yaml | kubectl apply -f -
echo "dev-secrets.sh: livews-secrets applied in namespace $NS"
