"""DG1 → Condition, AL1 → AllergyIntolerance, IN1 → Coverage (HL7 v2.5.1 §6.5.2 DG1, §3.4.6 AL1,
§6.5.6 IN1).

Ids are stable across messages about the same patient: a diagnosis by its DG1-20 identifier, else by
patient, visit, code and diagnosis type; an allergy by patient and allergen; a coverage by patient,
plan and member id. A second segment that would land on the same id in one message is told apart by
its set id (a transaction may not write one resource twice).
"""

from __future__ import annotations

import re
from typing import Any

from adapters.hl7v2 import practitioner
from adapters.hl7v2.context import Context, Resource
from adapters.hl7v2.datatypes import cx_identifier, ei_identifier
from adapters.hl7v2.er7 import Segment

CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"

# HL7 table 0052 (diagnosis type) to condition-ver-status.
DIAGNOSIS_TYPE = {"A": "provisional", "W": "provisional", "F": "confirmed"}
# HL7 table 0127 (allergen type) to allergy-intolerance-category.
ALLERGEN_TYPE = {
    "DA": "medication",
    "FA": "food",
    "EA": "environment",
    "AA": "environment",
    "PA": "environment",
    "LA": "environment",
}
# HL7 table 0128 (allergy severity) to reaction-event-severity.
ALLERGY_SEVERITY = {"SV": "severe", "MO": "moderate", "MI": "mild"}
# HL7 table 0063 (relationship) to subscriber-relationship.
RELATIONSHIP = {
    "SEL": "self",
    "SPO": "spouse",
    "DOM": "common",
    "CHD": "child",
    "NCH": "child",
    "SCH": "child",
    "FCH": "child",
    "PAR": "parent",
    "MTH": "parent",
    "FTH": "parent",
}
RELATIONSHIP_OTHER = frozenset(
    [
        "GCH",
        "DEP",
        "WRD",
        "CGV",
        "GRD",
        "GRP",
        "EXF",
        "SIB",
        "BRO",
        "SIS",
        "FND",
        "OAD",
        "EME",
        "EMR",
        "ASC",
        "EMC",
        "OWN",
        "TRA",
        "MGR",
        "OTH",
    ]
)


def _unique(ctx: Context, rtype: str, rid: str, seg: Segment) -> str:
    if ctx.has(rtype, rid):
        return ctx.id(rtype, rid, seg.text(1) or str(seg.occurrence))
    return rid


def condition(
    ctx: Context,
    dg1: Segment,
    patient: dict[str, str],
    encounter: dict[str, str] | None,
) -> None:
    """DG1 → Condition: code (DG1-3, text DG1-4), onset (DG1-5), diagnosis type (DG1-6) as
    verification status, clinician (DG1-16), attestation time (DG1-19), identifier (DG1-20), and
    action code D (DG1-21) as entered-in-error."""
    code = ctx.concept(dg1.rep(3))
    text = dg1.text(4)
    if text:
        code = {**(code or {}), "text": text}
    if not code:
        dg1.touched = False
        dg1.used.clear()
        return
    dg1.mark(1, 2)
    rep = dg1.rep(20)
    ident = ei_identifier(ctx, rep) if rep else None
    kind = dg1.text(6).upper()
    if ident:
        cid = ctx.id("Condition", ident.get("system", ""), ident["value"])
    else:
        visit = encounter["reference"] if encounter else ""
        cid = ctx.id("Condition", patient["reference"], visit, *ctx.code_key(code), kind)
    resource: Resource = {"resourceType": "Condition", "id": _unique(ctx, "Condition", cid, dg1)}
    if ident:
        resource["identifier"] = [ident]
    status = "entered-in-error" if dg1.text(21).upper() == "D" else DIAGNOSIS_TYPE.get(kind)
    if status:
        coding = {"system": CONDITION_VERIFICATION, "code": status}
        resource["verificationStatus"] = {"coding": [coding]}
    category = {"system": CONDITION_CATEGORY, "code": "encounter-diagnosis"}
    resource["category"] = [{"coding": [category]}]
    resource["code"] = code
    resource["subject"] = patient
    if encounter:
        resource["encounter"] = encounter
    onset = ctx.date_time(dg1, 5)
    if onset:
        resource["onsetDateTime"] = onset
    recorded = ctx.date_time(dg1, 19)
    if recorded:
        resource["recordedDate"] = recorded
    asserters = practitioner.from_field(ctx, dg1, 16)
    if asserters:
        resource["asserter"] = asserters[0]
    ctx.add(resource)


