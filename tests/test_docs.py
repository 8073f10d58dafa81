"""docs/asyncapi.yaml is a valid AsyncAPI 3.0 document and agrees with the code's contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from livews_common import names
from livews_common.codes import ByeCode, ErrorCode
from livews_common.models import Depth, Tick, encode

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "docs" / "asyncapi.yaml"
SCHEMA = ROOT / "tools/spec-check/node_modules/@asyncapi/specs/schemas/3.0.0.json"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return doc


def test_asyncapi_document_validates_against_the_official_schema(spec: dict[str, Any]) -> None:
    assert SCHEMA.exists(), "run `make node-deps` (npm ci in tools/spec-check) first"
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(spec)


def test_redis_addresses_match_the_names_module(spec: dict[str, Any]) -> None:
    addresses = {c["address"] for c in spec["channels"].values()}
    assert names.tick_channel("{symbol}") in addresses
    assert names.depth_channel("{symbol}") in addresses
    assert names.STATUS in addresses


def test_codes_match(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["ErrorCode"]["enum"]) == {c.value for c in ErrorCode}
    bye = spec["components"]["messages"]["Bye"]["payload"]["properties"]["code"]["enum"]
    assert set(bye) == {c.value for c in ByeCode}


def _resolver_schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    # Validate a wire payload against the document's own schema (refs resolved within it).
    return {**spec["components"]["schemas"][name], "components": spec["components"]}


def test_wire_models_conform_to_the_documented_schemas(spec: dict[str, Any]) -> None:
    tick = Tick(symbol="NSE:SBIN-EQ", kind="quote", seq=3, ltp=812.35, ingest_ts=1)
    level = (812.3, 100, 3)
    depth = Depth(symbol="NSE:SBIN-EQ", seq=1, bids=[level] * 5, asks=[level] * 5, ingest_ts=1)
    for name, obj in (("Tick", tick), ("Depth", depth)):
        doc = json.loads(encode(obj))
        jsonschema.Draft202012Validator(_resolver_schema(spec, name)).validate(doc)
    with pytest.raises(jsonschema.ValidationError):
        bad = {**json.loads(encode(tick)), "ltp": "812.35"}
        jsonschema.Draft202012Validator(_resolver_schema(spec, "Tick")).validate(bad)
