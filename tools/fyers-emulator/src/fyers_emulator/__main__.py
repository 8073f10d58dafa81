"""Console entry point (placeholder until the emulator lands)."""

import sys


def main() -> None:
    sys.exit("fyers-emulator: not implemented yet")