def allergy(ctx: Context, al1: Segment, patient: dict[str, str]) -> None:
    """AL1 → AllergyIntolerance: allergen type (AL1-2) as category, allergen (AL1-3), severity
    (AL1-4) and reaction (AL1-5), identification date (AL1-6) as onset."""
    code = ctx.concept(al1.rep(3))
    if not code:
        al1.used.clear()
        al1.touched = False
        return
    al1.mark(1)
    aid = ctx.id("AllergyIntolerance", patient["reference"], *ctx.code_key(code))
    resource: Resource = {
        "resourceType": "AllergyIntolerance",
        "id": _unique(ctx, "AllergyIntolerance", aid, al1),
        "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
    }
    category = ALLERGEN_TYPE.get(al1.text(2).upper())
    if category:
        resource["category"] = [category]
    else:
        al1.unmark(2)
    resource["code"] = code
    resource["patient"] = patient
    onset = ctx.date_time(al1, 6)
    if onset:
        resource["onsetDateTime"] = onset
    reactions = [rep.c(1) for rep in al1.reps(5) if rep.c(1)]
    if reactions:
        reaction: dict[str, Any] = {"manifestation": [{"text": r} for r in reactions]}
        severity = ALLERGY_SEVERITY.get(al1.text(4).upper())
        if severity:
            reaction["severity"] = severity
        else:
            al1.unmark(4)
        resource["reaction"] = [reaction]
    ctx.add(resource)


def coverage(ctx: Context, in1: Segment, patient: dict[str, str]) -> dict[str, str] | None:
    """IN1 → Coverage: plan (IN1-2), insurer id and name (IN1-3/4) as payor, group (IN1-8/9),
    period (IN1-12/13), plan type (IN1-15), relationship (IN1-17), priority (IN1-22), policy number
    (IN1-36, else insured's id IN1-49) as subscriberId. An IN1 naming no insurer makes no Coverage."""
    payor = _payor(ctx, in1)
    if payor is None:
        in1.used.clear()
        in1.touched = False
        return None
    in1.mark(1)
    plan = in1.rep(2)
    member = in1.text(36)
    if not member:
        in1.unmark(36)
        member = in1.text(49)
    plan_code = plan.c(1) if plan else ""
    cid = ctx.id("Coverage", patient["reference"], plan_code, member)
    resource: Resource = {
        "resourceType": "Coverage",
        "id": _unique(ctx, "Coverage", cid, in1),
        "status": "active",
    }
    kind = ctx.concept(in1.rep(15))
    if kind:
        resource["type"] = kind
    if member:
        resource["subscriberId"] = member
    resource["beneficiary"] = patient
    relation = _relationship(in1)
    if relation:
        resource["relationship"] = relation
    period = ctx.period(in1, 12, in1.text(12), "") or {}
    end = ctx.date_time(in1, 13)
    if end:
        period["end"] = end
    if period:
        resource["period"] = period
    resource["payor"] = [payor]
    classes = _classes(in1)
    if classes:
        resource["class"] = classes
    order = in1.text(22)
    if re.fullmatch(r"[1-9][0-9]{0,2}", order):
        resource["order"] = int(order)
    else:
        in1.unmark(22)
    return ctx.add(resource)


def _payor(ctx: Context, in1: Segment) -> dict[str, Any] | None:
    company = in1.rep(3)
    ident = cx_identifier(ctx, in1, 3, company) if company else None
    name = in1.text(4)
    if not ident and not name:
        return None
    payor: dict[str, Any] = {}
    if ident:
        payor["identifier"] = ident
    if name:
        payor["display"] = name
    return payor


def _relationship(in1: Segment) -> dict[str, Any] | None:
    code = in1.text(17).upper()
    target = RELATIONSHIP.get(code) or ("other" if code in RELATIONSHIP_OTHER else None)
    if target is None:
        in1.unmark(17)
        return None
    return {"coding": [{"system": SUBSCRIBER_RELATIONSHIP, "code": target}]}


def _classes(in1: Segment) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    plan = in1.rep(2)
    if plan and plan.c(1):
        out.append(_class("plan", plan.c(1), plan.c(2)))
    group = in1.text(8)
    if group:
        out.append(_class("group", group, in1.text(9)))
    else:
        in1.unmark(8)
    return out


def _class(kind: str, value: str, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": {"coding": [{"system": COVERAGE_CLASS, "code": kind}]},
        "value": value,
    }
    if name:
        entry["name"] = name
    return entry
