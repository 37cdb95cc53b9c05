"""PV1 (and PV2-3) → Encounter, Location, Practitioner (HL7 v2.5.1 §3.4.3 PV1, §3.4.4 PV2).

The Encounter's id comes from the visit number (PV1-19), so admit, transfer, update and discharge of
one visit are versions of one Encounter; without a visit number it comes from MSH-10. Its status
follows the trigger event (HL7 v2.5.1 §3.3): A01/A02/A13 in-progress, A03 finished, A04 arrived,
A11 cancelled; A08 (update) reads it from the visit itself.
"""

from __future__ import annotations

from typing import Any

from adapters.hl7v2 import practitioner
from adapters.hl7v2.context import Context, Resource, hl7_table
from adapters.hl7v2.datatypes import cx_identifier
from adapters.hl7v2.er7 import Segment

V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"

# HL7 table 0004 (patient class) to v3 ActEncounterCode.
PATIENT_CLASS = {
    "E": ("EMER", "emergency"),
    "I": ("IMP", "inpatient encounter"),
    "B": ("IMP", "inpatient encounter"),
    "O": ("AMB", "ambulatory"),
    "R": ("AMB", "ambulatory"),
    "P": ("PRENC", "pre-admission"),
}
UNKNOWN_CLASS = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
    "code": "UNK",
    "display": "unknown",
}

EVENT_STATUS = {
    "A01": "in-progress",
    "A02": "in-progress",
    "A03": "finished",
    "A04": "arrived",
    "A11": "cancelled",
    "A13": "in-progress",
}

# PV1 fields naming practitioners, and their v3 participation types.
PARTICIPANTS = ((7, "ATND", "attender"), (8, "REF", "referrer"), (9, "CON", "consultant"))
ADMITTER = (17, "ADM", "admitter")


def carries_visit(pv1: Segment) -> bool:
    """Whether PV1 describes a visit. ``PV1||N`` (class "not applicable", nothing else) is the
    placeholder many systems send with patient-only updates; it makes no Encounter."""
    if any(pv1.has(n) for n in (3, 19, 44, 45, 7, 17)):
        return True
    return pv1.text(2).upper() not in ("", "N", "U")


def encounter(ctx: Context, pv1: Segment, patient_ref: dict[str, str]) -> dict[str, str] | None:
    """PV1 → Encounter: class (PV1-2), locations (PV1-3 current, PV1-6 prior), participants (PV1-7/8/9/17),
    hospital service (PV1-10), admit source (PV1-14), visit number (PV1-19), discharge disposition
    (PV1-36), period (PV1-44/45); admit reason from PV2-3."""
    if not carries_visit(pv1):
        pv1.touched = True
        pv1.mark(1, 2)
        return None
    pv1.mark(1)
    visit = pv1.rep(19)
    ident = cx_identifier(ctx, pv1, 19, visit) if visit else None
    if ident:
        ident.setdefault("type", {"coding": [{"system": hl7_table("0203"), "code": "VN"}]})
        eid = ctx.id("Encounter", ident.get("system", ""), ident["value"])
    else:
        eid = ctx.id("Encounter", "MSH-10", ctx.key)
    status = _status(ctx, pv1)
    resource: Resource = {"resourceType": "Encounter", "id": eid}
    if ident:
        resource["identifier"] = [ident]
    resource["status"] = status
    resource["class"] = _class(pv1)
    service = ctx.concept(pv1.rep(10), table="0069")
    if service:
        resource["serviceType"] = service
    resource["subject"] = patient_ref
    people = _participants(ctx, pv1)
    if people:
        resource["participant"] = people
    period = _period(ctx, pv1)
    if period:
        resource["period"] = period
    reasons = _reasons(ctx)
    if reasons:
        resource["reasonCode"] = reasons
    stay = _hospitalization(ctx, pv1)
    if stay:
        resource["hospitalization"] = stay
    places = _locations(ctx, pv1, status)
    if places:
        resource["location"] = places
    return ctx.add(resource)


