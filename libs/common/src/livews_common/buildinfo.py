"""What build is running: version, Python and git revision, for ``--version`` and ``build_info``.

The revision comes from ``LIVEWS_GIT_REVISION`` (an image build sets it), else from the
``.git`` directory of a source checkout, else ``unknown``. Read once per process.
"""

from __future__ import annotations

import os
import platform
from functools import cache
from importlib import metadata
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

UNKNOWN = "unknown"


def dist_version(dist: str) -> str:
    """The installed version of distribution ``dist`` (``0+unknown`` when not installed)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _git_revision(start: Path) -> str | None:
    for directory in (start, *start.parents):
        git = directory / ".git"
        if not git.is_dir():
            continue
        try:
            head = (git / "HEAD").read_text().strip()
            if head.startswith("ref: "):
                ref = head.removeprefix("ref: ")
                loose = git / ref
                if loose.is_file():
                    return loose.read_text().strip()[:12]
                for line in (git / "packed-refs").read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split(" ", 1)[0][:12]
                return None
            return head[:12]
        except OSError:
            return None
    return None


@cache
def revision() -> str:
    """The git revision this code was built from, or ``unknown``."""
    configured = os.environ.get("LIVEWS_GIT_REVISION", "").strip()
    return configured or _git_revision(Path(__file__).resolve().parent) or UNKNOWN


def build_info(dist: str) -> dict[str, str]:
    """``{"version", "python", "revision"}`` of this process."""
    return {
        "version": dist_version(dist),
        "python": platform.python_version(),
        "revision": revision(),
    }


def register_build_info(registry: CollectorRegistry, service: str, dist: str) -> Gauge:
    """``livews_build_info{service,version,python,revision} 1`` on ``registry``."""
    gauge = Gauge(
        "livews_build_info",
        "Always 1; the labels say which build is running",
        ["service", "version", "python", "revision"],
        registry=registry,
    )
    info = build_info(dist)
    gauge.labels(service, info["version"], info["python"], info["revision"]).set(1)
    return gauge
