"""The one ``/readyz`` body every LiveWebsocket process answers with (docs/operations.md).

``{"status": "ready" | "not_ready", "reason": str | null, "checks": {name: detail}}`` with
HTTP 200 when ready and 503 when not. ``reason`` is a sentence for a person; ``checks``
holds what each dependency looked like (``"ok"``, a state, or a small object), for tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

READY = "ready"
NOT_READY = "not_ready"

ReadyStatus = Literal["ready", "not_ready"]


def readiness(
    ready: bool, reason: str | None = None, checks: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], int]:
    """The ``/readyz`` body and its HTTP status (200 ready, 503 not)."""
    body: dict[str, Any] = {
        "status": READY if ready else NOT_READY,
        "reason": reason,
        "checks": dict(checks or {}),
    }
    return body, 200 if ready else 503
