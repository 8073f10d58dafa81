#!/bin/sh
# Join the six redis-cluster pods into 3 primaries with 1 replica each, once. Run by the Job
# redis-cluster-create; when the nodes already form a cluster it only says so.
set -eu
REDISCLI_AUTH="$(cat /etc/redis/livews/admin-password)"
export REDISCLI_AUTH
cli() { redis-cli --user admin --no-auth-warning "$@"; }
nodes=""
for i in 0 1 2 3 4 5; do
  host="redis-cluster-$i.redis-cluster-headless"
  until cli -h "$host" ping 2>/dev/null | grep -q PONG; do
    echo "waiting for $host"
    sleep 2
  done
  # CLUSTER MEET takes addresses, not names: each node's own announced ip:port.
  addr="$(cli -h "$host" cluster nodes | awk '/myself/ {split($2, a, "@"); print a[1]}')"
  nodes="$nodes $addr"
done
known="$(cli -h redis-cluster-0.redis-cluster-headless cluster info | tr -d '\r' | awk -F: '/^cluster_known_nodes/ {print $2}')"
if [ "$known" -gt 1 ]; then
  echo "the cluster exists ($known nodes known): nothing to do"
  exit 0
fi
# shellcheck disable=SC2086 # one argument per node
cli --cluster create $nodes --cluster-replicas 1 --cluster-yes
