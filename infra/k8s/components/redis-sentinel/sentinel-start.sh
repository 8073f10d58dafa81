#!/bin/sh
# Start one Sentinel. It monitors the primary the other Sentinels already agree on (so a
# restarted Sentinel does not go back to redis-0 after a failover), else redis-0.
set -eu
ME="$(hostname).redis-sentinel-headless"
# The Sentinel watches the data nodes as the `sentinel` user (health, its hello channel, the
# failover commands; no keys), never as admin.
PASSWORD="$(cat /etc/redis/livews/sentinel-password)"
PRIMARY="$(sh /scripts/find-primary.sh "$ME")"
umask 077
# Sentinel rewrites its configuration as it learns: it lives on the writable /data volume.
cat > /data/sentinel.conf <<CONF
port 26379
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $ME
sentinel monitor livews $PRIMARY 6379 2
sentinel auth-user livews sentinel
sentinel auth-pass livews $PASSWORD
sentinel down-after-milliseconds livews 5000
sentinel failover-timeout livews 30000
sentinel parallel-syncs livews 1
CONF
exec redis-server /data/sentinel.conf --sentinel
