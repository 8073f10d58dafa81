"""Token-expiry timers must not keep a gone client (and its connection) alive.

Found by bench/soak.py: with clients coming and going, every gateway's RSS grew linearly
(≈ 14 KiB per closed connection) because ExpiryWatch's heap held each Client — and through
its outlet the websocket protocol, transport and buffers — until the token's ``exp``.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from livews_gateway.clients import Client
from livews_gateway.limits import TokenBucket
from livews_gateway.outlet import MemoryOutlet
from livews_gateway.sessions import ExpiryWatch


def _client(exp: int) -> Client:
    return Client("sid", "sid", MemoryOutlet(), user="u", session="s", exp=exp,
                  bucket=TokenBucket(5, 10))  # fmt: skip


def test_a_gone_client_is_not_kept_alive_by_its_expiry_timers() -> None:
    watch = ExpiryWatch(notice=60, on_notice=lambda c: None, on_expired=lambda c: None)
    now = int(time.time())
    client = _client(now + 900)
    watch.track(client, iat=now)
    gone = weakref.ref(client)
    del client
    gc.collect()
    assert gone() is None


async def test_timers_still_fire_for_a_live_client_and_skip_a_gone_one() -> None:
    expired: list[str] = []
    now = time.time()
    watch = ExpiryWatch(notice=0, on_notice=lambda c: None,
                        on_expired=lambda c: expired.append(c.session))  # fmt: skip
    live, gone = _client(int(now) + 1), _client(int(now) + 1)
    live.session, gone.session = "live", "gone"
    watch.track(live, iat=int(now) - 10)
    watch.track(gone, iat=int(now) - 10)
    del gone
    gc.collect()
    task = asyncio.create_task(watch.run())
    try:
        for _ in range(60):  # the expiry is at most ~1 s away
            if expired:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert expired == ["live"]
