"""Shared inputs for the fhir adapter tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson

GOLDEN = Path(__file__).parent / "golden"
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "fhir-examples"


def transaction() -> dict[str, Any]:
    """A deep copy of the golden transaction push (its Condition has no id and is POSTed)."""
    return copy.deepcopy(orjson.loads((GOLDEN / "transaction.in").read_bytes()))


def single() -> dict[str, Any]:
    return copy.deepcopy(orjson.loads((GOLDEN / "single_resource.in").read_bytes()))


def all_ids_transaction() -> dict[str, Any]:
    """The golden transaction with an id on every resource (every entry becomes a PUT)."""
    bundle = transaction()
    entry = bundle["entry"][2]
    entry["resource"]["id"] = "dx-1"
    entry["request"] = {"method": "PUT", "url": "Condition/dx-1"}
    return bundle
