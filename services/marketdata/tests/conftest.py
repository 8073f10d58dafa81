"""Fixtures of the ingestor's tests; helpers live in md_harness.py beside them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from md_harness import Watch


@pytest.fixture
def watch(redis_url: str) -> Iterator[Callable[..., Watch]]:
    """``watch("md:tick:*", …)`` → a :class:`Watch` on the test's Redis (closed after)."""
    opened: list[Watch] = []

    def _watch(*patterns: str, url: str | None = None) -> Watch:
        w = Watch(url or redis_url, *patterns)
        opened.append(w)
        return w

    yield _watch
    for w in opened:
        w.close()
