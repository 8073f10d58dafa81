"""End-to-end fixtures: the ``fleet`` / ``shared_fleet`` fixtures come from livews_devtools.fleet.

Here: closing the recording clients a test opened (in the test's own event loop), and a
record of each test's measured recovery time (printed; docs/resilience.md quotes them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from livews_devtools.fleet import Fleet


@pytest.fixture(autouse=True)
async def _close_fleet_clients(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    for value in request.node.funcargs.values():
        if isinstance(value, Fleet):
            await value.close_clients()


@pytest.fixture
def recovery(
    request: pytest.FixtureRequest, record_property: Callable[[str, object], None]
) -> Callable[[str, float, float], None]:
    """``recovery(what, seconds, bound)``: check a measured time against its bound; report it."""

    def _check(what: str, seconds: float, bound: float) -> None:
        record_property(what, round(seconds, 3))
        print(f"\nRECOVERY {request.node.name} {what}: {seconds:.2f}s (bound {bound:.0f}s)")
        assert seconds <= bound, f"{what} took {seconds:.2f}s, more than {bound}s"

    return _check
