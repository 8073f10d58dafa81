"""Which Fyers socket client the ingestor uses (``MARKETDATA_UPSTREAM``), and its set-up.

``hsm`` (the default) is our asyncio client (:mod:`livews_marketdata.upstream.hsm`); ``sdk``
is fyers-apiv3 through :mod:`livews_marketdata.upstream.sdk`, kept for comparison (the bench)
and imported only when chosen. Both need the index → HSM name map, fetched once before the
first connection (else the copy bundled with the SDK, when it is installed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

import httpx

from livews_marketdata.resolve import SymbolResolver
from livews_marketdata.tokens import Credential
from livews_marketdata.upstream.bridge import Bridge
from livews_marketdata.upstream.fyers import Connection, fetch_index_map
from livews_marketdata.upstream.hsm.client import EventSink, HsmConnection
from livews_marketdata.upstream.hsm.multi import MultiSocket

log = logging.getLogger(__name__)

ClientKind = Literal["hsm", "sdk"]
INDEX_MAP_RETRY = 60.0  # s between fetches of the index map while none succeeded


def bundled_index_map() -> dict[str, str]:
    """The index map shipped inside fyers-apiv3, or ``{}`` if it is not installed."""
    try:
        text = resources.files("fyers_apiv3.FyersWebsocket").joinpath("map.json").read_text()
        mapping = json.loads(text)["index_dict"]
    except (ModuleNotFoundError, FileNotFoundError, KeyError, ValueError):
        return {}
    return {k: v for k, v in mapping.items() if isinstance(k, str) and isinstance(v, str)}


class UpstreamClients:
    """Builds one connection per call of :meth:`connect` (the supervisor's factory)."""

    def __init__(
        self,
        kind: ClientKind,
        *,
        ws_url: str,
        http: httpx.AsyncClient,
        resolver: SymbolResolver,
        index_map_url: str,
        token_url: str,
        rest_timeout: float,
        connect_timeout: float,
        sdk_log_dir: Path | None = None,
        socket_symbols: int = 5000,
        max_sockets: int = 1,
        lite: bool = False,
    ) -> None:
        self.lite = lite  # HSM lite mode (MARKETDATA_DATA_MODE=lite): last price only
        self.socket_symbols, self.max_sockets = socket_symbols, max_sockets
        self.kind = kind
        self._ws_url = ws_url
        self._http = http
        self._resolver = resolver
        self._index_map_url = index_map_url
        self._token_url = token_url
        self._rest_timeout = rest_timeout
        self._connect_timeout = connect_timeout
        self._sdk_log_dir = sdk_log_dir
        self.index_map: dict[str, str] = {}  # updated in place: sockets hold this very dict
        self._fallback: dict[str, str] = {}
        self._map_fetched = False
        self._map_tried = -INDEX_MAP_RETRY

    async def _fetch_index_map(self) -> None:
        self._map_tried = time.monotonic()
        try:
            fetched = await fetch_index_map(self._http, self._index_map_url, self._rest_timeout)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "could not fetch the index map; using the SDK's bundled copy if installed, "
                "retrying on later subscriptions",
                extra={"url": self._index_map_url, "error": f"{type(exc).__name__}: {exc}"},
            )
            if not self.index_map:
                self.index_map.update(self._fallback)
            return
        self.index_map.clear()
        self.index_map.update(fetched)
        self._map_fetched = True

    async def prepare(self) -> None:
        self._fallback = bundled_index_map()
        await self._fetch_index_map()
        if self.kind == "sdk":
            from livews_marketdata.upstream import sdk

            await asyncio.to_thread(
                sdk.configure, token_url=self._token_url, index_map=self.index_map,
                rest_timeout=self._rest_timeout, connect_timeout=self._connect_timeout,
                log_dir=self._sdk_log_dir,
            )  # fmt: skip

    def connect(self, credential: Credential, bridge: Bridge, generation: int) -> Connection:
        if self.kind == "sdk":
            from livews_marketdata.upstream.sdk import SdkConnection

            return SdkConnection(
                url=self._ws_url, access_token=credential.access_token, bridge=bridge,
                generation=generation, call_timeout=self._rest_timeout + 5,
            )  # fmt: skip
        resolver, bare = self._resolver, credential.bare_token
        sockets = 0

        async def fytokens(symbols: Sequence[str]) -> Mapping[str, str]:
            if not self._map_fetched and time.monotonic() - self._map_tried > INDEX_MAP_RETRY:
                await self._fetch_index_map()  # indices need it: try again, at most every 60 s
            return await resolver.fytokens_for(symbols, bare)

        def socket(sink: EventSink) -> HsmConnection:
            nonlocal sockets
            sockets += 1
            return HsmConnection(
                url=self._ws_url, access_token=credential.access_token, bridge=sink,
                generation=generation, fytokens=fytokens, index_map=self.index_map,
                fallback_index_map=self._fallback, connect_timeout=self._connect_timeout,
                lite=self.lite, name=f"fyers-{generation}-{sockets}",
            )  # fmt: skip

        return MultiSocket(
            socket, bridge=bridge, generation=generation, per_socket=self.socket_symbols,
            max_sockets=self.max_sockets, auth_timeout=self._connect_timeout,
        )  # fmt: skip
