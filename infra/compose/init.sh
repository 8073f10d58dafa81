#!/bin/sh
# One-shot setup for the docker-compose fleet (the `init` service runs it; it can also be run
# by hand: `sh infra/compose/init.sh ./.livews/compose`).
#
# Writes, only where missing, so that a restart keeps sessions and the browser's trust:
#   $SECRETS_DIR/token-key          Fernet key encrypting Fyers tokens at rest (auth, marketdata)
#   $SECRETS_DIR/auth-signing-key   EC P-256 private key (PEM) signing access JWTs (auth)
#   $SECRETS_DIR/fyers-*            the Fyers app's credentials: the emulator's dev defaults
#                                   unless FYERS_CLIENT_ID / FYERS_SECRET_KEY are set
#   $SECRETS_DIR/feed-pin           the feed account's PIN (emulator default 1234)
#   $CERTS_DIR/tls.crt, tls.key     self-signed certificate for https:// and wss://localhost
# Every value is generated here, on the developer's machine; none is in the repository.
# Then, on every run, each service's own directory gets a fresh copy of only what it reads:
#   $AUTH_SECRETS_DIR               token-key, auth-signing-key, fyers-*, feed-pin
#   $MARKETDATA_SECRETS_DIR         token-key
# (unset: skipped). The gateways, the web app, nginx and the emulator get none.
set -eu

OUT="${1:-}"
SECRETS_DIR="${SECRETS_DIR:-${OUT:+$OUT/secrets}}"
CERTS_DIR="${CERTS_DIR:-${OUT:+$OUT/certs}}"
: "${SECRETS_DIR:?set SECRETS_DIR or pass an output directory}"
: "${CERTS_DIR:?set CERTS_DIR or pass an output directory}"
SERVICE_UID="${SERVICE_UID:-10001}"
TLS_HOSTS="${TLS_HOSTS:-localhost}"

command -v openssl >/dev/null 2>&1 || { echo "init.sh: openssl is required" >&2; exit 1; }
mkdir -p "$SECRETS_DIR" "$CERTS_DIR"
chmod 0700 "$SECRETS_DIR"
umask 077

write_once() { # name value
    if [ ! -s "$SECRETS_DIR/$1" ]; then
        printf '%s' "$2" > "$SECRETS_DIR/$1"
        echo "init.sh: wrote $1"
    fi
}

# A Fernet key is 32 random bytes, urlsafe base64.
write_once token-key "$(openssl rand -base64 32 | tr '+/' '-_')"
if [ ! -s "$SECRETS_DIR/auth-signing-key" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$SECRETS_DIR/auth-signing-key" 2>/dev/null
    echo "init.sh: wrote auth-signing-key"
fi
write_once fyers-client-id "${FYERS_CLIENT_ID:-DEVAPP0001-100}"
write_once fyers-secret-key "${FYERS_SECRET_KEY:-devsecret}"
write_once fyers-redirect-uri "${FYERS_REDIRECT_URI:-https://localhost:8443/auth/callback}"
write_once feed-pin "${AUTH_FEED_PIN:-1234}"

if [ ! -s "$CERTS_DIR/tls.crt" ] || [ ! -s "$CERTS_DIR/tls.key" ]; then
    san=""
    for host in $TLS_HOSTS; do san="${san:+$san,}DNS:$host"; done
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 \
        -subj "/CN=livews local development" \
        -addext "subjectAltName=$san,IP:127.0.0.1" \
        -keyout "$CERTS_DIR/tls.key" -out "$CERTS_DIR/tls.crt" 2>/dev/null
    echo "init.sh: wrote a self-signed certificate for $TLS_HOSTS"
fi

# The services run as uid $SERVICE_UID and must read the secrets; nobody else may.
if [ "$(id -u)" = 0 ]; then
    chown -R "$SERVICE_UID:$SERVICE_UID" "$SECRETS_DIR"
fi
chmod 0500 "$SECRETS_DIR"
chmod 0400 "$SECRETS_DIR"/*

share() { # directory name... : replace the directory's contents with copies of these
    dir="$1"
    shift
    [ -n "$dir" ] || return 0
    mkdir -p "$dir"
    chmod 0700 "$dir"
    rm -f "$dir"/*
    for name in "$@"; do
        cp "$SECRETS_DIR/$name" "$dir/$name"
    done
    if [ "$(id -u)" = 0 ]; then
        chown -R "$SERVICE_UID:$SERVICE_UID" "$dir"
    fi
    chmod 0400 "$dir"/*
    chmod 0500 "$dir"
    echo "init.sh: $dir holds $*"
}
share "${AUTH_SECRETS_DIR:-}" token-key auth-signing-key fyers-client-id fyers-secret-key \
    fyers-redirect-uri feed-pin
share "${MARKETDATA_SECRETS_DIR:-}" token-key
chmod 0644 "$CERTS_DIR/tls.crt"
chmod 0600 "$CERTS_DIR/tls.key"
echo "init.sh: secrets in $SECRETS_DIR, certificate in $CERTS_DIR"
