"""Our own asyncio client of Fyers' HSM data socket (the wire format the SDK speaks).

- :mod:`.protocol`: the request frames (auth, mode, subscribe, unsubscribe, ack, ping) and the
  symbol → HSM topic conversion, byte for byte what fyers-apiv3 3.2.0 sends;
- :mod:`.decode`: server frames → the same dicts the SDK hands ``on_message``/``on_error``;
- :mod:`.client`: one socket on ``websockets``' asyncio client, feeding the :class:`Bridge`.

tests/test_hsm_oracle.py holds all three to the SDK itself.
"""
