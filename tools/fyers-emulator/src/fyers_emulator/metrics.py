"""Prometheus metrics (prefix ``fyers_emulator_``), one registry per app instance."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from livews_common.buildinfo import register_build_info

__all__ = ["CONTENT_TYPE", "Metrics"]

_P = "fyers_emulator_"


class Metrics:
    """Every metric the emulator exports; hot paths increment once per batch, not per tick."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        register_build_info(r, "emulator", "fyers-emulator")
        self.sockets = Gauge(_P + "data_sockets", "Open HSM data sockets", registry=r)
        self.socket_connects = Counter(
            _P + "data_socket_connects", "Data socket connections accepted", registry=r
        )
        self.socket_auth = Counter(
            _P + "data_socket_auth", "Data socket auth attempts by result", ["result"], registry=r
        )
        self.ticks = Counter(_P + "ticks", "Market ticks generated", registry=r)
        self.updates_sent = Counter(
            _P + "updates_sent", "Data entries queued to sockets by kind", ["kind"], registry=r
        )
        self.frames_sent = Counter(_P + "frames_sent", "Frames queued to sockets", registry=r)
        self.frames_dropped = Counter(
            _P + "frames_dropped", "Data frames dropped because a socket's queue was full",
            registry=r,
        )  # fmt: skip
        self.bad_frames = Counter(
            _P + "bad_client_frames", "Client frames that could not be parsed", registry=r
        )
        self.acks = Counter(_P + "acks_received", "Ack frames received from clients", registry=r)
        self.subscriptions = Gauge(
            _P + "subscribed_topics", "Topics subscribed over all sockets", registry=r
        )
        self.tokens_issued = Counter(
            _P + "tokens_issued", "Credentials issued by kind", ["kind"], registry=r
        )
        self.refresh_calls = Counter(
            _P + "validate_refresh_token_calls",
            "Calls to validate-refresh-token (each spends a PIN at real Fyers), any outcome",
            registry=r,
        )
        self.symbol_token_calls = Counter(
            _P + "symbol_token_calls",
            "Calls to /data/symbol-token (each counts against the REST quota at real Fyers)",
            registry=r,
        )
        self.rest_errors = Counter(
            _P + "rest_errors", "REST requests answered with an error by code", ["code"],
            registry=r,
        )  # fmt: skip
        self.faults = Counter(_P + "faults", "Fault controls applied by kind", ["kind"], registry=r)
        self.tick_rate = Gauge(
            _P + "tick_rate", "Configured aggregate ticks per second (burst included)", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
