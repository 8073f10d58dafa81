"""Free TCP ports on loopback."""

from __future__ import annotations

import random
import socket

_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return low, high


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now.

    Taken at random from below the kernel's ephemeral range, never twice in one process.
    A port the kernel picks for ``bind(0)`` comes from the range it also gives to outgoing
    connections, so between this call and the server's bind a client socket of the running
    fleet could take it ("address already in use" at a fleet start); ports below that range
    are only ever taken by listeners that ask for them by number.
    """
    low, _ = _ephemeral_range()
    candidates = range(10000, low) if low > 11000 else range(low, 65536)
    for _ in range(200):
        port = random.choice(candidates)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free TCP port on 127.0.0.1 after 200 tries")


def busy_ports(ports: dict[str, int], host: str = "127.0.0.1") -> list[str]:
    """``name (port)`` for each of ``ports`` that something already listens on."""
    busy = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # SO_REUSEADDR: a port in TIME_WAIT is free for a listener; a listening one is not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                busy.append(f"{name} ({port})")
    return busy
