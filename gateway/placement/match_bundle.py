"""The ``$match`` answer: a ``searchset`` Bundle of HealthcareService entries, best first.

Each entry carries ``search.mode = match``, ``search.score`` and ``search.extension``s (distance,
free beds, census age, stale flag, one ``match-reason`` per ranking line; URLs in ``profiles``). The
stored unit JSON is embedded as it is (``orjson.Fragment``), never re-parsed. Notes on how the request
was read, and with ``explain=true`` one issue per excluded unit, go into an ``OperationOutcome``
entry with ``search.mode = outcome``.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from gateway.fhir.dates import instant_now
from gateway.placement import profiles as p
from gateway.placement.match_snapshot import UnitRecord
from gateway.placement.matching import Hit, MatchRequest, MatchResult

_CRITERION_PATH = {
    "inactive": "HealthcareService.active",
    "bed-type": "HealthcareService.type",
    "level-of-care": "HealthcareService.characteristic",
    "age": f"HealthcareService.extension('{p.AGE_RANGE}')",
    "sex": f"HealthcareService.extension('{p.SEX_ACCEPTED}')",
    "payer": f"HealthcareService.extension('{p.PAYER_ACCEPTED}')",
    "involuntary": f"HealthcareService.extension('{p.ACCEPTS_INVOLUNTARY}')",
    "medical-clearance": f"HealthcareService.extension('{p.REQUIRES_CLEARANCE}')",
    "aggression": f"HealthcareService.extension('{p.ACCEPTS_AGGRESSION}')",
    "security-level": f"HealthcareService.extension('{p.SECURITY_LEVEL}')",
    "medical-acuity": f"HealthcareService.extension('{p.MEDICAL_ACUITY}')",
    "specialty": f"HealthcareService.extension('{p.SPECIALTY}')",
    "language": "HealthcareService.communication",
    "no-location": "HealthcareService.location",
    "distance": "HealthcareService.location",
    "hold-expiry": "HealthcareService.location",
    "no-free-beds": f"HealthcareService.extension('{p.CENSUS}')",
    "census-unreported": f"HealthcareService.extension('{p.CENSUS}')",
}


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code}


def _search(hit: Hit) -> dict[str, Any]:
    ext: list[dict[str, Any]] = []
    if hit.distance_km is not None:
        ext.append(
            {
                "url": p.MATCH_DISTANCE,
                "valueQuantity": _quantity(round(hit.distance_km, 1), "km", "km"),
            }
        )
    if hit.free is not None:
        ext.append({"url": p.MATCH_FREE_BEDS, "valueUnsignedInt": hit.free})
    if hit.census_age is not None:
        minutes = round(hit.census_age / 60.0, 1)
        ext.append({"url": p.MATCH_CENSUS_AGE, "valueQuantity": _quantity(minutes, "min", "min")})
    ext.append({"url": p.MATCH_CENSUS_STALE, "valueBoolean": hit.stale})
    ext += [{"url": p.MATCH_REASON, "valueString": line} for line in hit.reasons]
    return {"extension": ext, "mode": "match", "score": round(hit.score, 4)}


_ISSUE_PARTS: dict[tuple[str, ...], tuple[list[dict[str, str]], str, list[str]]] = {}


def _parts(codes: tuple[str, ...]) -> tuple[list[dict[str, str]], str, list[str]]:
    """(codings, text, expressions) of one combination of failed criteria, built once."""
    found = _ISSUE_PARTS.get(codes)
    if found is None:
        codings = [
            {"system": p.MATCH_CRITERION_SYSTEM, "code": c, "display": p.CRITERIA[c]} for c in codes
        ]
        text = "; ".join(p.CRITERIA[c] for c in codes)
        found = _ISSUE_PARTS.setdefault(codes, (codings, text, [_CRITERION_PATH[c] for c in codes]))
    return found


def exclusion_issue(rec: UnitRecord, codes: tuple[str, ...]) -> dict[str, Any]:
    """One OperationOutcome issue naming an excluded unit and every criterion it failed."""
    codings, text, expressions = _parts(codes)
    ref = f"HealthcareService/{rec.unit_id}"
    name = f"{ref} ({rec.facility})" if rec.facility else ref
    return {
        "severity": "information",
        "code": "informational",
        "details": {"coding": codings, "text": ref},
        "diagnostics": f"{name} excluded: {text}",
        "expression": expressions,
    }


def match_bundle(base: str, req: MatchRequest, result: MatchResult) -> bytes:
    """The searchset Bundle (bytes) for one match."""
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base}/HealthcareService/{hit.record.unit_id}",
            "resource": orjson.Fragment(hit.record.content),
            "search": _search(hit),
        }
        for hit in result.hits
    ]
    issues: list[dict[str, Any]] = [
        {"severity": "information", "code": "informational", "diagnostics": note}
        for note in req.notes
    ]
    if req.explain:
        issues += [exclusion_issue(rec, codes) for rec, codes in result.excluded]
    if issues:
        entries.append(
            {
                "resource": {"resourceType": "OperationOutcome", "issue": issues},
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": instant_now()[0]},
        "type": "searchset",
        "total": result.total,
        "link": [{"relation": "self", "url": f"{base}/ServiceRequest/$match"}],
    }
    if entries:
        bundle["entry"] = entries
    return orjson.dumps(bundle)
