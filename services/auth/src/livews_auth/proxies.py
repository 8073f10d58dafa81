"""Who is asking, and from which origin — believing forwarded headers only from our proxies.

``AUTH_TRUSTED_PROXIES`` lists the addresses (CIDRs) of reverse proxies in front of auth
(nginx, the ingress, the web dev server). Only when the TCP peer is one of them are
``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` used; the client address is
then the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy. Anyone else
sending those headers is ignored, so a client cannot pick its own rate-limit bucket.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Sequence

from starlette.requests import Request

from livews_auth.settings import IPNetwork

_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _first(value: str | None) -> str | None:
    if not value:
        return None
    head = value.split(",")[0].strip()
    return head or None


class ProxyPolicy:
    """Reads client address, scheme and host through trusted proxies only."""

    def __init__(self, trusted: Sequence[IPNetwork]) -> None:
        self._trusted = tuple(trusted)

    def trusts(self, address: str | None) -> bool:
        ip = _ip(address) if address else None
        return ip is not None and any(ip in net for net in self._trusted)

    def _peer(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def client_ip(self, request: Request) -> str:
        """The client's address: the peer, or what our proxies say the client was."""
        peer = self._peer(request)
        if not self.trusts(peer):
            return peer
        hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
        hops = [h for h in hops if h]
        nearest = peer
        for hop in reversed(hops):
            if _ip(hop) is None:
                break  # garbage: stop believing the chain here
            nearest = hop
            if not self.trusts(hop):
                break
        return nearest

    def origin(self, request: Request) -> str:
        """``scheme://host[:port]`` as the browser sees this service."""
        scheme = request.url.scheme
        host = request.headers.get("host", "")
        if self.trusts(self._peer(request)):
            proto = _first(request.headers.get("x-forwarded-proto"))
            if proto in ("http", "https"):
                scheme = proto
            forwarded_host = _first(request.headers.get("x-forwarded-host"))
            if forwarded_host:
                host = forwarded_host
        if not _HOST.match(host):
            host = request.url.netloc
        return f"{scheme}://{host}".lower()

    def is_secure(self, request: Request) -> bool:
        return self.origin(request).startswith("https://")

    def origin_allowed(self, request: Request, allowed: Collection[str]) -> bool:
        """False for a cross-site browser request (by ``Origin`` or ``Sec-Fetch-Site``).

        No ``Origin`` at all is a non-browser client (curl, a service) and is allowed —
        browsers always send it on POST; a ``Sec-Fetch-Site: cross-site`` without one is not.
        """
        origin = request.headers.get("origin")
        if origin is None:
            return request.headers.get("sec-fetch-site") != "cross-site"
        origin = origin.strip().rstrip("/").lower()
        if origin == "null":
            return False
        return origin == self.origin(request) or origin in allowed
