"""The HSM data socket: wire format, sessions, the feed and the websocket endpoint."""
