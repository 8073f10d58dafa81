"""The compact tick decoder against the shared vectors (docs/compact-vectors.json).

The same file is read by web/src/gateway/compact.test.ts, so the Python and TypeScript
decoders agree; the gateway's encoder is checked against it in services/gateway/tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from livews_common.compact import FIELDS, CompactDecoder, CompactError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[3] / "docs" / "compact-vectors.json").read_text()
)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_vectors_decode_to_their_ticks(case: dict[str, Any]) -> None:
    decoder = CompactDecoder()
    assert decoder.decode_all(case["rows"]) == case["ticks"]
    for tick in case["ticks"]:
        assert set(tick) == {"v", "symbol", "seq", *FIELDS}


@pytest.mark.parametrize("case", VECTORS["errors"], ids=lambda c: c["name"])
def test_bad_rows_are_refused(case: dict[str, Any]) -> None:
    decoder = CompactDecoder()
    with pytest.raises(CompactError):
        decoder.decode_all(case["rows"])


def test_reset_forgets_the_held_ticks() -> None:
    case = VECTORS["cases"][0]
    decoder = CompactDecoder()
    decoder.decode(case["rows"][0])
    decoder.reset()
    with pytest.raises(CompactError):
        decoder.decode(case["rows"][1])
