"""Abuse against one fleet shared by this module, while a well-behaved client measures.

The canary (canary.py, a process of its own) holds a subscription through nginx the whole
time; after each abuse it reports what it got in that window, and the test checks that
ticks kept coming with bounded latency, without a disconnect or a stale tick.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from livews_common.symbols import DEFAULT_WATCHLIST
from livews_devtools.fleet import Fleet
from livews_devtools.fleet_auth import signed_in
from livews_devtools.processes import script

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CANARY_SYMBOLS = list(DEFAULT_WATCHLIST[:8])
#: What the canary must see during any abuse on this 2-core machine (shared with the
#: flooders, the fleet and other engineers' work): p99 tick latency, longest silence.
P99_BOUND_MS = 500.0
GAP_BOUND_S = 2.0


class CanaryProcess:
    def __init__(self, fleet: Fleet) -> None:
        argv = [sys.executable, str(Path(__file__).with_name("canary.py")), fleet.url,
                fleet.login("XC00003"), ",".join(CANARY_SYMBOLS)]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"canary did not start: {line!r}"

    def report(self) -> dict[str, Any]:
        """What the canary got since the previous report (starts a new window)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("report\n")
        self.proc.stdin.flush()
        doc: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return doc

    def check(self, what: str) -> dict[str, Any]:
        """Report, print and check the window that just ended."""
        got = self.report()
        print(f"\nABUSE {what}: canary {json.dumps(got)}")
        assert got["ticks"] > 0, f"the canary got no ticks during {what}"
        assert got["disconnects"] == 0 and not got["byes"], got
        assert got["stale"] == 0, got
        assert got["p99_ms"] is not None and got["p99_ms"] < P99_BOUND_MS, got
        assert got["max_gap_s"] < GAP_BOUND_S, got
        return got

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def canary(shared_fleet: Fleet) -> Iterator[CanaryProcess]:
    c = CanaryProcess(shared_fleet)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def fleet(shared_fleet: Fleet, canary: CanaryProcess) -> Iterator[Fleet]:
    shared_fleet.admin("reset")
    canary.report()  # a new window for this test
    yield shared_fleet
    shared_fleet.assert_alive()
    for gw in shared_fleet.gateways:
        assert httpx.get(f"{gw.url}/healthz", timeout=5).status_code == 200


def ws_url(fleet: Fleet) -> str:
    return f"ws://127.0.0.1:{fleet.nginx.port}/socket.io/?EIO=4&transport=websocket"


async def _open(fleet: Fleet) -> Any:
    ws = await websockets.connect(ws_url(fleet), open_timeout=10, max_size=None)
    opening = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(opening, str) and opening.startswith("0{"), opening
    return ws


async def _recv_packet(ws: Any, wait: float = 5.0) -> str | bytes:
    """The next Socket.IO-level packet (Engine.IO pings answered on the way)."""
    while True:
        msg = await asyncio.wait_for(ws.recv(), wait)
        if msg == "2":
            await ws.send("3")
            continue
        return msg  # type: ignore[no-any-return]


async def _handshake(fleet: Fleet, auth: object) -> str:
    """Open a socket, send the namespace CONNECT with ``auth``; the server's answer."""
    ws = await _open(fleet)
    try:
        await ws.send("40" + ("" if auth is None else json.dumps(auth)))
        answer = await _recv_packet(ws)
        return answer if isinstance(answer, str) else "binary"
    finally:
        await ws.close()


