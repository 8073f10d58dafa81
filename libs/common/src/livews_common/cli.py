"""What every console script shares: ``--version``, ``--check-config``, bad config as one line.

A script builds its parser with :func:`script_parser`, loads its settings through
:func:`load_settings` and, when asked, prints them with :func:`print_settings`. Anything
that cannot run — a malformed variable, a port out of range, missing prod secrets — ends
the process with one line on stderr naming the variable and what it accepts, and exit
status :data:`EXIT_CONFIG` (2, the status argparse uses for a bad flag), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from livews_common.buildinfo import build_info
from livews_common.logs import is_secret_name
from livews_common.settings import ConfigError, redact_redis_url

EXIT_CONFIG = 2
REDACTED = "***"

T = TypeVar("T")


class ScriptParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see {self.prog} --help)\n")


def port(text: str) -> int:
    """argparse type for a TCP port: an integer 0-65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is out of range (a port is 0-65535)")
    return value


def version_line(prog: str, dist: str) -> str:
    """``prog 0.1.0 (python 3.11.7, revision abc1234)``."""
    info = build_info(dist)
    return f"{prog} {info['version']} (python {info['python']}, revision {info['revision']})"


def script_parser(prog: str, dist: str, description: str, **kwargs: Any) -> ScriptParser:
    """A parser with ``--version`` and ``--check-config`` already added."""
    parser = ScriptParser(prog=prog, description=description, **kwargs)
    parser.add_argument("--version", action="version", version=version_line(prog, dist))
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration, print the effective settings (secrets redacted) "
        "and exit: 0 when it can run, 2 when it cannot",
    )
    return parser


def fail(prog: str, message: str) -> NoReturn:
    """End the process: one line on stderr, exit 2."""
    sys.stderr.write(f"{prog}: {' '.join(message.split())}\n")
    sys.exit(EXIT_CONFIG)


def _secret(name: str) -> bool:
    return is_secret_name(name) or name.upper().endswith(("_KEY", "_KEY_FILE"))


def describe(exc: ValidationError) -> str:
    """One line naming each bad variable and what it accepts (secret values never shown)."""
    problems = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "configuration"
        msg = str(err["msg"]).removeprefix("Value error, ")
        given = err.get("input")
        if isinstance(given, str | int | float) and not _secret(name):
            msg += f" (got {given!r})"
        problems.append(f"{name}: {msg}")
    return "bad configuration: " + "; ".join(problems)


def load_settings(prog: str, load: Callable[[], T]) -> T:
    """``load()``, or the process ends with one line naming what is wrong (exit 2)."""
    try:
        return load()
    except ConfigError as exc:
        fail(prog, str(exc))
    except ValidationError as exc:
        fail(prog, describe(exc))


def settings_items(settings: BaseModel) -> list[tuple[str, object]]:
    """``(VARIABLE, value)`` for each field of a pydantic-settings model, by alias."""
    items: list[tuple[str, object]] = []
    for name, field in type(settings).model_fields.items():
        items.append((field.alias or name.upper(), getattr(settings, name)))
    return items


def _shown(name: str, value: object) -> str:
    if value is None:
        return "(unset)"
    number = isinstance(value, int | float) and not name.endswith("PIN")  # a TTL, not a secret
    if isinstance(value, SecretStr) or (not number and _secret(name)):
        return REDACTED
    if name.endswith("_URL") and isinstance(value, str):
        return redact_redis_url(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple | frozenset | set):
        return ",".join(str(v) for v in value)
    return str(value).replace("\n", "\\n")  # one line per variable, even for a PEM


def print_settings(prog: str, items: Iterable[tuple[str, object]]) -> NoReturn:
    """Print ``VARIABLE=value`` lines (secrets redacted), exit 0: ``--check-config``."""
    lines = [f"{name}={_shown(name, value)}" for name, value in sorted(items)]
    sys.stdout.write(f"# {prog}: configuration OK\n" + "\n".join(lines) + "\n")
    sys.exit(0)
