"""The leader lease: exactly one ingestor replica holds the upstream and writes Redis.

Contract of :class:`Lease`:

- ``acquire()`` takes the lease only if nobody holds it and returns the new fencing
  **epoch** (``md:leader:epoch`` incremented atomically with the take), else ``None``.
- ``renew()`` extends the lease only if it is still ours *at our epoch*; ``False`` means it
  was lost (expired and taken, or released). Redis errors propagate: the caller decides how
  long an unreachable Redis may be tolerated.
- ``release()`` gives it up only if it is still ours.
- Every write the leader makes is fenced by ``(holder, epoch)``: Redis refuses it once the
  lease is someone else's or was re-taken, so a paused old leader can never write over a new
  one (see :mod:`livews_marketdata.publish`).

``RedisLease`` keeps the lease in ``md:leader`` (value: the instance id, ``PX`` TTL) and the
epoch in ``md:leader:epoch``; ``MemoryLease`` does the same in a shared dict for tests.

On a Redis Cluster the epoch key carries the lease's hash tag (``md:leader:epoch{md:leader}``,
one script sets both), and the leader's writes cannot check the lease in the same script (the
keys they write live in other slots). Each fenced key there has a **fence key** in its own
slot (``md:fence{md:last}`` …) holding the highest epoch that wrote it: ``acquire()`` raises
every fence to the new epoch before it returns, and a write carrying a lower epoch than its
fence is refused (:data:`FENCE_SCRIPT_CHECK`). So once a new leader holds the lease, an old
one can no longer write, as on one Redis; the difference is that a leader whose lease lapsed
without a successor may still write until one appears (nobody else writes meanwhile).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

import redis.asyncio as aioredis

from livews_common import names, redisconn

_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
#: Lua prologue of a write fenced on a Cluster: KEYS[1] is the fence, ARGV[1] the epoch.
#: Returns -1 from the script when a newer epoch wrote already; raises the fence otherwise.
FENCE_SCRIPT_CHECK = """
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) < fence then
  return -1
end
if tonumber(ARGV[1]) > fence then
  redis.call('SET', KEYS[1], ARGV[1])
end
"""
_RAISE_FENCE = FENCE_SCRIPT_CHECK + "return 1\n"


class Lease(Protocol):
    """A leader lease with a fencing epoch (see the module docstring for the contract)."""

    holder: str
    ttl: float

    @property
    def epoch(self) -> int | None:
        """The epoch of the lease we hold, or None."""

    async def acquire(self) -> int | None: ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...

    async def last_epoch(self) -> int:
        """The newest epoch handed out (0 when none has been, or Redis lost it)."""


class RedisLease:
    """The lease in Redis: ``md:leader`` = instance id with a TTL, ``md:leader:epoch``."""

    def __init__(self, redis: aioredis.Redis, holder: str, ttl: float) -> None:
        self.holder = holder
        self.ttl = ttl
        self._redis = redis
        self._epoch: int | None = None
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._cluster = redisconn.is_cluster(redis)
        self._raise_fence = redis.register_script(_RAISE_FENCE)
        self._keys = [names.LEADER_LEASE, names.leader_epoch_key(self._cluster)]

    @property
    def epoch(self) -> int | None:
        return self._epoch

    @property
    def ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    async def acquire(self) -> int | None:
        epoch = int(await self._acquire(keys=self._keys, args=[self.holder, self.ttl_ms]))
        self._epoch = epoch or None
        if self._epoch is not None and self._cluster:
            # Before this leader reads md:last to continue from it: the old one is shut out.
            await asyncio.gather(*(
                self._raise_fence(keys=[names.fence_key(key)], args=[epoch])
                for key in names.FENCED_KEYS
            ))  # fmt: skip
        return self._epoch

    async def renew(self) -> bool:
        if self._epoch is None:
            return False
        ok = int(await self._renew(keys=self._keys, args=[self.holder, self._epoch, self.ttl_ms]))
        if not ok:
            self._epoch = None
        return bool(ok)

    async def release(self) -> None:
        epoch, self._epoch = self._epoch, None
        if epoch is not None:
            await self._release(keys=self._keys, args=[self.holder, epoch])

    async def last_epoch(self) -> int:
        return int(await self._redis.get(self._keys[1]) or 0)

    def forget(self) -> None:
        """Stop claiming the lease locally (it is lost; nothing is written)."""
        self._epoch = None


@dataclass
class LeaseTable:
    """The shared state of :class:`MemoryLease` instances (one "Redis")."""

    holder: str | None = None
    expires: float = 0.0
    epoch: int = 0
    clock: object = field(default=time.monotonic)

    def now(self) -> float:
        clock = self.clock
        assert callable(clock)
        value: float = clock()
        return value

    def current(self) -> str | None:
        if self.holder is not None and self.now() >= self.expires:
            self.holder = None
        return self.holder


class MemoryLease:
    """The same lease semantics in process memory, for unit tests."""

    def __init__(self, table: LeaseTable, holder: str, ttl: float) -> None:
        self.holder = holder
        self.ttl = ttl
        self._table = table
        self._epoch: int | None = None

    @property
    def epoch(self) -> int | None:
        return self._epoch

    def fence_ok(self, epoch: int | None) -> bool:
        """Whether a write fenced by ``(holder, epoch)`` would be accepted now."""
        t = self._table
        return epoch is not None and t.current() == self.holder and t.epoch == epoch

    async def acquire(self) -> int | None:
        t = self._table
        if t.current() is not None:
            self._epoch = None
            return None
        t.holder, t.expires = self.holder, t.now() + self.ttl
        t.epoch += 1
        self._epoch = t.epoch
        return self._epoch

    async def renew(self) -> bool:
        if not self.fence_ok(self._epoch):
            self._epoch = None
            return False
        self._table.expires = self._table.now() + self.ttl
        return True

    async def release(self) -> None:
        if self.fence_ok(self._epoch):
            self._table.holder = None
        self._epoch = None

    async def last_epoch(self) -> int:
        return self._table.epoch
