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
#   $SECRETS_DIR/redis-<user>-password  one random password per Redis ACL user (auth,
#                                   marketdata, gateway, consumer, replica, sentinel, admin)
#   $REDIS_ACL_DIR/users.acl        (if set) Redis's ACL file: infra/redis/users.acl (rights,
#                                   no passwords) with each user's password hash appended;
#                                   and admin-password, for Redis's own health check
#   $CERTS_DIR/tls.crt, tls.key     self-signed certificate for https:// and wss://localhost
#                                   (the key owned by $TLS_KEY_UID, default 101: nginx's workers)
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
# Redis ACL users (docs/redis-contract.md, "Users and rights"): one password per user.
for user in auth marketdata gateway consumer replica sentinel admin; do
    write_once "redis-$user-password" "$(openssl rand -hex 24)"
done

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
    fyers-redirect-uri feed-pin redis-auth-password
share "${MARKETDATA_SECRETS_DIR:-}" token-key redis-marketdata-password
share "${GATEWAY_SECRETS_DIR:-}" redis-gateway-password

# Redis's ACL file, rendered from the checked-in template (rights only; generated from
# livews_common.redis_acl) plus each user's SHA-256 password hash; rewritten on every run so
# a changed template takes effect at the next Redis start.
REDIS_ACL_TEMPLATE="${REDIS_ACL_TEMPLATE:-$(dirname "$0")/../redis/users.acl}"
if [ -n "${REDIS_ACL_DIR:-}" ]; then
    [ -s "$REDIS_ACL_TEMPLATE" ] || { echo "init.sh: no ACL template at $REDIS_ACL_TEMPLATE" >&2; exit 1; }
    mkdir -p "$REDIS_ACL_DIR"
    chmod 0700 "$REDIS_ACL_DIR"
    rm -f "$REDIS_ACL_DIR"/*
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        user="$(printf '%s\n' "$line" | cut -d' ' -f2)"
        pwfile="$SECRETS_DIR/redis-$user-password"
        if [ "$user" != default ] && [ -s "$pwfile" ]; then
            hash="$(openssl dgst -sha256 -r < "$pwfile" | cut -d' ' -f1)"
            line="$line #$hash"
        fi
        printf '%s\n' "$line" >> "$REDIS_ACL_DIR/users.acl"
    done < "$REDIS_ACL_TEMPLATE"
    cp "$SECRETS_DIR/redis-admin-password" "$REDIS_ACL_DIR/admin-password"
    if [ "$(id -u)" = 0 ]; then
        chown -R "${REDIS_UID:-999}:${REDIS_UID:-999}" "$REDIS_ACL_DIR"
    fi
    chmod 0400 "$REDIS_ACL_DIR"/*
    chmod 0500 "$REDIS_ACL_DIR"
    echo "init.sh: $REDIS_ACL_DIR holds users.acl admin-password"
fi
chmod 0644 "$CERTS_DIR/tls.crt"
chmod 0600 "$CERTS_DIR/tls.key"
# nginx loads the certificate per handshake (its file names are variables), in a worker, which
# runs as uid 101 ("nginx") in the official image: that uid must read the key.
if [ "$(id -u)" = 0 ]; then
    chown "${TLS_KEY_UID:-101}" "$CERTS_DIR/tls.key"
fi
echo "init.sh: secrets in $SECRETS_DIR, certificate in $CERTS_DIR"