# -- connection floods ------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_unauthenticated_connection_flood(fleet: Fleet, canary: CanaryProcess) -> None:
    rng = random.Random(7)
    auths: list[object] = [None, {}, {"token": ""}, {"token": 42}, {"token": "x.y.z"},
                           {"token": "a" * 4000}, {"tok": "en"}, "not-an-object"]  # fmt: skip
    sem = asyncio.Semaphore(40)
    outcomes: Counter[str] = Counter()

    async def one() -> None:
        async with sem:
            try:
                answer = await _handshake(fleet, rng.choice(auths))
            except (OSError, ConnectionClosed, TimeoutError) as exc:
                outcomes[f"closed:{type(exc).__name__}"] += 1
                return
            if answer.startswith("44") and '"unauthorized"' in answer:
                outcomes["refused unauthorized"] += 1
            elif answer.startswith("40"):
                outcomes["ACCEPTED"] += 1
            else:
                outcomes[f"other:{answer[:40]}"] += 1

    n = 400
    began = time.monotonic()
    # Idle sockets that never even send the namespace CONNECT, held through the flood.
    idle = [await _open(fleet) for _ in range(50)]
    await asyncio.gather(*(one() for _ in range(n)))
    took = time.monotonic() - began
    for ws in idle:
        await ws.close()
    print(f"\nABUSE unauthenticated flood: {n} in {took:.1f}s ({n / took:.0f}/s): {dict(outcomes)}")
    assert outcomes["ACCEPTED"] == 0, outcomes
    assert outcomes["refused unauthorized"] == n, outcomes
    canary.check("an unauthenticated connection flood")


# -- malformed, random and oversize frames ------------------------------------------------

MALFORMED_TEXT = [
    "", "x", "4", "42", "42[", '42["subscribe"', "42{}", "42[]", "42[null]", "421[", "9",
    "0", "1", "5", "6", "40{", "40[1,2]", '40{"token": null}', "4-1", "4" + "9" * 30,
    '42["subscribe",{"symbols":"NSE:SBIN-EQ"}]', '42["subscribe",{"symbols":[1,2,3]}]',
    '421["subscribe",{"symbols":[{}],"mode":"x"}]', '42["__proto__",{}]', "\x00\x01\x02",
    "42" + "[" * 5000, '42["' + "\u202e" * 100 + '"]', "2probe", "3", "4\ud800"[:2] + "x",
]  # fmt: skip


async def _poke(fleet: Fleet, token: str, frames: list[str | bytes]) -> str:
    """Authenticate, send ``frames``, then ask for an ack: "alive", or how it ended."""
    ws = await _open(fleet)
    try:
        await ws.send("40" + json.dumps({"token": token}))
        answer = await _recv_packet(ws)
        assert isinstance(answer, str) and answer.startswith("40"), answer
        for frame in frames:
            await ws.send(frame)
        await ws.send('4299["unsubscribe",{"symbols":["NSE:SBIN-EQ"]}]')
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            msg = await _recv_packet(ws)
            if isinstance(msg, str) and msg.startswith("4399"):
                return "alive"
        return "no ack"
    except ConnectionClosed as exc:
        return f"closed {exc.rcvd.code if exc.rcvd else 'abruptly'}"
    except TimeoutError:
        return "no answer"
    finally:
        await ws.close()


@pytest.mark.timeout(120)
async def test_malformed_random_and_oversize_frames(fleet: Fleet, canary: CanaryProcess) -> None:
    token = await fleet.login_async("XB00002")
    rng = random.Random(11)
    outcomes: Counter[str] = Counter()
    per_case: dict[str, str] = {}
    for text in MALFORMED_TEXT:
        per_case[text[:24]] = await _poke(fleet, token, [text])
        outcomes[per_case[text[:24]]] += 1
    for _ in range(40):  # random bytes, as binary and as (lossy) text frames
        blob = rng.randbytes(rng.randint(1, 2048))
        outcomes[await _poke(fleet, token, [blob, blob.decode("latin-1")])] += 1
    # A malformed event is answered with bad_request and the socket stays up (CONTRACT §3).
    assert await _poke(fleet, token, ['427["subscribe",{"symbols":"x"}]']) == "alive"
    # Over 64 KiB closes the connection; just under is only a (bad) request.
    big = '42["subscribe",{"symbols":["' + "A" * (70 * 1024) + '"]}]'
    assert (await _poke(fleet, token, [big])).startswith("closed")
    assert await _poke(fleet, token, ['42["x","' + "A" * (60 * 1024) + '"]']) == "alive"
    assert (await _poke(fleet, token, [rng.randbytes(1 << 20)])).startswith("closed")
    print(f"\nABUSE malformed/random frames: {dict(outcomes)}; by case: {per_case}")
    assert "no answer" not in outcomes and "no ack" not in outcomes, outcomes
    canary.check("malformed, random and oversize frames")


