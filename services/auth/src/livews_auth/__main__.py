"""Console entry point (placeholder until the service lands)."""

import sys


def main() -> None:
    sys.exit("livews-auth: not implemented yet")
