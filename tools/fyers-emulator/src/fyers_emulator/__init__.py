"""fyers_emulator."""
