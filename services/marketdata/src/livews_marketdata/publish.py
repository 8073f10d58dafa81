"""Writing the Redis contract (CONTRACT §4): ticks, depth, last values and the feed status.

Contract of :class:`Publisher`:

- **One round-trip per batch.** ``publish(ticks, depth)`` writes a batch of updates that
  arrived together with one ``EVALSHA``: every tick is published to ``md:tick:{SYMBOL}`` and
  the newest per symbol written to ``md:last`` (depth likewise to ``md:depth:{SYMBOL}`` and
  ``md:depth:last``), atomically, so ``md:last`` never holds a value older than one already
  published. The ``EVALSHA`` goes out on a connection the publisher keeps for it (see
  ``_evalsha``: half the client's CPU per call), the client's own path standing in.
- **Fenced.** The script first checks that the leader lease is still ``(holder, epoch)``;
  otherwise it writes nothing, and :attr:`fenced` is set so the caller re-checks leadership.
- **Order.** Per symbol, updates are written in call order. While Redis is unreachable (or
  the write was fenced) nothing is lost but history: the newest value per symbol is kept
  (conflation) and written as one batch when Redis is back; subscribers see a ``seq`` jump.
- ``publish`` never raises for Redis trouble; :meth:`run` (a task the owner runs and cancels)
  retries what is pending, with jittered backoff.
- ``set_status`` sets ``md:status`` (key) and publishes it on the channel of the same name,
  fenced the same way; the newest status wins if Redis is away. The key expires after
  ``status_ttl`` (CONTRACT §4 v1.1): the leader rewrites it every third of that, so a key that
  is gone means no live ingestor (gateways then say ``down``).

On a Redis Cluster (``redisconn.is_cluster``) a batch takes two round-trips instead of one:
first a script per hash (``md:last``, ``md:depth:last``; the two run concurrently) that
checks the hash's fence key (:mod:`livews_marketdata.lease`) and writes the newest values,
then, concurrently per shard, one script that ``SPUBLISH``es that shard's part of the batch
in order. The publishes cannot run inside the hash scripts: those touch one slot, and the
channels are spread over every slot. So ``md:last`` is still written *before* the ticks are
published (it never holds a value older than one already published), per-symbol order holds
(batches are written one after the other, each shard receives its part in batch order), and a
publish that fails after its hash was written is retried with the batch (subscribers drop the
repeated ``seq``). The status keeps its classic ``PUBLISH`` inside its script.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livews_common import names, redisconn
from livews_common.models import Depth, Status, Tick, encode
from livews_marketdata.backoff import Backoff
from livews_marketdata.lease import FENCE_SCRIPT_CHECK
from livews_marketdata.metrics import Metrics

log = logging.getLogger(__name__)

FENCED = -1
#: The same JSON as livews_common.models.encode, one value per line.
_lines = msgspec.json.Encoder()

#: Redis errors after which a write is retried later (anything else is a bug: it propagates).
#: On a Cluster also a shard without a primary for a moment (failover) or a slot in flux,
#: and no node reachable at all (redis-py's cluster client raises the bare
#: RedisClusterException when it cannot load the slot map: the whole Cluster restarting).
TRANSIENT = (
    RedisConnectionError, RedisTimeoutError, ConnectionError, OSError,
    ClusterDownError, TryAgainError, SlotNotCoveredError, RedisClusterException,
)  # fmt: skip

# write(prefix, key, symbols, payloads): PUBLISH each payload on prefix .. symbol (unless
# prefix is false) and HSET the newest per symbol into key; returns how many were written.
_WRITE_FUNCTION = """
local function write(prefix, key, symbols, payloads)
  local last, order, count = {}, {}, 0
  local find, sub = string.find, string.sub
  local si, pi = 1, 1
  local slen = #symbols
  while si <= slen do
    local se = find(symbols, '\\n', si, true) or (slen + 1)
    local pe = find(payloads, '\\n', pi, true)
    local sym = sub(symbols, si, se - 1)
    local val = sub(payloads, pi, pe - 1)
    si, pi = se + 1, pe + 1
    if prefix then redis.call('PUBLISH', prefix .. sym, val) end
    if last[sym] == nil then order[#order + 1] = sym end
    last[sym] = val
    count = count + 1
  end
  local args = {}
  for _, sym in ipairs(order) do
    args[#args + 1] = sym
    args[#args + 1] = last[sym]
    if #args >= 2000 then
      redis.call('HSET', key, unpack(args))
      args = {}
    end
  end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
  return count
end
"""
_PUBLISH = (
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
"""
    + _WRITE_FUNCTION
    + """
return write(ARGV[3], KEYS[3], ARGV[5], ARGV[6]) + write(ARGV[4], KEYS[4], ARGV[7], ARGV[8])
"""
)
#: On a Cluster: KEYS = (fence, hash), ARGV = (epoch, symbols, payloads); no publish.
_LAST_CLUSTER = (
    FENCE_SCRIPT_CHECK
    + _WRITE_FUNCTION
    + """
return write(false, KEYS[2], ARGV[2], ARGV[3])
"""
)

_STATUS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
redis.call('PUBLISH', KEYS[3], ARGV[3])
return 1
"""
#: On a Cluster, per shard: SPUBLISH each payload of ARGV[2] to the channel on the same line of
#: ARGV[1]. Every channel is served by the node it is sent to (grouped by the client's slot
#: map) but they span many slots, hence the flag; a stale map makes Redis refuse the script.
_SPUBLISH_LOCAL = """#!lua flags=allow-cross-slot-keys
local find, sub = string.find, string.sub
local channels, payloads = ARGV[1], ARGV[2]
local ci, pi, count = 1, 1, 0
while ci <= #channels do
  local ce = find(channels, '\\n', ci, true) or (#channels + 1)
  local pe = find(payloads, '\\n', pi, true)
  redis.call('SPUBLISH', sub(channels, ci, ce - 1), sub(payloads, pi, pe - 1))
  ci, pi, count = ce + 1, pe + 1, count + 1
end
return count
"""
#: On a Cluster: KEYS = (fence, md:status), ARGV = (epoch, status, ttl ms, channel).
_STATUS_CLUSTER = (
    FENCE_SCRIPT_CHECK
    + """
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
"""
)


def _pack_evalsha(sha: str, keys: Sequence[str], args: Sequence[str | bytes | int]) -> bytes:
    """``EVALSHA sha len(keys) *keys *args`` in RESP, byte for byte as redis-py's
    ``pack_command`` makes it (str as UTF-8, int as decimal), in about half its CPU (it
    inspects each of the batch's 15 arguments for every case a command may need)."""
    items: list[bytes] = [b"EVALSHA", sha.encode(), str(len(keys)).encode()]
    items += [k.encode() for k in keys]
    for arg in args:
        if isinstance(arg, bytes):
            items.append(arg)
        elif isinstance(arg, str):
            items.append(arg.encode())
        else:
            items.append(str(arg).encode())
    out = [b"*%d\r\n" % len(items)]
    for item in items:
        out += (b"$%d\r\n" % len(item), item, b"\r\n")
    return b"".join(out)


class Fenced(Exception):
    """Redis refused a write: the lease is not ``(holder, epoch)`` any more."""


class Publisher(Protocol):
    """Writes normalized updates and the feed status (see the module docstring)."""

    async def publish(self, ticks: Sequence[Tick], depth: Sequence[Depth]) -> None: ...

    async def set_status(self, status: Status) -> None: ...


class RedisPublisher:
    """The Redis implementation; ``epoch`` returns the lease epoch to fence with (or None)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        holder: str,
        epoch: Callable[[], int | None],
        metrics: Metrics,
        *,
        backoff: Backoff | None = None,
        status_ttl: float = 15.0,
    ) -> None:
        self._redis = redis
        self.status_ttl_ms = max(1000, int(status_ttl * 1000))
        self._holder = holder
        self._epoch = epoch
        self._metrics = metrics
        # Looked up once: ``labels()`` per batch was ~3 % of the ingestor's CPU at 5,000 ticks/s.
        self._ticks_out, self._depth_out = (
            metrics.ticks_out.labels("tick"),
            metrics.ticks_out.labels("depth"),
        )
        self._backoff = backoff or Backoff(0.05, 1.0)
        self._cluster = redisconn.is_cluster(redis)
        self._publish = redis.register_script(_PUBLISH)
        self._status = redis.register_script(_STATUS)
        self._last_cluster = redis.register_script(_LAST_CLUSTER)
        self._status_cluster = redis.register_script(_STATUS_CLUSTER)
        self._keys = [names.LEADER_LEASE, names.LEADER_EPOCH, names.LAST_TICKS, names.LAST_DEPTH]
        self._conn: AbstractConnection | None = None  # the batches' own connection
        self._conn_busy = False
        self.pending_ticks: dict[str, Tick] = {}
        self.pending_depth: dict[str, Depth] = {}
        self.pending_status: Status | None = None
        self.healthy = True
        self.fenced = asyncio.Event()
        self._wake = asyncio.Event()
        self._flushing = False

    # -- the hot path ---------------------------------------------------------------------

    async def publish(self, ticks: Sequence[Tick], depth: Sequence[Depth]) -> None:
        if not ticks and not depth:
            return
        if not self.healthy or self._flushing or self.pending_ticks or self.pending_depth:
            self._conflate(ticks, depth)
            return
        try:
            await self._write(ticks, depth)
        except Fenced:
            self._conflate(ticks, depth)
            self._on_fenced()
        except TRANSIENT as exc:
            self._conflate(ticks, depth)
            self._on_failure(exc)

    async def _write(self, ticks: Sequence[Tick], depth: Sequence[Depth]) -> None:
        epoch = self._epoch()
        if epoch is None:
            raise Fenced
        # Four arguments whatever the batch size: symbols and payloads newline-joined
        # (neither can contain a newline), which spares the client packing 2·n arguments.
        args: list[str | bytes | int] = [
            self._holder, epoch, names.TICK_CHANNEL_PREFIX, names.DEPTH_CHANNEL_PREFIX,
            "\n".join([t.symbol for t in ticks]), _lines.encode_lines(ticks),
            "\n".join([d.symbol for d in depth]), _lines.encode_lines(depth),
        ]  # fmt: skip
        started = time.perf_counter()
        if self._cluster:
            result = await self._write_cluster(epoch, args)
        else:
            result = await self._evalsha(args)
        m = self._metrics
        m.publish_latency.observe(time.perf_counter() - started)
        if int(result) == FENCED:
            raise Fenced
        m.publish_batch.observe(len(ticks) + len(depth))
        if ticks:
            self._ticks_out.inc(len(ticks))
        if depth:
            self._depth_out.inc(len(depth))
        if not self.healthy:
            log.info("Redis writes resumed")
        self.healthy = True
        m.redis_up.set(1)

    async def _evalsha(self, args: list[str | bytes | int]) -> Any:
        """The batch script on the publisher's own connection, else through the client.

        The client's path costs about twice the CPU per call (its pool, health check, retry
        wrapper and observability hooks, for every batch); this one writes the ``EVALSHA``
        and reads the answer on a connection taken from the client's pool once and kept
        (the pool still closes it with the client). The client's own path, with its retry
        policy, serves the batch when that connection is busy (a flush running beside a
        publish), when Redis lost the script (it loads it again), and, after closing the
        connection, when the connection fails — so a Redis or Sentinel failover is met
        exactly as before, and the next batch reconnects.
        """
        conn = self._conn
        if self._conn_busy:
            return await self._publish(keys=self._keys, args=args)
        self._conn_busy = True
        try:
            if conn is None:
                pool: Any = self._redis.connection_pool  # redis-py leaves it untyped
                conn = self._conn = await pool.get_connection()
            await self._send(conn, args)
            return await conn.read_response()
        except NoScriptError:
            pass
        except (RedisConnectionError, RedisTimeoutError, OSError):
            if conn is not None:
                await conn.disconnect(nowait=True)
        except BaseException:
            if conn is not None:
                await conn.disconnect(nowait=True)
            raise
        finally:
            self._conn_busy = False
        return await self._publish(keys=self._keys, args=args)

    async def _send(self, conn: AbstractConnection, args: list[str | bytes | int]) -> None:
        """Write the batch's ``EVALSHA`` (:func:`_pack_evalsha`) on ``conn``.

        Straight into the connection's stream writer when it is open and takes the bytes
        at once — redis-py's ``send_packed_command`` wraps every write in ``wait_for``
        under a socket timeout, a task per batch — else (not connected yet, or the socket
        did not take everything) through ``send_packed_command`` with its timeout. The
        writer is a redis-py internal: without it every batch takes the public call.
        """
        command = _pack_evalsha(self._publish.sha, self._keys, args)
        writer = getattr(conn, "_writer", None)
        if writer is None or not conn.is_connected or writer.transport.is_closing():
            await conn.send_packed_command(command, check_health=False)
            return
        try:
            writer.write(command)
        except (RuntimeError, OSError) as exc:
            raise RedisConnectionError(f"writing to Redis failed: {exc}") from exc
        if writer.transport.get_write_buffer_size():
            # The kernel took only part (a slow or stalled Redis): wait, but not for ever.
            await conn.send_packed_command(b"", check_health=False)

    async def _write_cluster(self, epoch: int, args: list[str | bytes | int]) -> int:
        """The batch on a Cluster (module doc): fenced hash writes, then SPUBLISH."""
        writes, publishes = [], []
        for prefix, key, symbols, payloads in (
            (args[2], names.LAST_TICKS, args[4], args[5]),
            (args[3], names.LAST_DEPTH, args[6], args[7]),
        ):
            assert isinstance(symbols, str) and isinstance(payloads, bytes)
            assert isinstance(prefix, str)
            if not symbols:
                continue
            fenced = [names.fence_key(key), key]
            writes.append(self._last_cluster(keys=fenced, args=[epoch, symbols, payloads]))
            lines = payloads.split(b"\n")[:-1]  # one line per payload, each newline-ended
            publishes += [
                (f"{prefix}{s}", v) for s, v in zip(symbols.split("\n"), lines, strict=True)
            ]
        if any(int(r) == FENCED for r in await asyncio.gather(*writes)):
            return FENCED
        await self._spublish(publishes)
        return len(publishes)

    async def _spublish(self, publishes: list[tuple[str, bytes]]) -> None:
        """SPUBLISH ``publishes`` in order per channel: one script per shard (a pipeline of
        single SPUBLISHes costs redis-py ~5x the CPU), else, if the slot map was stale, a
        pipeline that follows redirections after the map is refreshed."""
        cluster: Any = self._redis
        by_node: dict[str, tuple[Any, list[str], list[bytes]]] = {}
        for channel, payload in publishes:
            node = cluster.get_node_from_key(channel)
            entry = by_node.setdefault(node.name, (node, [], []))
            entry[1].append(channel)
            entry[2].append(payload)
        try:
            await asyncio.gather(*(
                cluster.execute_command(
                    "EVAL", _SPUBLISH_LOCAL, 0, "\n".join(channels), b"\n".join(payloads) + b"\n",
                    target_nodes=node,
                )
                for node, channels, payloads in by_node.values()
            ))  # fmt: skip
        except ResponseError as exc:  # a slot moved: the script was refused where it ran
            log.info("slot map changed; publishing this batch one message at a time",
                     extra={"error": str(exc)})  # fmt: skip
            await cluster.nodes_manager.initialize()
            pipe = self._redis.pipeline(transaction=False)
            for channel, payload in publishes:
                pipe.execute_command("SPUBLISH", channel, payload)
            await pipe.execute()

    async def set_status(self, status: Status) -> None:
        self.pending_status = status
        if self.healthy and not self._flushing:
            try:
                await self._write_status()
            except Fenced:
                self._on_fenced()
            except TRANSIENT as exc:
                self._on_failure(exc)

    async def _write_status(self) -> None:
        status = self.pending_status
        if status is None:
            return
        epoch = self._epoch()
        if epoch is None:
            raise Fenced
        if self._cluster:
            result = await self._status_cluster(
                keys=[names.fence_key(names.STATUS), names.STATUS],
                args=[epoch, encode(status), self.status_ttl_ms, names.STATUS],
            )
        else:
            keys = [names.LEADER_LEASE, names.LEADER_EPOCH, names.STATUS]
            result = await self._status(
                keys=keys, args=[self._holder, epoch, encode(status), self.status_ttl_ms]
            )
        if int(result) == FENCED:
            raise Fenced
        if self.pending_status is status:
            self.pending_status = None

    # -- trouble --------------------------------------------------------------------------

    def _conflate(self, ticks: Sequence[Tick], depth: Sequence[Depth]) -> None:
        pt, pd = self.pending_ticks, self.pending_depth
        before = len(pt) + len(pd)
        for tick in ticks:
            pt[tick.symbol] = tick
        for update in depth:
            pd[update.symbol] = update
        superseded = len(ticks) + len(depth) - (len(pt) + len(pd) - before)
        if superseded:
            self._metrics.ticks_dropped.labels("conflated").inc(superseded)
        self._metrics.conflated.set(len(pt) + len(pd))
        self._wake.set()

    def _on_failure(self, exc: BaseException) -> None:
        if self.healthy:
            log.warning(
                "Redis write failed; keeping the newest value per symbol until it is back",
                extra={"error": f"{type(exc).__name__}: {exc}"},
            )
        self.healthy = False
        self._metrics.redis_up.set(0)
        self._wake.set()

    def _on_fenced(self) -> None:
        if not self.fenced.is_set():
            log.warning("Redis refused a write: the leader lease is not ours at this epoch")
        self.healthy = False
        self.fenced.set()

    def kick(self) -> None:
        """Retry what is pending now (the lease was re-taken, say)."""
        self.fenced.clear()
        self._backoff.reset()
        self._wake.set()

    @property
    def pending(self) -> bool:
        return bool(self.pending_ticks or self.pending_depth or self.pending_status is not None)

    # -- the flusher ----------------------------------------------------------------------

    async def run(self) -> None:
        """Write what is pending whenever there is some; runs until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending and not self.fenced.is_set():
                if not await self.flush_once():
                    await self._backoff.sleep()
            if not self.pending:
                self.healthy = True

    async def flush_once(self) -> bool:
        """Try to write everything pending as one batch; False if it must be retried."""
        ticks, depth = self.pending_ticks, self.pending_depth
        self.pending_ticks, self.pending_depth = {}, {}
        self._flushing = True
        try:
            if ticks or depth:
                await self._write(list(ticks.values()), list(depth.values()))
                log.info(
                    "flushed conflated values after a Redis outage",
                    extra={"ticks": len(ticks), "depth": len(depth)},
                )
            await self._write_status()
        except Fenced:
            self._restore(ticks, depth)
            self._on_fenced()
            return False
        except TRANSIENT as exc:
            self._restore(ticks, depth)
            self._on_failure(exc)
            return False
        finally:
            self._flushing = False
        self._backoff.reset()
        self._metrics.conflated.set(len(self.pending_ticks) + len(self.pending_depth))
        return True

    def _restore(self, ticks: dict[str, Tick], depth: dict[str, Depth]) -> None:
        # What arrived during the failed attempt is newer: it wins over the restored values.
        self.pending_ticks = {**ticks, **self.pending_ticks}
        self.pending_depth = {**depth, **self.pending_depth}
        self._metrics.conflated.set(len(self.pending_ticks) + len(self.pending_depth))


class MemoryPublisher:
    """Keeps everything in lists, for unit tests of the pipeline and the supervisor."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.depth: list[Depth] = []
        self.statuses: list[Status] = []
        self.batches = 0
        self.changed = asyncio.Event()

    async def publish(self, ticks: Sequence[Tick], depth: Sequence[Depth]) -> None:
        if ticks or depth:
            self.batches += 1
            self.ticks.extend(ticks)
            self.depth.extend(depth)
            self.changed.set()

    async def set_status(self, status: Status) -> None:
        self.statuses.append(status)
        self.changed.set()


__all__ = ["Fenced", "MemoryPublisher", "Publisher", "RedisError", "RedisPublisher"]