def _status(ctx: Context, pv1: Segment) -> str:
    if ctx.event in EVENT_STATUS:
        return EVENT_STATUS[ctx.event]
    if pv1.has(45):
        return "finished"
    if pv1.has(44):
        return "in-progress"
    if pv1.text(2).upper() == "P":
        return "planned"
    return "unknown"


def _class(pv1: Segment) -> dict[str, str]:
    code = pv1.text(2).upper()
    if code in PATIENT_CLASS:
        act, display = PATIENT_CLASS[code]
        return {"system": V3_ACT, "code": act, "display": display}
    pv1.unmark(2)
    return dict(UNKNOWN_CLASS)


def _participants(ctx: Context, pv1: Segment) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, code, display in (*PARTICIPANTS, ADMITTER):
        for ref in practitioner.from_field(ctx, pv1, n):
            role = {"coding": [{"system": V3_PARTICIPATION, "code": code, "display": display}]}
            out.append({"type": [role], "individual": ref})
    return out


def _period(ctx: Context, pv1: Segment) -> dict[str, str] | None:
    start = ctx.date_time(pv1, 44)
    # A13 cancels the discharge: whatever PV1-45 still says, the visit has not ended.
    end = None if ctx.event == "A13" else ctx.date_time(pv1, 45)
    if ctx.event == "A13":
        pv1.mark(45)
    out = {k: v for k, v in (("start", start), ("end", end)) if v}
    return out or None


def _reasons(ctx: Context) -> list[dict[str, Any]]:
    pv2 = ctx.msg.first("PV2")
    if pv2 is None:
        return []
    reason = ctx.concept(pv2.rep(3))
    return [reason] if reason else []


def _hospitalization(ctx: Context, pv1: Segment) -> dict[str, Any]:
    stay: dict[str, Any] = {}
    pre = pv1.rep(5)
    pre_ident = cx_identifier(ctx, pv1, 5, pre) if pre else None
    if pre_ident:
        stay["preAdmissionIdentifier"] = pre_ident
    source = ctx.concept(pv1.rep(14), table="0023")
    if source:
        stay["admitSource"] = source
    disposition = ctx.concept(pv1.rep(36), table="0112")
    if disposition:
        stay["dischargeDisposition"] = disposition
    return stay


def _locations(ctx: Context, pv1: Segment, status: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    current = location(ctx, pv1, 3)
    if current:
        state = "completed" if status in ("finished", "cancelled") else "active"
        out.append({"location": current, "status": state})
    prior = location(ctx, pv1, 6)
    if prior and prior != current:
        out.append({"location": prior, "status": "completed"})
    return out


def location(ctx: Context, seg: Segment, n: int) -> dict[str, str] | None:
    """PL (HL7 v2.5.1 §2.A.53): point of care, room, bed, facility, status, person location type,
    building, floor, description, comprehensive id → a Location (id from facility/ward/room/bed)."""
    rep = seg.rep(n)
    if rep is None:
        return None
    facility, poc, room, bed = rep.c(4), rep.c(1), rep.c(2), rep.c(3)
    if not (facility or poc or room or bed):
        seg.unmark(n)
        return None
    resource: Resource = {
        "resourceType": "Location",
        "id": ctx.id("Location", facility, poc, room, bed),
        "status": "active",
        "name": " / ".join(p for p in (facility, poc, room, bed) if p),
        "mode": "instance",
    }
    where = rep.c(9) or ", ".join(
        f"{label} {value}"
        for label, value in (("building", rep.c(7)), ("floor", rep.c(8)))
        if value
    )
    if where:
        resource["description"] = where
    kind = "bd" if bed else "ro" if room else "wa" if poc else "si"
    resource["physicalType"] = {"coding": [{"system": PHYSICAL_TYPE, "code": kind}]}
    return ctx.add(resource)
