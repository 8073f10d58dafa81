"""Bounded verdict storage, the symbol-token rate limit, and seeding seq from untrusted Redis."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis

from livews_common import names
from livews_common.models import MAX_SEQ, SymbolVerdict, encode
from livews_marketdata import verdicts as verdicts_module
from livews_marketdata.ingestor import read_last_seqs
from livews_marketdata.metrics import Metrics
from livews_marketdata.resolve import CallLimiter
from livews_marketdata.verdicts import VerdictBoard, verdict

GOOD, BAD = "NSE:SBIN-EQ", "NSE:JUNK123-EQ"


async def test_negative_verdicts_expire_and_positive_ones_stay(
    redis_client: aioredis.Redis,
) -> None:
    board = VerdictBoard(redis_client, Metrics(), negative_ttl=1.0)
    await board.publish([verdict(GOOD, True), verdict(BAD, False, "unknown")])
    assert json.loads(await redis_client.hget(names.SYMBOL_VERDICTS, GOOD))["ok"] is True
    assert await redis_client.hget(names.SYMBOL_VERDICTS, BAD) is None
    assert json.loads(await redis_client.get(names.negative_verdict_key(BAD)))["ok"] is False
    assert 0 < await redis_client.pttl(names.negative_verdict_key(BAD)) <= 1000
    # A symbol moves between the two stores (e.g. refused over the limit, then readmitted).
    await board.publish([verdict(GOOD, False, "over the limit")])
    assert await redis_client.hget(names.SYMBOL_VERDICTS, GOOD) is None
    await board.publish([verdict(GOOD, True)])
    assert await redis_client.exists(names.negative_verdict_key(GOOD)) == 0
    await asyncio.sleep(1.5)
    assert await redis_client.exists(names.negative_verdict_key(BAD)) == 0, "faded"
    assert await redis_client.hlen(names.SYMBOL_VERDICTS) == 1


async def test_negative_verdicts_left_in_the_hash_are_cleared(
    redis_client: aioredis.Redis,
) -> None:
    old = {
        f"NSE:OLD{i}-EQ": encode(SymbolVerdict(symbol=f"NSE:OLD{i}-EQ", ok=False))
        for i in range(50)
    }
    await redis_client.hset(names.SYMBOL_VERDICTS, mapping={
        **old, GOOD: encode(SymbolVerdict(symbol=GOOD, ok=True)), "NSE:GARBAGE-EQ": b"\xff{",
    })  # fmt: skip
    board = VerdictBoard(redis_client, Metrics())
    assert await board.clear_stored_negatives() == 51
    assert await redis_client.hkeys(names.SYMBOL_VERDICTS) == [GOOD.encode()]


async def test_the_in_memory_verdicts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verdicts_module, "MAX_KNOWN", 100)
    board = VerdictBoard(None, Metrics())
    await board.publish(verdict(f"NSE:J{i}-EQ", False) for i in range(1000))
    assert len(board.known) == 100
    assert "NSE:J999-EQ" in board.known and "NSE:J0-EQ" not in board.known


def test_call_limiter_spaces_calls_after_the_burst() -> None:
    now = [0.0]
    limiter = CallLimiter(rate=0.5, burst=3, clock=lambda: now[0])
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.reserve() == pytest.approx(2.0)
    assert limiter.reserve() == pytest.approx(4.0), "each call waits its turn"
    now[0] = 100.0
    assert limiter.reserve() == 0.0, "refilled, up to the burst"
    with pytest.raises(ValueError):
        CallLimiter(rate=0, burst=1)


async def test_seeding_ignores_absurd_seqs_and_bad_fields(redis_client: aioredis.Redis) -> None:
    await redis_client.hset(names.LAST_TICKS, mapping={
        GOOD: json.dumps({"seq": 41}),
        "NSE:POISON-EQ": json.dumps({"seq": 2**53 - 1}),
        "NSE:NEG-EQ": json.dumps({"seq": -5}),
        "NSE:BAD\n": json.dumps({"seq": 3}),
    })  # fmt: skip
    before = int(time.time() * 1000)
    seqs = await read_last_seqs(redis_client, names.LAST_TICKS)
    assert seqs[GOOD] == 41
    assert "NSE:BAD\n" not in seqs
    for symbol in ("NSE:POISON-EQ", "NSE:NEG-EQ"):
        # Continues from the clock: above any genuine seq, far below the poisoned one.
        assert before <= seqs[symbol] <= int(time.time() * 1000) < MAX_SEQ
