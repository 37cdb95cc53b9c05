"""What a facility may see of a request before it accepts: the minimum necessary.

Until its child Task is accepted, a facility receives the child Task and a **reduced ServiceRequest**:
level of care, priority, the patient's age and sex, the payer, diagnosis *categories* (ICD-10-CM
blocks, never the codes), the requester's risk summary and the involuntary-hold deadline. No name, no
identifiers, no references to the patient's records. The reduction is one replaceable function
(:data:`Reducer`, default :func:`reduce_service_request`); the policies engine can take its place
later (``PlacementContext.reduce``).

HIPAA 164.502(b) (minimum necessary); a request labelled 42 CFR Part 2 (or SUD) never shows the
substance-use category.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import orjson

from gateway.fhir.errors import FhirError
from gateway.fhir.service import ResourceService
from gateway.placement.workflow_codes import (
    CARE_SYSTEMS,
    HOLD_EXPIRES_EXT,
    RISK_SUMMARY_EXT,
    level_of_care,
    ref_id,
)

Resource = dict[str, Any]
# (ServiceRequest, its Patient, its Coverages, now) → what a facility may see before accepting.
Reducer = Callable[[Resource, Resource | None, list[Resource], float], Resource]

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CATEGORY_SYSTEM = "urn:crisis-exchange:diagnosis-category"
AGE_EXT = "urn:crisis-exchange:extension:age"
OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
_PART2_CODES = {"42CFRPart2", "SUD", "ETH"}

# ICD-10-CM chapter 5 blocks (and the symptom block crisis referrals often carry).
BLOCKS: tuple[tuple[str, str, str], ...] = (
    ("F01", "F09", "Mental disorders due to known physiological conditions"),
    ("F10", "F19", "Mental and behavioral disorders due to psychoactive substance use"),
    (
        "F20",
        "F29",
        "Schizophrenia, schizotypal, delusional, and other non-mood psychotic disorders",
    ),
    ("F30", "F39", "Mood [affective] disorders"),
    ("F40", "F48", "Anxiety, dissociative, stress-related, somatoform and other nonpsychotic"),
    ("F50", "F59", "Behavioral syndromes associated with physiological disturbances"),
    ("F60", "F69", "Disorders of adult personality and behavior"),
    ("F70", "F79", "Intellectual disabilities"),
    ("F80", "F89", "Pervasive and specific developmental disorders"),
    ("F90", "F98", "Behavioral and emotional disorders with onset in childhood and adolescence"),
    ("F99", "F99", "Unspecified mental disorder"),
    ("R40", "R46", "Symptoms involving cognition, perception, emotional state and behavior"),
)


def age_on(birth_date: str | None, now: float) -> int | None:
    """Whole years from a FHIR ``birthDate`` (year, year-month or full date) to ``now``."""
    if not birth_date:
        return None
    parts = [int(p) for p in birth_date.split("-")[:3]]
    born = date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    today = datetime.fromtimestamp(now, UTC).date()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def age_band(age: int | None) -> str | None:
    if age is None:
        return None
    for upper, band in ((11, "0-11"), (17, "12-17"), (24, "18-24"), (44, "25-44"), (64, "45-64")):
        if age <= upper:
            return band
    return "65+"


def diagnosis_category(code: str) -> tuple[str, str] | None:
    """The ICD-10-CM block of ``code`` (e.g. ``F20.9`` → ``F20-F29``), None outside the table."""
    head = code.strip().upper()[:3]
    for low, high, display in BLOCKS:
        if low <= head <= high:
            return f"{low}-{high}", display
    return None


def _is_part2(service_request: Resource) -> bool:
    labels = (service_request.get("meta") or {}).get("security") or []
    return any(isinstance(label, dict) and label.get("code") in _PART2_CODES for label in labels)


def _categories(service_request: Resource) -> list[Resource]:
    seen: dict[str, str] = {}
    for concept in service_request.get("reasonCode") or []:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("system") == ICD10CM and coding.get("code"):
                found = diagnosis_category(str(coding["code"]))
                if found is not None:
                    seen.setdefault(*found)
    if _is_part2(service_request):
        seen.pop("F10-F19", None)
    return [
        {"coding": [{"system": CATEGORY_SYSTEM, "code": code, "display": display}], "text": display}
        for code, display in sorted(seen.items())
    ]


def _payer(coverages: list[Resource]) -> str | None:
    for coverage in coverages:
        for payor in coverage.get("payor") or []:
            if isinstance(payor, dict) and payor.get("display"):
                return str(payor["display"])
        text = (coverage.get("type") or {}).get("text")
        if text:
            return str(text)
    return None


def profile_of(
    service_request: Resource, patient: Resource | None, coverages: list[Resource], now: float
) -> dict[str, str | int | None]:
    """Level of care, age, age band, sex and payer: what the matcher and the metrics group by."""
    age = age_on((patient or {}).get("birthDate"), now)
    return {
        "level_of_care": level_of_care(service_request),
        "age": age,
        "age_band": age_band(age),
        "sex": (patient or {}).get("gender"),
        "payer": _payer(coverages),
    }


def reduce_service_request(
    service_request: Resource, patient: Resource | None, coverages: list[Resource], now: float
) -> Resource:
    """The ServiceRequest as a facility sees it before accepting (pure; see module docstring)."""
    profile = profile_of(service_request, patient, coverages, now)
    person: Resource = {"resourceType": "Patient", "id": "patient"}
    if profile["sex"]:
        person["gender"] = profile["sex"]
    if profile["age"] is not None:
        person["extension"] = [
            {
                "url": AGE_EXT,
                "valueAge": {
                    "value": profile["age"],
                    "unit": "a",
                    "system": "http://unitsofmeasure.org",
                    "code": "a",
                },
            }
        ]
    out: Resource = {
        "resourceType": "ServiceRequest",
        "id": service_request["id"],
        "meta": {"security": [{"system": OBSERVATION_VALUE, "code": "REDACTED"}]},
        "contained": [person],
        "status": service_request.get("status", "active"),
        "intent": service_request.get("intent", "order"),
        "subject": {"reference": "#patient"},
    }
    for label in (service_request.get("meta") or {}).get("security") or []:
        if isinstance(label, dict) and label.get("system") == CONFIDENTIALITY:
            out["meta"]["security"].append(label)
    for key in ("priority", "authoredOn", "occurrenceDateTime"):
        if key in service_request:
            out[key] = service_request[key]
    codings = [
        c
        for c in (service_request.get("code") or {}).get("coding") or []
        if c.get("system") in CARE_SYSTEMS
    ]
    if codings:
        out["code"] = {"coding": codings}
    categories = _categories(service_request)
    if categories:
        out["reasonCode"] = categories
    if profile["payer"]:
        out["contained"].append(
            {
                "resourceType": "Coverage",
                "id": "coverage",
                "status": "active",
                "beneficiary": {"reference": "#patient"},
                "payor": [{"display": profile["payer"]}],
            }
        )
        out["insurance"] = [{"reference": "#coverage"}]
    kept = [
        e
        for e in service_request.get("extension") or []
        if isinstance(e, dict) and e.get("url") in (RISK_SUMMARY_EXT, HOLD_EXPIRES_EXT)
    ]
    if kept:
        out["extension"] = kept
    return out


def _read(svc: ResourceService, rtype: str, rid: str | None) -> Resource | None:
    if rid is None:
        return None
    try:
        stored = svc.read(rtype, rid)
    except FhirError:
        return None
    return orjson.loads(stored.content or "{}")


def related(
    svc: ResourceService, service_request: Resource
) -> tuple[Resource | None, list[Resource]]:
    """The Patient and Coverages a ServiceRequest refers to (missing ones are skipped)."""
    patient = _read(svc, "Patient", ref_id(service_request.get("subject"), "Patient"))
    coverages = [
        found
        for item in service_request.get("insurance") or []
        if (found := _read(svc, "Coverage", ref_id(item, "Coverage"))) is not None
    ]
    return patient, coverages
