#!/bin/sh
# One Redis Cluster node. The replication password goes into a config file on the pod's own
# tmpfs rather than on the command line (where `ps` would show it).
set -eu
umask 077
{
  echo "port 6379"
  echo "cluster-enabled yes"
  echo "cluster-config-file /data/nodes.conf"
  # A primary that does not answer for 5 s is failed over to its replica.
  echo "cluster-node-timeout 5000"
  # While one shard fails over, the other shards keep serving their channels.
  echo "cluster-require-full-coverage no"
  echo "cluster-announce-ip ${POD_IP}"
  echo "aclfile /etc/redis/livews/users.acl"
  # Replicas sync as the `replica` user (PSYNC/REPLCONF/PING, no keys); the cluster bus
  # between nodes does not use ACL users.
  echo "masteruser replica"
  echo "masterauth $(cat /etc/redis/livews/replica-password)"
  echo "protected-mode no"
  echo "dir /data"
  echo "appendonly yes"
  # Small data (latest tick per symbol, sessions, leases): refuse writes, never evict.
  echo "maxmemory 256mb"
  echo "maxmemory-policy noeviction"
} > /tmp/redis.conf
exec redis-server /tmp/redis.conf
