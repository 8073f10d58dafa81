"""Per-user quotas across the whole fleet, kept in Redis under ``gw:`` (CONTRACT §3 "per user").

Three limits, each a small Redis structure per user with a TTL, so nothing outlives its use:

* **connections** — ``gw:conns:{user}``, a sorted set of ``{instance}|{sid}`` scored by the
  expiry of a lease (Redis time + ``lease``). A connect past ``max_connections`` is refused.
* **symbol slots** — ``gw:syms:{user}``, a sorted set of the distinct symbols the user holds
  on any gateway, scored the same way. A subscribe that would take more than
  ``max_symbols`` distinct symbols is refused for the extra ones.
* **probes** — ``gw:probes:{user}``, a counter of unknown symbols sent upstream for a
  verdict in the current window of ``probe_window`` seconds; past ``probes`` the symbol is
  refused without being probed.

Every live gateway re-scores its own members every ``lease / 3`` seconds (:meth:`run`); a
crashed gateway stops doing so and its members drop out once their lease ends (expired
members are removed by the next check; the keys themselves expire with the lease). A
gateway that releases a symbol its other connections of the same user still hold keeps it;
if another *gateway* still holds it, that gateway's next refresh puts it back, so a user
may briefly hold one more symbol than the cap — never more than the fleet's refresh lag.

Every check is one script call. When Redis cannot be reached the check *allows* (the same
rule as verdicts: the quota machinery being down never refuses a client); a refresh that
fails is retried on the next round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, RedisError

from livews_common import names, redisconn
from livews_gateway.metrics import GatewayMetrics

log = logging.getLogger(__name__)

#: Users per pipelined refresh round-trip.
_REFRESH_CHUNK = 200
_ERRORS = (RedisError, RedisClusterException, OSError, TimeoutError)

# Redis time in ms; scripts use it so that gateways with skewed clocks agree on leases.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: KEYS[1] = gw:conns:{user}; ARGV = member, cap, lease ms. Returns 1 (admitted) or 0.
_ADMIT_CONNECTION = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

#: KEYS[1] = gw:syms:{user}; ARGV = cap, lease ms, symbols... Returns the refused symbols.
_ADMIT_SYMBOLS = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cap, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
local refused = {}
for i = 3, #ARGV do
  local symbol = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], symbol) then
    redis.call('ZADD', KEYS[1], now + lease, symbol)
  elseif count < cap then
    redis.call('ZADD', KEYS[1], now + lease, symbol)
    count = count + 1
  else
    refused[#refused + 1] = symbol
  end
end
if count > 0 then redis.call('PEXPIRE', KEYS[1], lease) end
return refused
"""
)

#: KEYS[1] = gw:probes:{user}; ARGV = wanted, cap, window ms. Returns how many are granted.
_TAKE_PROBES = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], grant)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return grant
"""

#: KEYS = gw:conns:{user}, gw:syms:{user}; ARGV = lease ms, n connections, members...,
#: symbols... Re-scores what this gateway holds (re-adding members an outage expired).
_REFRESH = (
    _NOW
    + """
local lease = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local expiry = now + lease
for i = 3, 2 + n do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
if n > 0 then redis.call('PEXPIRE', KEYS[1], lease) end
local symbols = 0
for i = 3 + n, #ARGV do
  redis.call('ZADD', KEYS[2], expiry, ARGV[i])
  symbols = symbols + 1
