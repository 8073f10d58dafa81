#!/bin/sh
# Start one Redis data node of the Sentinel topology. Whoever the Sentinels name as primary
# stays primary: a restarted pod asks them first and comes back as a replica; only when no
# Sentinel answers (first start of the whole set) is redis-0 the primary.
set -eu
ME="$(hostname).redis-headless"
# Replication signs in as the `replica` user: PSYNC/REPLCONF/PING, no keys.
REPLICA="$(cat /etc/redis/livews/replica-password)"
PRIMARY="$(sh /scripts/find-primary.sh)"
umask 077
cat > /tmp/redis.conf <<CONF
port 6379
protected-mode no
aclfile /etc/redis/livews/users.acl
dir /data
appendonly yes
maxmemory 256mb
maxmemory-policy noeviction
masteruser replica
masterauth $REPLICA
replica-announce-ip $ME
CONF
if [ "$PRIMARY" != "$ME" ]; then
    echo "replicaof $PRIMARY 6379" >> /tmp/redis.conf
fi
exec redis-server /tmp/redis.conf
