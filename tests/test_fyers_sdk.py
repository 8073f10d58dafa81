"""fyers-apiv3 still imports and constructs with the pins lifted by the workspace overrides."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest


def test_lifted_pins_are_in_effect() -> None:
    def major_minor(name: str) -> tuple[int, ...]:
        return tuple(int(p) for p in md.version(name).split(".")[:2])

    assert major_minor("requests") >= (2, 32)
    assert major_minor("aiohttp") >= (3, 12)
    assert major_minor("websocket-client") >= (1, 8)
    assert major_minor("aws-lambda-powertools") >= (3, 0)
    installed = {d.metadata["Name"].lower() for d in md.distributions()}
    assert "boto3" not in installed and "botocore" not in installed
    assert "asyncio" not in installed  # the PyPI backport that shadows the stdlib


# The SDK opens its log files on construction and never closes them; that leak is its own.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_sdk_socket_constructs(tmp_path: Path) -> None:
    from fyers_apiv3.fyersModel import SessionModel
    from fyers_apiv3.FyersWebsocket.data_ws import FyersDataSocket

    session = SessionModel(client_id="DEVAPP0001-100", secret_key="s", redirect_uri="http://x/cb",
                           response_type="code", grant_type="authorization_code")  # fmt: skip
    assert "generate-authcode" in session.generate_authcode()
    sock = FyersDataSocket(access_token="DEVAPP0001-100:x.y.z", log_path=str(tmp_path),
                           write_to_file=False, litemode=False, reconnect=False)  # fmt: skip
    assert not sock.is_connected()
