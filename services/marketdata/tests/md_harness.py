"""Helpers for the ingestor's tests: watch Redis channels and wait for what they carry."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import redis

from livews_common import names
from livews_common.symbols import DEFAULT_WATCHLIST

WATCHLIST = frozenset(DEFAULT_WATCHLIST)


class Watch:
    """A pattern subscription on a real Redis, collecting decoded JSON messages per channel."""

    def __init__(self, url: str, *patterns: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(*patterns)
        self.messages: list[tuple[float, str, dict[str, Any]]] = []  # (received, channel, doc)
        self.by_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
        # Wait for the subscription to be active before anything is published.
        deadline = time.monotonic() + 5
        while self.pubsub.subscribed is False and time.monotonic() < deadline:
            self.pubsub.get_message(timeout=0.05)

    def poll(self, seconds: float) -> int:
        """Collect messages for up to ``seconds``; return how many arrived."""
        deadline = time.monotonic() + seconds
        n = 0
        while (left := deadline - time.monotonic()) > 0:
            msg = self.pubsub.get_message(timeout=min(left, 0.05))
            if msg is None or msg["type"] != "pmessage":
                continue
            channel = msg["channel"].decode()
            try:
                doc = json.loads(msg["data"])
            except ValueError:
                doc = {"raw": msg["data"].decode(errors="replace")}
            self.messages.append((time.time(), channel, doc))
            self.by_channel[channel].append(doc)
            n += 1
        return n

    def until(self, predicate: Callable[[Watch], Any], timeout: float, what: str) -> Any:
        """Collect until ``predicate(self)`` is truthy; fail naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            self.poll(0.1)

    def ticks(self) -> list[dict[str, Any]]:
        return [doc for _, ch, doc in self.messages if ch.startswith(names.TICK_CHANNEL_PREFIX)]

    def symbols_seen(self, since: float = 0.0) -> set[str]:
        return {
            doc["symbol"]
            for at, ch, doc in self.messages
            if at >= since and ch.startswith(names.TICK_CHANNEL_PREFIX)
        }

    def clear(self) -> None:
        self.messages.clear()
        self.by_channel.clear()

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


def last_ticks(url: str) -> dict[str, dict[str, Any]]:
    """``md:last`` decoded."""
    client = redis.Redis.from_url(url)
    try:
        return {k.decode(): json.loads(v) for k, v in client.hgetall(names.LAST_TICKS).items()}
    finally:
        client.close()


def status(url: str) -> dict[str, Any] | None:
    client = redis.Redis.from_url(url)
    try:
        raw = client.get(names.STATUS)
        return json.loads(raw) if raw else None
    finally:
        client.close()


def assert_seq_increasing(ticks: list[dict[str, Any]], floor: dict[str, int] | None = None) -> None:
    """Per symbol, in arrival order, ``seq`` strictly increases (and exceeds ``floor``)."""
    held = dict(floor or {})
    for tick in ticks:
        symbol = tick["symbol"]
        assert tick["seq"] > held.get(symbol, 0), (symbol, tick["seq"], held.get(symbol))
        held[symbol] = tick["seq"]


WatchFactory = Callable[..., Watch]


def newest_seqs(ticks: list[dict[str, Any]]) -> dict[str, int]:
    seqs: dict[str, int] = {}
    for tick in ticks:
        seqs[tick["symbol"]] = max(seqs.get(tick["symbol"], 0), tick["seq"])
    return seqs