# -- subscribe floods -----------------------------------------------------------------------


@pytest.mark.timeout(120)
async def test_subscribe_flood(fleet: Fleet, canary: CanaryProcess) -> None:
    token = await fleet.login_async("XA00001")
    ws = await _open(fleet)
    acks: Counter[str] = Counter()
    byes: list[dict[str, Any]] = []
    try:
        await ws.send("40" + json.dumps({"token": token}))
        assert str(await _recv_packet(ws)).startswith("40")
        symbols = list(DEFAULT_WATCHLIST)
        for i in range(3000):  # without waiting for a single ack
            batch = [symbols[i % len(symbols)], symbols[(i * 7) % len(symbols)]]
            await ws.send(f'42{i}["subscribe",{json.dumps({"symbols": batch})}]')
        with pytest.raises(ConnectionClosed):
            while True:
                msg = await _recv_packet(ws, wait=15)
                if isinstance(msg, str) and msg.startswith("43"):
                    body = json.loads(msg[msg.index("[") :])[0]
                    acks["ok" if body.get("ok") else body.get("code", "?")] += 1
                elif isinstance(msg, str) and msg.startswith('42["bye"'):
                    byes.append(json.loads(msg[2:])[1])
    finally:
        await ws.close()
    print(f"\nABUSE subscribe flood: acks {dict(acks)}, byes {byes}")
    # Two limits can end the flood, whichever is spent first on this machine: the subscribe
    # bucket (rate_limited acks, then bye after repeated refusals) or the connection's inbound
    # message budget (messages dropped unparsed, then bye). Either way the flooder is cut off
    # with bye rate_limited and everyone else keeps being served.
    assert byes and byes[-1]["code"] == "rate_limited", (acks, byes)
    assert acks["rate_limited"] > 0 or byes[-1]["message"] == "too many messages", (acks, byes)
    canary.check("a subscribe flood")


@pytest.mark.timeout(120)
async def test_oversubscription_and_unknown_symbols(fleet: Fleet, canary: CanaryProcess) -> None:
    token = await fleet.login_async("XA00001")
    ws = await _open(fleet)
    try:
        await ws.send("40" + json.dumps({"token": token}))
        assert str(await _recv_packet(ws)).startswith("40")
        many = [f"NSE:FAKE{i}-EQ" for i in range(1000)]
        await ws.send(f'421["subscribe",{json.dumps({"symbols": many})}]')
        unknown = [f"NSE:NOSUCH{i}-EQ" for i in range(40)]
        await ws.send(f'422["subscribe",{json.dumps({"symbols": unknown})}]')
        answers: dict[str, Any] = {}
        while len(answers) < 2:
            msg = await _recv_packet(ws, wait=20)
            if isinstance(msg, str) and msg[:3] in ("431", "432"):
                answers[msg[:3]] = json.loads(msg[3:])[0]
    finally:
        await ws.close()
    too_many = answers["431"]
    codes = Counter(r["code"] for r in too_many.get("rejected", [])) or Counter(
        [too_many.get("code")]
    )
    print(f"\nABUSE 1000 symbols in one subscribe: {dict(codes)}")
    assert "too_many_subscriptions" in codes, too_many
    unknown_codes = Counter(r["code"] for r in answers["432"]["rejected"])
    print(f"ABUSE 40 unknown symbols: {dict(unknown_codes)}")
    assert unknown_codes["invalid_symbol"] == len(unknown), answers["432"]
    canary.check("oversubscription and unknown symbols")


# -- a JWT fuzzer against connect -------------------------------------------------------------


