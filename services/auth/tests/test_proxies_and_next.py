"""Client address, origin and ``next`` validation (pure functions over real Request objects)."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.requests import Request

from livews_auth.errors import BadRequest
from livews_auth.logins import safe_next
from livews_auth.proxies import ProxyPolicy

LOOPBACK = ProxyPolicy([ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8")])


def request(peer: str, headers: dict[str, str], scheme: str = "http") -> Request:
    return Request(
        {
            "type": "http", "method": "POST", "path": "/auth/token", "query_string": b"",
            "scheme": scheme, "server": ("auth", 8001), "client": (peer, 40000),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )  # fmt: skip


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    spoof = {"X-Forwarded-For": "198.51.100.1", "Host": "auth:8001"}
    assert LOOPBACK.client_ip(request("203.0.113.5", spoof)) == "203.0.113.5"
    assert LOOPBACK.client_ip(request("127.0.0.1", spoof)) == "198.51.100.1"
    chain = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3", "Host": "a"}
    # the right-most address that is not one of our proxies is the client
    assert LOOPBACK.client_ip(request("10.0.0.9", chain)) == "203.0.113.7"
    garbage = {"X-Forwarded-For": "not-an-ip", "Host": "a"}
    assert LOOPBACK.client_ip(request("127.0.0.1", garbage)) == "127.0.0.1"
    assert ProxyPolicy([]).client_ip(request("127.0.0.1", spoof)) == "127.0.0.1"


def test_origin_follows_trusted_forwarded_proto_and_host() -> None:
    headers = {"Host": "auth:8001", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "md.example"}
    assert LOOPBACK.origin(request("127.0.0.1", headers)) == "https://md.example"
    assert LOOPBACK.origin(request("203.0.113.5", headers)) == "http://auth:8001"
    evil = {"Host": "a b/evil"}
    assert LOOPBACK.origin(request("203.0.113.5", evil)) == "http://auth:8001"


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Host": "md.example"}, True),
        ({"Host": "md.example", "Origin": "http://md.example"}, True),
        ({"Host": "md.example", "Origin": "https://app.example"}, True),
        ({"Host": "md.example", "Origin": "https://evil.example"}, False),
        ({"Host": "md.example", "Origin": "null"}, False),
        ({"Host": "md.example", "Origin": "http://md.example.evil"}, False),
        ({"Host": "md.example", "Sec-Fetch-Site": "cross-site"}, False),
        ({"Host": "md.example", "Sec-Fetch-Site": "same-origin"}, True),
    ],
)
def test_origin_check(headers: dict[str, str], allowed: bool) -> None:
    req = request("203.0.113.5", headers)
    assert LOOPBACK.origin_allowed(req, {"https://app.example"}) is allowed


@pytest.mark.parametrize("good", ["/", "/board", "/a/b?x=1&y=%2F%2F#frag", "/%2F%2Fx"])
def test_same_site_paths_are_accepted(good: str) -> None:
    assert safe_next(good) == good


@pytest.mark.parametrize(
    "bad",
    ["//evil.example", "///evil.example", "/\\evil.example", "\\/evil.example",
     "https://evil.example", "http:/evil", "javascript:alert(1)", "evil.example",
     "/\t/evil.example", "/\n/evil.example", "/ok\r\nSet-Cookie: x=1", "/" + "a" * 3000],
)  # fmt: skip
def test_open_redirects_are_refused(bad: str) -> None:
    with pytest.raises(BadRequest):
        safe_next(bad)


def test_missing_next_means_home() -> None:
    assert safe_next(None) == "/" and safe_next("") == "/"
