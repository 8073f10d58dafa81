"""Test harness: start a real ``fyers-emulator``, log in against it, drive SDK processes.

Self-contained on purpose (the shared harness in livews_devtools is built in parallel).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

BIN = Path(sys.executable).parent
DRIVER = Path(__file__).with_name("sdk_driver.py")
CLIENT_ID = "DEVAPP0001-100"
SECRET = "devsecret"
PIN = "1234"
SIGNING_KEY = "test-signing-key-0123456789abcdef"
REDIRECT = "http://127.0.0.1:9/callback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Emu:
    """A running emulator process and helpers to talk to it."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin(self, action: str, **params: object) -> httpx.Response:
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        r = httpx.post(f"{self.url}/admin/{action}", params=query, timeout=5)
        r.raise_for_status()
        assert r.json() == {"ok": True}
        return r

    def auth_code(self, fy_id: str = "XA00001", state: str = "st") -> str:
        query = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
                 "state": state, "fy_id": fy_id}  # fmt: skip
        r = httpx.get(f"{self.url}/api/v3/generate-authcode?{urlencode(query)}", timeout=5)
        assert r.status_code == 302, r.text
        return parse_qs(urlsplit(r.headers["location"]).query)["auth_code"][0]

    def login(self, fy_id: str = "XA00001") -> dict[str, Any]:
        """Exchange a fresh auth code; {"access_token", "refresh_token", …}."""
        body = {"grant_type": "authorization_code", "appIdHash": app_id_hash(),
                "code": self.auth_code(fy_id)}  # fmt: skip
        r = httpx.post(f"{self.url}/api/v3/validate-authcode", json=body, timeout=5)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])


def app_id_hash(client_id: str = CLIENT_ID, secret: str = SECRET) -> str:
    import hashlib

    return hashlib.sha256(f"{client_id}:{secret}".encode()).hexdigest()


def start_emulator(tmp: Path, **env: str) -> Emu:
    port = free_port()
    log_path = tmp / f"emulator-{port}.log"
    full_env = {
        **os.environ,
        "FYERS_CLIENT_ID": CLIENT_ID,
        "FYERS_SECRET_KEY": SECRET,
        "FYERS_PIN": PIN,
        "EMULATOR_SIGNING_KEY": SIGNING_KEY,
        "LIVEWS_STATE_DIR": str(tmp / "state"),
        **env,
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "fyers-emulator"), "--host", "127.0.0.1", "--port", str(port)],
            env=full_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    emu = Emu(port, proc, log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"fyers-emulator exited:\n{emu.log_tail()}")
        try:
            if httpx.get(f"{emu.url}/healthz", timeout=1).status_code == 200:
                return emu
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop_emulator(emu)
    raise RuntimeError(f"fyers-emulator never became healthy:\n{emu.log_tail()}")


def stop_emulator(emu: Emu) -> None:
    emu.proc.terminate()
    try:
        emu.proc.wait(10)
    except subprocess.TimeoutExpired:
        emu.proc.kill()
        emu.proc.wait(5)


@dataclass
class SdkClient:
    """A running sdk_driver.py: send it commands, wait for the SDK's callbacks."""

    proc: subprocess.Popen[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    _reader: threading.Thread | None = None

    def start_reader(self) -> None:
        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                with self._cond:
                    self.events.append(json.loads(line))
                    self._cond.notify_all()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def send(self, op: str, **kw: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()

    def subscribe(self, symbols: list[str], data_type: str = "SymbolUpdate") -> None:
        self.send("subscribe", symbols=symbols, data_type=data_type)

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15, count: int = 1,
        since: float = 0.0,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Wait until ``count`` events (stamped at or after ``since``) satisfy ``pred``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self.events if e["t"] >= since and pred(e)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not found):
                    raise AssertionError(
                        f"timed out waiting for {count} events; last: {self.events[-5:]}"
                    )
                self._cond.wait(min(left, 0.2))

    def matching(self, pred: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if pred(e)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("exit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def msg(kind: str, symbol: str | None = None) -> Callable[[dict[str, Any]], bool]:
    """Predicate: an on_message event of data ``type`` ``kind`` (and ``symbol``)."""

    def pred(e: dict[str, Any]) -> bool:
        d = e["data"]
        return (
            e["ev"] == "message"
            and isinstance(d, dict)
            and d.get("type") == kind
            and (symbol is None or d.get("symbol") == symbol)
        )

    return pred
