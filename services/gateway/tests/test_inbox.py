"""transport/inbox.py: the receive queue and writable gate that replace uvicorn's (issue #17)."""

from __future__ import annotations

import asyncio

import pytest

from livews_gateway.transport.inbox import Inbox, WriteGate

pytestmark = pytest.mark.timeout(10)


async def test_inbox_hands_over_in_order_and_holds_nothing_when_empty() -> None:
    inbox = Inbox()
    assert inbox.empty() and inbox.qsize() == 0
    inbox.put_nowait({"n": 1})
    inbox.put_nowait({"n": 2})
    assert not inbox.empty() and inbox.qsize() == 2
    assert await inbox.get() == {"n": 1}
    assert await inbox.get() == {"n": 2}
    assert inbox.empty() and inbox._items is None and inbox._waiter is None


async def test_inbox_wakes_a_waiting_receiver() -> None:
    inbox = Inbox()
    receiver = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)  # the receiver now waits
    assert inbox._waiter is not None and not receiver.done()
    inbox.put_nowait("connect")
    assert await asyncio.wait_for(receiver, 5) == "connect"
    assert inbox._waiter is None


async def test_a_cancelled_receive_loses_nothing() -> None:
    inbox = Inbox()
    receiver = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("message")  # wakes the receiver's future...
    receiver.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await receiver
    assert await asyncio.wait_for(inbox.get(), 5) == "message"


async def test_write_gate_is_open_until_paused_and_wakes_every_waiter() -> None:
    gate = WriteGate()
    assert gate.is_set()
    await asyncio.wait_for(gate.wait(), 5)  # open: returns at once
    gate.clear()
    gate.clear()  # paused twice is still one pause
    assert not gate.is_set()
    waiters = [asyncio.create_task(gate.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    gate.set()
    await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert gate.is_set() and gate._paused is None
