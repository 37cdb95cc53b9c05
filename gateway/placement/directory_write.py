"""Writing a unit's placement extensions: criteria merge patches, census and cadence, checks.

:func:`apply_criteria` is what ``PATCH /placement/units/{id}/criteria`` applies; :func:`check_unit`
lists the problems the FHIR write path may refuse a HealthcareService for (400).
"""

from __future__ import annotations

from typing import Any

from gateway.fhir.errors import Issue
from gateway.placement import profiles as p
from gateway.placement.directory import (
    Resource,
    concept_codes,
    parse_census,
    parse_duration,
)

CRITERIA_URLS = (
    p.AGE_RANGE,
    p.SEX_ACCEPTED,
    p.PAYER_ACCEPTED,
    p.ACCEPTS_INVOLUNTARY,
    p.SECURITY_LEVEL,
    p.MEDICAL_ACUITY,
    p.ACCEPTS_AGGRESSION,
    p.REQUIRES_CLEARANCE,
    p.SPECIALTY,
    p.CENSUS_CADENCE,
)


def age_extension(low: int | None, high: int | None) -> dict[str, Any]:
    """The age-range extension; an open range is written as 0 and up (FHIR has no empty Range)."""
    if low is None and high is None:
        low = 0
    rng: dict[str, Any] = {}
    for key, value in (("low", low), ("high", high)):
        if value is not None:
            rng[key] = {
                "value": value,
                "unit": "a",
                "system": "http://unitsofmeasure.org",
                "code": "a",
            }
    return {"url": p.AGE_RANGE, "valueRange": rng}


def cadence_extension(seconds: float) -> dict[str, Any]:
    minutes = round(seconds / 60)
    if minutes % 60 == 0:
        return {"url": p.CENSUS_CADENCE, "valueDuration": _duration(minutes // 60, "h", "hours")}
    return {"url": p.CENSUS_CADENCE, "valueDuration": _duration(minutes, "min", "minutes")}


def _duration(value: int, code: str, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code}


def replace_extensions(doc: Resource, urls: set[str], new: list[dict[str, Any]]) -> Resource:
    """A copy of ``doc`` whose extensions with ``urls`` are replaced by ``new`` (others kept)."""
    kept = [
        e for e in doc.get("extension") or () if not (isinstance(e, dict) and e.get("url") in urls)
    ]
    out = {k: v for k, v in doc.items() if k != "extension"}
    if kept or new:
        out["extension"] = kept + new
    return out


def apply_criteria(doc: Resource, changes: dict[str, Any]) -> Resource:
    """Merge-patch criteria into a HealthcareService: keys present replace, ``None`` clears.

    Keys (as in ``PATCH /placement/units/{id}/criteria``): ageRange {low, high}, sexes, payers,
    acceptsInvoluntary, securityLevel, medicalAcuity, acceptsAggression, requiresMedicalClearance,
    specialties, languages, levelsOfCare, cadenceMinutes. Values are already checked.
    """
    out = dict(doc)
    simple: dict[str, tuple[str, str]] = {
        "acceptsInvoluntary": (p.ACCEPTS_INVOLUNTARY, "valueBoolean"),
        "acceptsAggression": (p.ACCEPTS_AGGRESSION, "valueBoolean"),
        "requiresMedicalClearance": (p.REQUIRES_CLEARANCE, "valueBoolean"),
        "securityLevel": (p.SECURITY_LEVEL, "valueCode"),
        "medicalAcuity": (p.MEDICAL_ACUITY, "valueCode"),
    }
    for key, (url, vkey) in simple.items():
        if key in changes:
            value = changes[key]
            out = replace_extensions(
                out, {url}, [] if value is None else [{"url": url, vkey: value}]
            )
    for key, url in (
        ("sexes", p.SEX_ACCEPTED),
        ("payers", p.PAYER_ACCEPTED),
        ("specialties", p.SPECIALTY),
    ):
        if key in changes:
            codes = changes[key]
            new = (
                []
                if codes is None
                else [{"url": url, "valueCode": c} for c in dict.fromkeys(codes)]
            )
            out = replace_extensions(out, {url}, new)
    if "ageRange" in changes:
        rng = changes["ageRange"]
        new = [] if rng is None else [age_extension(rng.get("low"), rng.get("high"))]
        out = replace_extensions(out, {p.AGE_RANGE}, new)
    if "cadenceMinutes" in changes:
        minutes = changes["cadenceMinutes"]
        new = [] if minutes is None else [cadence_extension(minutes * 60.0)]
        out = replace_extensions(out, {p.CENSUS_CADENCE}, new)
    if "languages" in changes:
        langs = changes["languages"] or []
        comm = [
            {"coding": [{"system": p.LANGUAGE_SYSTEM, "code": code}], "text": code}
            for code in dict.fromkeys(langs)
        ]
        out.pop("communication", None)
        if comm:
            out["communication"] = comm
    if "levelsOfCare" in changes:
        levels = changes["levelsOfCare"] or []
        others = [
            c
            for c in out.get("characteristic") or ()
            if not concept_codes([c], (p.LEVEL_OF_CARE_SYSTEM,))
        ]
        new_chars = others + [
            {
                "coding": [
                    {"system": p.LEVEL_OF_CARE_SYSTEM, "code": c, "display": p.LEVELS_OF_CARE[c]}
                ],
                "text": p.LEVELS_OF_CARE[c],
            }
            for c in dict.fromkeys(levels)
        ]
        out.pop("characteristic", None)
        if new_chars:
            out["characteristic"] = new_chars
    return out


def check_unit(doc: Resource) -> list[Issue]:
    """Problems with the placement extensions of a HealthcareService (empty list: fine).

    The FHIR write path may call this before storing a HealthcareService to refuse, with 400, codes
    outside our code systems or a census that ``$match`` could not read.
    """
    issues: list[Issue] = []
    coded = {
        p.SEX_ACCEPTED: p.SEXES,
        p.PAYER_ACCEPTED: p.PAYERS,
        p.SECURITY_LEVEL: p.SECURITY_LEVELS,
        p.MEDICAL_ACUITY: p.ACUITY_LEVELS,
        p.SPECIALTY: p.SPECIALTIES,
    }
    for i, ext in enumerate(doc.get("extension") or ()):
        if not isinstance(ext, dict):
            continue
        url, where = ext.get("url"), f"HealthcareService.extension[{i}]"
        if url in coded and ext.get("valueCode") not in coded[url]:
            allowed = ", ".join(coded[url])
            issues.append(
                Issue(f"{url.rsplit('/', 1)[1]} takes one of: {allowed}", expression=(where,))
            )
        elif url == p.CENSUS and parse_census(ext) is None:
            issues.append(
                Issue("placement-census needs freeBeds (valueUnsignedInt)", expression=(where,))
            )
        elif url == p.CENSUS_CADENCE and parse_duration(ext.get("valueDuration")) is None:
            issues.append(
                Issue(
                    "placement-census-cadence takes a positive Duration in s, min, h, d or wk",
                    expression=(where,),
                )
            )
        elif url == p.AGE_RANGE:
            rng = ext.get("valueRange") or {}
            low, high = (rng.get("low") or {}).get("value"), (rng.get("high") or {}).get("value")
            if low is not None and high is not None and low > high:
                issues.append(Issue("placement-age-range: low is above high", expression=(where,)))
    return issues