class Forger:
    """Access tokens built from auth's real dev signing key, then spoiled on purpose."""

    def __init__(self, fleet: Fleet) -> None:
        state = Path(fleet.auth.env["LIVEWS_STATE_DIR"])
        pem = (state / "auth-signing-key.pem").read_bytes()
        self.key = serialization.load_pem_private_key(pem, password=None)
        jwks = httpx.get(f"{fleet.url}/auth/.well-known/jwks.json", timeout=5).json()
        (jwk,) = jwks["keys"]
        self.kid, self.alg = jwk["kid"], jwk["alg"]
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.foreign = ec.generate_private_key(ec.SECP256R1())
        self.url = ws_url(fleet)

    def claims(self) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": "livews-auth", "aud": "livews", "sub": "XF00001", "sid": "sess-fuzz",
                "scope": "md:read", "iat": now, "exp": now + 600, "jti": "fuzz"}  # fmt: skip

    def sign(self, claims: dict[str, Any], header: dict[str, Any], key: Any = None) -> str:
        """Sign exactly these claims (PyJWT's encode would refuse some of the junk)."""
        header = {"alg": self.alg, **header}
        signing_input = _unsigned(header, claims)[:-1]
        algorithm = jwt.algorithms.get_default_algorithms()[header["alg"]]
        return f"{signing_input}.{_b64(algorithm.sign(signing_input.encode(), key or self.key))}"

    def connect(self, token: object) -> str:
        """The server's answer to a namespace CONNECT with ``{"token": token}``."""
        with ws_connect(self.url, open_timeout=10, max_size=None) as ws:
            assert str(ws.recv(10)).startswith("0{")
            ws.send("40" + json.dumps({"token": token}))
            while True:
                msg = ws.recv(10)
                if msg != "2":
                    return str(msg)
                ws.send("3")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    parts = (json.dumps(header).encode(), json.dumps(claims).encode())
    return f"{_b64(parts[0])}.{_b64(parts[1])}.{signature}"


not_livews = st.text(max_size=30).filter(lambda s: s not in ("livews", "livews-auth"))
junk = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), not_livews,
                 st.lists(not_livews, max_size=3), st.booleans())  # fmt: skip
MUTATIONS = ("alg_none", "hmac_with_public_key", "foreign_key", "unknown_kid", "no_kid",
             "wrong_iss", "wrong_aud", "expired", "no_exp", "exp_not_int", "no_sub", "no_sid",
             "scope_without_md_read", "not_yet_valid", "tampered_claims", "cut_signature",
             "random_text", "junk_claim_types")  # fmt: skip


def spoil(f: Forger, mutations: list[str], data: st.DataObject) -> object:  # noqa: C901
    """A token that each mutation alone makes unacceptable."""
    claims, header = f.claims(), {"kid": f.kid, "alg": f.alg, "typ": "JWT"}
    key: Any = None
    m = set(mutations)
    if "unknown_kid" in m:
        header["kid"] = data.draw(st.text(max_size=40).filter(lambda k: k != f.kid))
    if "no_kid" in m:
        header.pop("kid")
    if "wrong_iss" in m:
        claims["iss"] = data.draw(junk)
    if "wrong_aud" in m:
        claims["aud"] = data.draw(junk)
    if "expired" in m:
        claims["exp"] = int(time.time()) - data.draw(st.integers(120, 10**9))
    if "no_exp" in m:
        claims.pop("exp")
    if "exp_not_int" in m:
        claims["exp"] = data.draw(st.one_of(st.just(str(claims.get("exp", 0))), st.none(), st.lists(
            st.integers(), max_size=2)))  # fmt: skip
    if "no_sub" in m:
        claims.pop("sub")
    if "no_sid" in m:
        claims.pop("sid")
    if "scope_without_md_read" in m:
        claims["scope"] = data.draw(st.text(max_size=30).filter(lambda s: "md:read" not in s))
    if "not_yet_valid" in m:
        claims["nbf"] = int(time.time()) + data.draw(st.integers(120, 10**6))
    if "junk_claim_types" in m:
        claims[data.draw(st.sampled_from(["sub", "sid", "scope", "iat"]))] = data.draw(
            st.one_of(st.none(), st.lists(st.integers(), min_size=1, max_size=2), st.booleans())
        )
    if "foreign_key" in m:
        key = f.foreign
        header["alg"] = "ES256"
    if "alg_none" in m:
        return _unsigned({**header, "alg": data.draw(st.sampled_from(["none", "None", "NONE"]))},
                         claims, data.draw(st.sampled_from(["", "e30"])))  # fmt: skip
    if "hmac_with_public_key" in m:
        alg = data.draw(st.sampled_from(["HS256", "HS384", "HS512"]))
        signing_input = _unsigned({**header, "alg": alg}, claims)[:-1]
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
        mac = hmac.new(f.public_pem, signing_input.encode(), digest[alg]).digest()
        return f"{signing_input}.{_b64(mac)}"
    if "random_text" in m:
        return data.draw(st.one_of(st.text(max_size=300), st.from_regex(
            r"\A[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,90}\Z")))  # fmt: skip
    token = f.sign(claims, header, key)
    if "tampered_claims" in m:
        head, _, sig = token.split(".")
        forged = {**claims, "sub": "XADMIN", "scope": "md:read admin"}
        token = f"{head}.{_b64(json.dumps(forged).encode())}.{sig}"
    if "cut_signature" in m:
        head, body, sig = token.split(".")
        token = f"{head}.{body}.{sig[: data.draw(st.integers(0, len(sig) - 1))]}"
    return token


