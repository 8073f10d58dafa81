"""Unit tests: the inbound budget, the admission bookkeeping, the client address."""

from __future__ import annotations

from ipaddress import ip_network

from livews_gateway.admission import Admission, Ticket, client_address
from livews_gateway.limits import InboundBudget

TRUSTED = [ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget(clock: Clock, **overrides: float) -> InboundBudget:
    args: dict[str, float] = {
        "message_rate": 10, "message_burst": 20, "byte_rate": 1000, "byte_burst": 4000,
        "strike_limit": 5,
    }  # fmt: skip
    args.update(overrides)
    return InboundBudget(
        message_rate=args["message_rate"], message_burst=int(args["message_burst"]),
        byte_rate=args["byte_rate"], byte_burst=int(args["byte_burst"]),
        strike_limit=int(args["strike_limit"]), clock=clock,
    )  # fmt: skip


# --- inbound budget ---------------------------------------------------------------------------


def test_budget_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    b = budget(clock)
    assert all(b.charge(10) for _ in range(20))
    assert not b.charge(10) and b.strikes == 1
    clock.now += 0.5  # 5 messages refilled
    assert sum(b.charge(10) for _ in range(10)) == 5


def test_budget_counts_bytes_too() -> None:
    clock = Clock()
    b = budget(clock)
    assert b.charge(4000)
    assert not b.charge(1), "the byte bucket is empty"
    clock.now += 1.0
    assert b.charge(1000) and not b.charge(1)


def test_budget_is_exhausted_by_repeated_excess_within_the_window_only() -> None:
    clock = Clock()
    b = budget(clock, message_burst=1, message_rate=0.001)
    assert b.charge(1)
    for _ in range(4):
        assert not b.charge(1)
    assert not b.exhausted
    clock.now += InboundBudget.WINDOW + 1  # a new window: old strikes are forgiven
    assert not b.charge(1) and b.strikes == 1 and not b.exhausted
    for _ in range(4):
        b.charge(1)
    assert b.exhausted


def test_budget_memory_is_fixed_whatever_is_sent() -> None:
    clock = Clock()
    b = budget(clock)
    for _ in range(100_000):
        b.charge(65536)
    assert not hasattr(b, "__dict__"), "slots only: nothing grows per message"


# --- admission ----------------------------------------------------------------------------------


def admission(clock: Clock, **overrides: float) -> Admission:
    args: dict[str, float] = {
        "max_pending": 3, "pending_seconds": 5, "address_max_connections": 2,
        "address_handshake_rate": 1, "address_handshake_burst": 100,
    }  # fmt: skip
    args.update(overrides)
    return Admission(
        max_pending=int(args["max_pending"]), pending_seconds=args["pending_seconds"],
        address_max_connections=int(args["address_max_connections"]),
        address_handshake_rate=args["address_handshake_rate"],
        address_handshake_burst=int(args["address_handshake_burst"]), clock=clock,
    )  # fmt: skip


def test_pending_cap_closes_the_oldest_pending_session_and_ignores_authorized_ones() -> None:
    a = admission(Clock(), address_max_connections=0)
    closed: list[str] = []
    tickets = [a.admit(f"10.1.0.{i}") for i in range(3)]
    for i, t in enumerate(tickets):
        assert isinstance(t, Ticket)
        a.bind(t, f"eio-{i}", lambda why, i=i: closed.append(f"eio-{i}:{why}"))
    a.authorize("eio-0")  # authorized: no longer pending, never evicted
    assert a.pending == 2
    ninth = a.admit("10.1.0.9")  # not bound to a session yet
    assert isinstance(ninth, Ticket) and a.pending == 3 and not closed
    newest = a.admit("10.1.0.10")
    assert isinstance(newest, Ticket), "a new session is never refused for the pending cap"
    assert closed == ["eio-1:evicted"] and a.pending == 3 and a.closing == 1
    assert isinstance(a.admit("10.1.0.11"), Ticket) and closed[-1] == "eio-2:evicted"
    assert isinstance(a.admit("10.1.0.12"), Ticket) and ninth.closing
    late: list[str] = []
    a.bind(ninth, "eio-9", late.append)
    assert late == ["evicted"], "evicted before its session existed: closed as it binds"
    assert a.pending == 3 and a.closing == 3


def test_per_address_connections_and_release() -> None:
    a = admission(Clock(), max_pending=100)
    one, two = a.admit("192.0.2.1"), a.admit("192.0.2.1")
    assert isinstance(one, Ticket) and isinstance(two, Ticket)
    assert a.admit("192.0.2.1") == "address_connections"
    assert isinstance(a.admit("192.0.2.2"), Ticket), "another address is not affected"
    a.release(one)
    a.release(one)  # idempotent
    assert a.open_from("192.0.2.1") == 1
    assert isinstance(a.admit("192.0.2.1"), Ticket)


def test_per_address_handshake_rate() -> None:
    clock = Clock()
    a = admission(clock, max_pending=100, address_max_connections=0, address_handshake_burst=3)
    got = [a.admit("192.0.2.7") for _ in range(4)]
    assert [isinstance(t, Ticket) for t in got] == [True, True, True, False]
    assert got[3] == "address_rate"
    assert isinstance(a.admit("192.0.2.8"), Ticket)
    clock.now += 1.0
    assert isinstance(a.admit("192.0.2.7"), Ticket)


def test_pending_sessions_are_closed_after_the_deadline_and_authorized_ones_are_not() -> None:
    clock = Clock()
    a = admission(clock, max_pending=10, address_max_connections=0)
    closed: list[str] = []
    reasons: list[str] = []
    a.on_close = reasons.append
    for i in range(3):
        t = a.admit("192.0.2.9")
        assert isinstance(t, Ticket)
        a.bind(t, f"eio-{i}", lambda why, i=i: closed.append(f"eio-{i}:{why}"))
        clock.now += 1.0
    a.authorize("eio-1")
    assert a.sweep() == 0
    clock.now += 3.5  # eio-0 is 6.5 s old, eio-2 4.5 s
    assert a.sweep() == 1 and closed == ["eio-0:deadline"] and reasons == ["deadline"]
    assert a.sweep() == 0, "a session being closed is not closed twice"
    clock.now += 1.0
    assert a.sweep() == 1 and closed[-1] == "eio-2:deadline"
    t0 = a.ticket("eio-0")
    assert t0 is not None
    a.release(t0)
    assert a.pending == 0 and a.closing == 1 and a.ticket("eio-0") is None


def test_idle_address_buckets_are_forgotten() -> None:
    clock = Clock()
    a = admission(clock, max_pending=10_000, address_max_connections=0)
    for i in range(1000):
        t = a.admit(f"198.51.100.{i % 250}.{i}")
        assert isinstance(t, Ticket)
        a.release(t)
    assert a.addresses == 1000
    clock.now += 200  # every bucket refilled
    a.sweep()
    assert a.addresses == 0


# --- client address -------------------------------------------------------------------------------


def test_forwarded_for_is_believed_only_from_a_trusted_peer() -> None:
    assert client_address("203.0.113.5", ["1.2.3.4"], TRUSTED) == "203.0.113.5"
    assert client_address("127.0.0.1", ["1.2.3.4"], TRUSTED) == "1.2.3.4"
    assert client_address("127.0.0.1", [], TRUSTED) == "127.0.0.1"
    assert client_address("127.0.0.1", ["1.2.3.4"], []) == "127.0.0.1", "no trusted proxies"


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    # The client claims 6.6.6.6; nginx appended the real peer; an internal LB appended nginx.
    header = ["6.6.6.6, 198.51.100.7, 10.2.3.4"]
    assert client_address("10.9.9.9", header, TRUSTED) == "198.51.100.7"
    assert client_address("10.9.9.9", ["6.6.6.6", "198.51.100.7"], TRUSTED) == "198.51.100.7"
    assert client_address("10.9.9.9", ["10.1.1.1, 10.2.2.2"], TRUSTED) == "10.1.1.1"
    assert len(client_address("127.0.0.1", ["x" * 500], TRUSTED)) == 64