end
if symbols > 0 then redis.call('PEXPIRE', KEYS[2], lease) end
return 1
"""
)


@dataclass(frozen=True)
class QuotaLimits:
    """The per-user limits (see the module doc); ``lease`` and ``probe_window`` in seconds."""

    max_connections: int
    max_symbols: int
    probes: int
    probe_window: float = 60.0
    lease: float = 30.0


class Holder(Protocol):
    """What the book needs of a connection (a gateway :class:`~livews_gateway.clients.Client`)."""

    @property
    def sid(self) -> str: ...

    @property
    def user(self) -> str: ...

    @property
    def subs(self) -> tuple[set[str], ...]: ...


class QuotaBook:
    """The per-user quotas of this gateway process; ``redis=None`` disables them."""

    def __init__(
        self,
        redis: aioredis.Redis | None,
        limits: QuotaLimits,
        *,
        instance: str,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._redis = redis
        self._metrics = metrics
        self.limits = limits
        self._instance = instance
        self._lease_ms = max(1000, int(limits.lease * 1000))
        self._users: dict[str, dict[str, Holder]] = {}  # user → sid → connection
        self.refused = {"connections": 0, "symbols": 0, "probes": 0}
        self.errors = 0
        self._cluster = redisconn.is_cluster(redis)
        if redis is not None:
            self._admit_connection = redis.register_script(_ADMIT_CONNECTION)
            self._admit_symbols = redis.register_script(_ADMIT_SYMBOLS)
            self._take_probes = redis.register_script(_TAKE_PROBES)
            self._refresh = redis.register_script(_REFRESH)

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    def _member(self, sid: str) -> str:
        return f"{self._instance}|{sid}"

    def _refuse(self, quota: str, count: int) -> None:
        self.refused[quota] += count
        if self._metrics is not None and count:
            self._metrics.quota_refusals.labels(quota).inc(count)

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        if self._metrics is not None:
            self._metrics.quota_errors.inc()
        log.warning("quota check failed; allowing", extra={"check": what, "error": repr(exc)})

    # --- connections ---------------------------------------------------------------------------

    async def admit_connection(self, holder: Holder) -> bool:
        """Count ``holder`` (a new client) against its user's connections; False = over the cap."""
        self._users.setdefault(holder.user, {})[holder.sid] = holder
        if self._redis is None:
            return True
        try:
            ok = await self._admit_connection(
                keys=[names.user_connections_key(holder.user, self._cluster)],
                args=[self._member(holder.sid), self.limits.max_connections, self._lease_ms],
            )
        except _ERRORS as exc:
            self._failed("connections", exc)
            return True
        if not int(ok):
            self._refuse("connections", 1)
            self._forget(holder)
            return False
        return True

    def release_connection(self, holder: Holder) -> Coroutine[Any, Any, None]:
        """``holder`` disconnected: forget it now; the returned coroutine frees its connection
        and the symbols no other connection of its user here holds (await or spawn it)."""
        if not self._forget(holder):
            return self._release(holder.user, None, [])
        gone = self._unheld(holder.user, set().union(*holder.subs))
        return self._release(holder.user, self._member(holder.sid), gone)

    async def _release(self, user: str, member: str | None, symbols: list[str]) -> None:
        if self._redis is None or (member is None and not symbols):
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            if member is not None:
                pipe.zrem(names.user_connections_key(user, self._cluster), member)
            if symbols:
                pipe.zrem(names.user_symbols_key(user, self._cluster), *symbols)
            await pipe.execute()
        except Exception as exc:  # run as a task: never let it fail the gateway
            self._failed("release", exc)  # the lease ends it

    def _forget(self, holder: Holder) -> bool:
        held = self._users.get(holder.user)
        if held is None or held.get(holder.sid) is not holder:
            return False
        del held[holder.sid]
        if not held:
            del self._users[holder.user]
        return True

    # --- symbol slots --------------------------------------------------------------------------

    async def admit_symbols(self, user: str, symbols: Sequence[str]) -> list[str]:
        """Take slots for ``symbols`` (already-held ones are free); returns the refused ones."""
        if self._redis is None or not symbols:
            return []
        try:
            refused = await self._admit_symbols(
                keys=[names.user_symbols_key(user, self._cluster)],
                args=[self.limits.max_symbols, self._lease_ms, *symbols],
            )
        except _ERRORS as exc:
            self._failed("symbols", exc)
            return []
        out = [s.decode() if isinstance(s, bytes) else str(s) for s in refused]
        self._refuse("symbols", len(out))
        return out

    async def release_symbols(self, user: str, symbols: Iterable[str]) -> None:
        """Symbols a client of ``user`` left: free those no client of ``user`` here holds."""
        gone = self._unheld(user, set(symbols))
        if self._redis is None or not gone:
            return
        try:
            await self._redis.zrem(names.user_symbols_key(user, self._cluster), *gone)
        except _ERRORS as exc:
            self._failed("release", exc)

    def _unheld(self, user: str, symbols: set[str]) -> list[str]:
        for other in self._users.get(user, {}).values():
            if not symbols:
                break
            for subs in other.subs:
                symbols -= subs
        return sorted(symbols)

    # --- probes --------------------------------------------------------------------------------

    async def take_probes(self, user: str, wanted: int) -> int:
        """How many of ``wanted`` new unknown symbols ``user`` may have probed now."""
        if self._redis is None or wanted <= 0:
            return wanted
        try:
            granted = await self._take_probes(
                keys=[names.user_probes_key(user, self._cluster)],
                args=[wanted, self.limits.probes, max(1000, int(self.limits.probe_window * 1000))],
            )
        except _ERRORS as exc:
            self._failed("probes", exc)
            return wanted
        refused = wanted - int(granted)
        self._refuse("probes", refused)
        return int(granted)

    # --- leases --------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-score every connection and symbol this gateway holds (one round per chunk)."""
        if self._redis is None:
            return
        users = list(self._users.items())
        for start in range(0, len(users), _REFRESH_CHUNK):
            batch: list[tuple[list[str], list[str | int]]] = []
            for user, held in users[start : start + _REFRESH_CHUNK]:
                members = [self._member(sid) for sid in held]
                symbols: set[str] = set()
                for holder in held.values():
                    for subs in holder.subs:
                        symbols |= subs
                keys = [names.user_connections_key(user, self._cluster),
                        names.user_symbols_key(user, self._cluster)]  # fmt: skip
                batch.append((keys, [self._lease_ms, len(members), *members, *sorted(symbols)]))
            if self._cluster:  # a cluster pipeline does not load a missing script: no pipeline
                await asyncio.gather(*(self._refresh(keys=k, args=a) for k, a in batch))
                continue
            pipe = self._redis.pipeline(transaction=False)
            for keys, args in batch:
                await self._refresh(keys=keys, args=args, client=pipe)
            await pipe.execute()

    async def withdraw(self) -> None:
        """Shutdown: free every connection and symbol this gateway counts (best effort)."""
        users, self._users = list(self._users.items()), {}
        if self._redis is None:
            return
        try:
            for start in range(0, len(users), _REFRESH_CHUNK):
                pipe = self._redis.pipeline(transaction=False)
                for user, held in users[start : start + _REFRESH_CHUNK]:
                    symbols: set[str] = set()
                    for holder in held.values():
                        for subs in holder.subs:
                            symbols |= subs
                    conns = names.user_connections_key(user, self._cluster)
                    pipe.zrem(conns, *map(self._member, held))
                    if symbols:
                        pipe.zrem(names.user_symbols_key(user, self._cluster), *symbols)
                await pipe.execute()
        except _ERRORS as exc:
            self._failed("withdraw", exc)  # the leases end them

    async def run(self) -> None:
        """Refresh the leases every third of a lease; until cancelled."""
        interval = self.limits.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except _ERRORS as exc:
                self._failed("refresh", exc)

    def usage(self) -> dict[str, int]:
        """Users and connections this gateway counts (for tests and logs)."""
        return {"users": len(self._users), "connections": sum(map(len, self._users.values()))}
