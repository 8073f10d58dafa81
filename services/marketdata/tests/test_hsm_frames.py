"""The HSM client's direct frame path keeps the order of messages whatever the server sends.

``_DirectConnection`` decodes a whole binary frame where ``websockets`` parses it, but only
while nothing waits in the library's queue; fragments, text and control frames take the
library's path. The emulator never fragments a message nor sends text between data frames,
so a real ``websockets`` server here does: every message must reach the client exactly once,
in the order sent, whichever path it took.
"""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from livews_marketdata.upstream.hsm.client import _DirectConnection

SENT: list[bytes | str] = [b"A", b"B1B2", "text", b"C", b"D"]


async def test_fragments_text_and_the_frames_behind_them_keep_their_order() -> None:
    async def handler(ws: ServerConnection) -> None:
        assert await ws.recv() == "go"
        await ws.send(b"A")  # nothing queued: decoded where it is parsed
        await ws.send([b"B1", b"B2"])  # one binary message in two fragments
        await ws.send("text")
        await ws.send(b"C")  # whole, but behind queued messages: the library's path
        await ws.send(b"D")
        assert await ws.recv() == "more"
        await ws.send(b"E")  # the queue is empty again: direct again
        await ws.close(1000)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        got: list[tuple[str, bytes | str]] = []
        ws = await connect(f"ws://127.0.0.1:{port}", create_connection=_DirectConnection)
        assert isinstance(ws, _DirectConnection)
        ws.on_binary = lambda data: got.append(("direct", data))
        await ws.send("go")

        async def read() -> None:
            async for message in ws:
                got.append(("library", message))
                if len(got) == len(SENT):
                    await ws.send("more")

        await asyncio.wait_for(read(), 10)

    assert [m for _, m in got] == [*SENT, b"E"]
    paths = {m: p for p, m in got}
    assert paths[b"A"] == "direct" and paths[b"E"] == "direct"
    assert paths[b"B1B2"] == paths["text"] == paths[b"C"] == "library"
