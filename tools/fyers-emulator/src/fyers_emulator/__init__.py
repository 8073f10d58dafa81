"""fyers_emulator: a local stand-in for Fyers (OAuth, REST, the HSM data socket, faults)."""