@pytest.fixture(scope="module")
def forger(shared_fleet: Fleet) -> Forger:
    return Forger(shared_fleet)


@pytest.mark.timeout(240)
def test_jwt_fuzzer_against_connect(fleet: Fleet, forger: Forger, canary: CanaryProcess) -> None:
    # The harness can tell acceptance: the unspoiled token connects.
    assert forger.connect(forger.sign(forger.claims(), {"kid": forger.kid})).startswith("40{")
    seen: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(mutations=st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3, unique=True),
           data=st.data())  # fmt: skip
    def refused(mutations: list[str], data: st.DataObject) -> None:
        answer = forger.connect(spoil(forger, mutations, data))
        assert answer.startswith("44"), f"{mutations} accepted: {answer}"
        code = json.loads(answer[2:])["data"]["code"]
        assert code in ("unauthorized", "forbidden"), answer
        if mutations == ["scope_without_md_read"]:
            assert code == "forbidden", answer
        seen[code] += 1

    refused()
    print(f"\nABUSE JWT fuzzer: {sum(seen.values())} spoiled tokens refused: {dict(seen)}")
    canary.check("the JWT fuzzer")


# -- schemathesis against the auth API, through nginx --------------------------------------


def _schemathesis(fleet: Fleet, cwd: Path, *headers: str) -> str:
    # The schema comes from auth itself (nginx only routes /auth/); every request goes
    # through nginx, as a browser's would.
    argv = [
        script("schemathesis"), "run", f"{fleet.auth.url}/openapi.json", "--url", fleet.url,
        "--include-path-regex", "^/auth/", "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing", "--max-examples", "20", "--seed", "42",
        "--workers", "1", "--max-redirects", "0", "--request-timeout", "5",
        "--generation-database", "none", "--no-color",
    ]  # fmt: skip
    for header in headers:
        argv += ["-H", header]
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", out.stdout)
    assert summary and summary.group(1) == summary.group(2), out.stdout[-2000:]
    return summary.group(0)


@pytest.mark.timeout(300)
def test_schemathesis_auth_api_through_nginx(
    fleet: Fleet, canary: CanaryProcess, tmp_path: Path
) -> None:
    anonymous = _schemathesis(fleet, tmp_path)
    with signed_in(fleet.url, "XD00004") as (client, token):
        cookie = client.cookies["livews_refresh"]
        signed = _schemathesis(fleet, tmp_path, f"Authorization: Bearer {token}",
                               f"Cookie: livews_refresh={cookie}")  # fmt: skip
    print(f"\nABUSE schemathesis through nginx: anonymous {anonymous}; signed in {signed}")
    canary.check("schemathesis against the auth API")
