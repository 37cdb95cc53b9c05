"""Shared inputs for the police-rms tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson

GOLDEN = Path(__file__).parent / "golden"


def full_record() -> dict[str, Any]:
    """A deep copy of the full golden call (safe to modify)."""
    return copy.deepcopy(orjson.loads((GOLDEN / "full_call.in").read_bytes()))


def minimal_record() -> dict[str, Any]:
    return copy.deepcopy(orjson.loads((GOLDEN / "minimal_call.in").read_bytes())["records"][0])
