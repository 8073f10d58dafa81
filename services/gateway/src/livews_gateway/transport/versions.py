"""The versions of uvicorn, python-engineio and python-socketio this package is written for.

The transport code reaches into these libraries' internals (see ``__init__.py``), so a new
minor release may break it in ways no type checker sees. ``SUPPORTED`` is the range each
was tested with — the same bounds as services/gateway/pyproject.toml — and
:func:`check_versions` refuses to start outside it, naming the package and the range.
tests/test_transport_internals.py names every internal relied upon; after an upgrade, run
it, adapt, then widen both places.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

#: distribution → (lowest supported, first unsupported), as in pyproject.toml.
SUPPORTED: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "uvicorn": ((0, 35), (0, 55)),
    "python-engineio": ((4, 11), (4, 16)),
    "python-socketio": ((5, 12), (5, 19)),
}


class UnsupportedVersion(RuntimeError):
    """An installed library is outside the range the transport code supports."""


def _release(text: str) -> tuple[int, ...]:
    match = re.match(r"\d+(?:\.\d+)*", text)
    if match is None:
        raise UnsupportedVersion(f"cannot read version {text!r}")
    return tuple(int(part) for part in match.group(0).split("."))


def _dotted(release: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in release)


def supported_range(dist: str) -> str:
    low, high = SUPPORTED[dist]
    return f">={_dotted(low)},<{_dotted(high)}"


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Raise :class:`UnsupportedVersion` unless every library is in its supported range.

    ``installed`` (distribution → version) replaces the installed metadata (tests).
    """
    for dist, (low, high) in SUPPORTED.items():
        try:
            found = installed[dist] if installed is not None else version(dist)
        except (KeyError, PackageNotFoundError):
            raise UnsupportedVersion(f"{dist} is not installed") from None
        if not low <= _release(found) < high:
            raise UnsupportedVersion(
                f"{dist} {found} is not supported: the gateway's transport code relies on "
                f"its internals and supports {dist}{supported_range(dist)} "
                "(see services/gateway/src/livews_gateway/transport/versions.py)"
            )
