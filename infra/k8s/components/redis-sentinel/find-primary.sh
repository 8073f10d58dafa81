#!/bin/sh
# Print the host name of the primary the Sentinels of service `livews` agree on; when none
# answers (the first start of the whole set), redis-0. $1: a Sentinel not to ask (oneself).
for i in 0 1 2; do
    PEER="redis-sentinel-$i.redis-sentinel-headless"
    [ "$PEER" = "${1:-}" ] && continue
    FOUND="$(timeout 3 redis-cli -h "$PEER" -p 26379 --raw \
        sentinel get-master-addr-by-name livews 2>/dev/null | head -n 1 || true)"
    if [ -n "$FOUND" ]; then
        echo "$FOUND"
        exit 0
    fi
done
echo "redis-0.redis-headless"
