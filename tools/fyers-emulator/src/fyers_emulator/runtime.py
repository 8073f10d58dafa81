"""The objects one emulator instance is made of, shared by its HTTP and socket handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import HTTPConnection
from starlette.responses import Response

from fyers_emulator.errors import BadRequest
from fyers_emulator.faults import Faults
from fyers_emulator.metrics import Metrics
from fyers_emulator.settings import Settings
from fyers_emulator.tokens import TokenService

if TYPE_CHECKING:
    from fyers_emulator.hsm.feed import Feed


@dataclass
class Runtime:
    """Built by ``create_app``; reachable from any request as ``runtime(request)``."""

    settings: Settings
    tokens: TokenService
    faults: Faults
    metrics: Metrics
    feed: Feed


def runtime(conn: HTTPConnection) -> Runtime:
    rt: Runtime = conn.app.state.runtime
    return rt


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or ``BadRequest``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object")
    return data


def str_field(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    """A non-empty string field of ``data`` ('' when absent and not required)."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"Missing field: {name}")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"Field {name} must be a string")
    return value
