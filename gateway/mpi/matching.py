"""Scoring whether two Patient records from different agencies are the same person.

Deterministic on shared identifiers (same system and value: a driver licence, an MRN, a Medicaid id);
otherwise a weighted comparison of name, birth date, sex, phone and address in the spirit of
Fellegi-Sunter record linkage, with string similarity from ``rapidfuzz`` (Jaro-Winkler for names,
token-set ratio for addresses). Scores are in [0, 1]; thresholds live in :class:`Thresholds`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz.distance import JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

# Identifier types that name one person for life (or for one agency's records of them).
_STRONG_TYPES = frozenset({"DL", "SS", "SB", "MR", "MA", "MC", "PI", "NI", "PPN", "STID", "MB"})
NICKNAMES = {
    "bill": "william",
    "will": "william",
    "liz": "elizabeth",
    "beth": "elizabeth",
    "bob": "robert",
    "rob": "robert",
    "bobby": "robert",
    "jim": "james",
    "jimmy": "james",
    "mike": "michael",
    "kate": "katherine",
    "katie": "katherine",
    "tom": "thomas",
    "tony": "anthony",
    "dave": "david",
    "dan": "daniel",
    "danny": "daniel",
    "chris": "christopher",
    "joe": "joseph",
    "sam": "samuel",
    "alex": "alexander",
    "andy": "andrew",
    "ben": "benjamin",
    "nick": "nicholas",
    "matt": "matthew",
    "jen": "jennifer",
    "jenny": "jennifer",
    "sue": "susan",
    "peggy": "margaret",
    "maggie": "margaret",
    "rick": "richard",
    "dick": "richard",
    "steve": "steven",
    "jon": "jonathan",
    "greg": "gregory",
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """At or above ``link`` records are linked; at or above ``review`` a person decides."""

    link: float = 0.90
    review: float = 0.72


def _norm(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return re.sub(r"[^a-z0-9 ]+", "", letters).strip()


def _given(name: str) -> str:
    norm = _norm(name)
    return NICKNAMES.get(norm, norm)


@dataclass(frozen=True, slots=True)
class Features:
    """The comparable parts of one Patient."""

    identifiers: frozenset[tuple[str, str]] = frozenset()
    strong_systems: frozenset[str] = frozenset()
    family: str = ""
    given: tuple[str, ...] = ()
    birth: str = ""
    sex: str = ""
    phones: frozenset[str] = frozenset()
    address: str = ""
    postal: str = ""


def features(patient: dict[str, Any]) -> Features:
    """Extract :class:`Features` from a FHIR R4 Patient (dict)."""
    ids, strong = set(), set()
    for ident in patient.get("identifier") or []:
        system, value = ident.get("system"), ident.get("value")
        if not system or not value:
            continue
        ids.add((system, str(value).strip().upper()))
        codes = {c.get("code") for c in ((ident.get("type") or {}).get("coding") or [])}
        if codes & _STRONG_TYPES or not codes:
            strong.add(system)
    names = patient.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    phones = {
        re.sub(r"\D", "", str(t.get("value", "")))[-10:]
        for t in patient.get("telecom") or []
        if t.get("system") == "phone" and t.get("value")
    }
    addresses = patient.get("address") or []
    first = addresses[0] if addresses else {}
    line = " ".join([*(first.get("line") or []), first.get("city") or ""])
    return Features(
        identifiers=frozenset(ids),
        strong_systems=frozenset(strong),
        family=_norm(official.get("family") or ""),
        given=tuple(_given(g) for g in official.get("given") or [] if g),
        birth=str(patient.get("birthDate") or "")[:10],
        sex=str(patient.get("gender") or ""),
        phones=frozenset(p for p in phones if len(p) >= 7),
        address=_norm(line),
        postal=str(first.get("postalCode") or "")[:5],
    )


@dataclass(slots=True)
class Score:
    total: float
    deterministic: bool = False
    parts: dict[str, float] = field(default_factory=dict)


def _birth_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) == len(b) == 10:
        ya, ma, da = a[:4], a[5:7], a[8:10]
        yb, mb, db = b[:4], b[5:7], b[8:10]
        if ya == yb and ma == db and da == mb:
            return 0.8  # day and month swapped
        diffs = sum(x != y for x, y in zip(a, b, strict=True))
        if diffs == 1:
            return 0.7  # one mistyped digit
    return 0.0


def _name_similarity(a: Features, b: Features) -> tuple[float, float]:
    family = JaroWinkler.similarity(a.family, b.family) if a.family and b.family else -1.0
    if a.given and b.given:
        given = max(JaroWinkler.similarity(x, y) for x in a.given for y in b.given)
        if given < GIVEN_CLOSE:
            # Different first names with the same family and birth date are often twins or
            # siblings: far from a typo, so they count against a match rather than for it.
            given = max(0.0, given - 0.4)
        # family and first given swapped between systems
        swapped = (
            (
                JaroWinkler.similarity(a.family, b.given[0])
                + JaroWinkler.similarity(a.given[0], b.family)
            )
            / 2
            if a.family and b.family
            else 0.0
        )
        if swapped > max(family, given) and swapped > 0.9:
            return swapped, swapped
    else:
        given = -1.0
    return family, given


GIVEN_CLOSE = 0.93
_WEIGHTS = {
    "family": 0.30,
    "given": 0.20,
    "birth": 0.30,
    "sex": 0.05,
    "phone": 0.08,
    "address": 0.07,
}


def score(a: Features, b: Features) -> Score:
    """How likely ``a`` and ``b`` are the same person (1.0 is certain)."""
    shared = a.identifiers & b.identifiers
    if shared and any(system in a.strong_systems for system, _ in shared):
        return Score(1.0, deterministic=True, parts={"identifier": 1.0})
    conflict = any(
        sa == sb and va != vb and sa in a.strong_systems
        for sa, va in a.identifiers
        for sb, vb in b.identifiers
    )
    parts: dict[str, float] = {}
    family, given = _name_similarity(a, b)
    if family >= 0:
        parts["family"] = family
    if given >= 0:
        parts["given"] = given
    if a.birth and b.birth:
        parts["birth"] = _birth_similarity(a.birth, b.birth)
    if a.sex and b.sex and "unknown" not in (a.sex, b.sex):
        parts["sex"] = 1.0 if a.sex == b.sex else 0.0
    if a.phones and b.phones:
        parts["phone"] = 1.0 if a.phones & b.phones else 0.0
    if a.address and b.address:
        parts["address"] = token_set_ratio(a.address, b.address) / 100.0
        if a.postal and b.postal and a.postal != b.postal:
            parts["address"] *= 0.5
    # Without a name and a birth date there is not enough evidence to call anything certain.
    cap = 0.8 if "family" not in parts or "birth" not in parts else 1.0
    weight = sum(_WEIGHTS[k] for k in parts)
    if weight == 0:
        return Score(0.0, parts=parts)
    total = sum(_WEIGHTS[k] * v for k, v in parts.items()) / weight
    # Strong disagreements pull the score down more than agreements push it up.
    if parts.get("birth") == 0.0:
        total -= 0.25
    if parts.get("sex") == 0.0:
        total -= 0.10
    if conflict:
        total -= 0.30
    return Score(max(0.0, min(total, cap)), parts=parts)
