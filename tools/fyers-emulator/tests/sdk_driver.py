"""Run the real fyers-apiv3 FyersDataSocket against an emulator, driven over stdin/stdout.

``python sdk_driver.py --base http://127.0.0.1:PORT --token APPID:TOKEN --log-dir DIR
[--lite] [--reconnect] [--retries N]``

The SDK's socket is a process-wide singleton with non-daemon threads, so each test runs it
in a process of its own. Commands come as JSON lines on stdin
(``{"op": "subscribe" | "unsubscribe", "symbols": [...], "data_type": "SymbolUpdate"}``,
``{"op": "exit"}``); every callback is written as a JSON line on stdout
(``{"ev": "message" | "error" | "close" | "connect", "data": …, "t": epoch seconds}``).
The SDK's own ``print`` output goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import warnings
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--lite", action="store_true")
    parser.add_argument("--reconnect", action="store_true")
    parser.add_argument("--retries", type=int, default=5)
    args = parser.parse_args()

    events = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # the SDK prints; keep stdout for events only
    lock = threading.Lock()

    def emit(ev: str, data: Any = None) -> None:
        line = json.dumps({"ev": ev, "data": data, "t": time.time()}, default=str)
        with lock:
            events.write(line + "\n")

    warnings.simplefilter("ignore")  # pkg_resources' deprecation notice
    from fyers_apiv3.FyersWebsocket import data_ws, defines

    # Point the SDK at the emulator: the index map URL (a module constant it reads at call
    # time), the symbol-token URL (set per SymbolConversion instance) and the socket URL
    # (a name-mangled attribute set in FyersDataSocket.__init__).
    defines.INDEX_HSM_MAPPING_API = f"{args.base}/sym_details/index_hsm_mapping.json"
    original_init = data_ws.SymbolConversion.__init__

    def init(self: Any, *a: Any, **kw: Any) -> None:
        original_init(self, *a, **kw)
        self.symbols_token_api = f"{args.base}/data/symbol-token"

    data_ws.SymbolConversion.__init__ = init  # type: ignore[method-assign]

    sock = data_ws.FyersDataSocket(
        access_token=args.token,
        log_path=args.log_dir,
        litemode=args.lite,
        reconnect=args.reconnect,
        reconnect_retry=args.retries,
        on_message=lambda m: emit("message", m),
        on_error=lambda m: emit("error", m),
        on_close=lambda m: emit("close", m),
        on_connect=lambda: emit("connect"),
    )
    ws_url = args.base.replace("http://", "ws://", 1) + "/hsm/v1-5/prod"
    sock._FyersDataSocket__url = ws_url
    sock.connect()
    emit("ready")
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "exit":
            break
        if op in ("subscribe", "unsubscribe"):
            getattr(sock, op)(
                symbols=cmd["symbols"], data_type=cmd.get("data_type", "SymbolUpdate")
            )
            emit(f"{op}d")
    events.flush()
    # close_connection() joins a ping thread that sleeps 10 s; the test is done with us.
    os._exit(0)


if __name__ == "__main__":
    main()
