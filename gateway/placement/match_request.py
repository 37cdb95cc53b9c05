"""Turn checked ``$match`` parameters (and a ServiceRequest) into a :class:`MatchRequest`.

Needs derived from the reason codes (ICD-10-CM), unless ``deriveSpecialties`` is false:
F50.* → eating-disorder; F53.*, O99.34* → perinatal; F70-F79, F84.* → developmental-disability;
a substance use code (F10-F19) together with another mental disorder (F20-F99) → dual-diagnosis.
Each derived need is added to the request and named in the result's notes.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import InvalidRequest
from gateway.placement import profiles as p
from gateway.placement.directory import language_tag
from gateway.placement.match_params import HOLD_EXPIRES_EXTENSIONS, MAX_COUNT, collect
from gateway.placement.matching import MatchRequest

_BED_SYSTEMS = (p.BED_TYPE_SYSTEM, *p.LEGACY_BED_TYPE_SYSTEMS)


def derived_specialties(codes: list[str]) -> list[tuple[str, str]]:
    """(specialty, the code it came from) for each need the diagnoses imply."""
    out: list[tuple[str, str]] = []
    clean = [c.strip().upper() for c in codes if isinstance(c, str)]

    def add(need: str, code: str) -> None:
        if need not in (n for n, _ in out):
            out.append((need, code))

    substance = [c for c in clean if c[:3] in {f"F1{d}" for d in range(10)}]
    for code in clean:
        head = code[:3]
        if head == "F50":
            add("eating-disorder", code)
        elif head == "F53" or code.replace(".", "").startswith("O9934"):
            add("perinatal", code)
        elif head == "F84" or (head[:2] == "F7" and head[2:].isdigit()):
            add("developmental-disability", code)
        elif substance and head[:1] == "F" and head[1:].isdigit() and int(head[1:]) >= 20:
            add("dual-diagnosis", f"{substance[0]} + {code}")
    return out


def from_service_request(sr: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Fields a ServiceRequest carries: level of care / bed type, reasons, hold expiry."""
    got: dict[str, Any] = {}
    for coding in (sr.get("code") or {}).get("coding") or ():
        if not isinstance(coding, dict):
            continue
        system, code = coding.get("system"), coding.get("code")
        if system in _BED_SYSTEMS and code in p.BED_TYPES:
            got.setdefault("bed_type", code)
        elif system == p.LEVEL_OF_CARE_SYSTEM and code in p.LEVELS_OF_CARE:
            got.setdefault("level_of_care", code)
    reasons = [
        str(c.get("code"))
        for concept in sr.get("reasonCode") or ()
        for c in (concept or {}).get("coding") or ()
        if isinstance(c, dict) and c.get("code")
    ]
    for ext in sr.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") in HOLD_EXPIRES_EXTENSIONS:
            try:
                got["hold_expires"] = date_range(str(ext.get("valueDateTime")))[0]
            except BadDate:
                raise InvalidRequest(
                    "the hold expiry extension needs a valueDateTime",
                    expression="ServiceRequest.extension",
                ) from None
            got["involuntary"] = True
    return got, reasons


def _age(born: str, now: float) -> int:
    birth = date.fromtimestamp(date_range(born)[0])
    today = datetime.fromtimestamp(now, UTC).date()
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def read_request(
    body: dict[str, Any] | None, query: list[tuple[str, str]], now: float | None = None
) -> MatchRequest:
    """Checked parameters → MatchRequest; 400 OperationOutcome (with expression) otherwise."""
    now = time.time() if now is None else now
    values, service_request = collect(body, query)

    def one(name: str, default: Any = None) -> Any:
        found = values.get(name)
        return found[0][0] if found else default

    def where(name: str) -> str:
        return values[name][0][1]

    kw: dict[str, Any] = {}
    reasons: list[str] = []
    if service_request is not None:
        kw, reasons = from_service_request(service_request)
    reasons += [c for v, _ in values.get("reason", []) for c in v if isinstance(c, str)]
    for name, key in (
        ("levelOfCare", "level_of_care"),
        ("bedType", "bed_type"),
        ("sex", "sex"),
        ("payer", "payer"),
        ("involuntary", "involuntary"),
        ("medicalClearance", "medical_clearance"),
        ("recentAggression", "recent_aggression"),
        ("securityLevel", "security_level"),
        ("acuity", "acuity"),
        ("explain", "explain"),
        ("includeUnreported", "include_unreported"),
    ):
        if name in values:
            kw[key] = one(name)
    if "age" in values:
        if not 0 <= one("age") <= 130:
            raise InvalidRequest("age must be between 0 and 130", expression=where("age"))
        kw["age"] = one("age")
    elif "birthDate" in values:
        kw["age"] = _age(one("birthDate"), now)
        if not 0 <= kw["age"] <= 130:
            raise InvalidRequest("birthDate gives an impossible age", expression=where("birthDate"))
    if "language" in values:
        kw["language"] = language_tag(one("language"))
    if "holdExpires" in values:
        kw["hold_expires"] = date_range(one("holdExpires"))[0]
        kw.setdefault("involuntary", True)
    if kw.get("involuntary") and kw.get("hold_expires") is not None and kw["hold_expires"] <= now:
        at = where("holdExpires") if "holdExpires" in values else "serviceRequest"
        raise InvalidRequest("the involuntary hold has already expired", expression=at)
    lat, lon = one("latitude"), one("longitude")
    if (lat is None) != (lon is None):
        missing = "longitude" if lon is None else "latitude"
        raise InvalidRequest("latitude and longitude go together", expression=missing)
    if lat is not None:
        if not -90 <= lat <= 90:
            raise InvalidRequest(
                "latitude must be between -90 and 90", expression=where("latitude")
            )
        if not -180 <= lon <= 180:
            raise InvalidRequest(
                "longitude must be between -180 and 180", expression=where("longitude")
            )
        kw["origin"] = (lat, lon)
    if "maxDistance" in values:
        if lat is None:
            raise InvalidRequest(
                "maxDistance needs an origin (latitude and longitude)", expression="latitude"
            )
        if not one("maxDistance") > 0:
            raise InvalidRequest("maxDistance must be above 0", expression=where("maxDistance"))
        kw["max_distance_km"] = one("maxDistance")
    if "count" in values:
        if not 0 <= one("count") <= MAX_COUNT:
            raise InvalidRequest(
                f"count must be between 0 and {MAX_COUNT}", expression=where("count")
            )
        kw["count"] = one("count")
    specialties = {v for v, _ in values.get("specialty", [])}
    notes = []
    if one("deriveSpecialties", True):
        for need, code in derived_specialties(reasons):
            if need not in specialties:
                specialties.add(need)
                notes.append(f"specialty {need} needed (from reason {code})")
    return MatchRequest(
        reasons=tuple(reasons), specialties=frozenset(specialties), notes=tuple(notes), **kw
    )
