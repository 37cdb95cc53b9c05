"""Purpose-of-use subsumption (HL7 v3-ActReason), from ``policies/data/purposes.json``."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

PURPOSES_PATH = Path(__file__).parent / "data" / "purposes.json"


@cache
def _data() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    raw = json.loads(PURPOSES_PATH.read_text(encoding="utf-8"))
    children = {k: frozenset(v) for k, v in raw["children"].items()}
    return children, frozenset(raw["tpo"]["purposes"])


@cache
def descendants(purpose: str) -> frozenset[str]:
    """``purpose`` and every purpose below it (v3-ActReason: TREAT covers ETREAT covers BTG)."""
    children, _ = _data()
    out = {purpose}
    for child in children.get(purpose, ()):
        out |= descendants(child)
    return frozenset(out)


def covers(granted: str, asked: str) -> bool:
    """A consent or agreement granting ``granted`` applies to a request made for ``asked``."""
    return asked in descendants(granted)


def tpo_purposes() -> frozenset[str]:
    """Treatment, payment and operations (42 CFR 2.33(b), 45 CFR 164.506), with descendants."""
    _, tpo = _data()
    out: set[str] = set()
    for p in tpo:
        out |= descendants(p)
    return frozenset(out)
