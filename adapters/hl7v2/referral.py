"""Referrals and orders → ServiceRequest + Task (HL7 v2.5.1 §11.3 REF^I12/I14, §4.4 OMG^O19).

The request is a ServiceRequest (``intent`` order) with a Task (``intent`` order, ``code`` fulfill,
``focus`` the ServiceRequest, ``for`` the patient), the pair the placement workflow runs on. The
ServiceRequest id comes from the sender's own request identifier (RF1-6/RF1-11 for a referral;
placer, filler or placer group number for an order), so a cancel (I14) or status change lands on the
request it is about; only when none is sent does it fall back to MSH-10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.hl7v2 import practitioner
from adapters.hl7v2.context import Context, Resource, hl7_table
from adapters.hl7v2.datatypes import ei_identifier
from adapters.hl7v2.er7 import Segment

TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"

# HL7 table 0283 (referral status) to ServiceRequest.status and Task.status.
REFERRAL_STATUS = {"P": "active", "A": "active", "R": "revoked", "E": "revoked"}
REFERRAL_TASK = {"P": "requested", "A": "accepted", "R": "rejected", "E": "cancelled"}
# HL7 tables 0280 (referral priority) and 0485 (quantity/timing priority) to request-priority.
PRIORITY = {"S": "stat", "A": "asap", "R": "routine", "T": "urgent", "P": "urgent"}
# HL7 table 0119 (order control) and 0038 (order status) to request-status.
ORDER_CONTROL = {
    "NW": "active",
    "OK": "active",
    "RL": "active",
    "RO": "active",
    "RP": "active",
    "SN": "active",
    "XO": "active",
    "XX": "active",
    "CA": "revoked",
    "CR": "revoked",
    "DC": "revoked",
    "DR": "revoked",
    "OC": "revoked",
    "OD": "revoked",
    "HD": "on-hold",
    "OH": "on-hold",
}
ORDER_STATUS = {
    "A": "active",
    "IP": "active",
    "SC": "active",
    "CM": "completed",
    "CA": "revoked",
    "DC": "revoked",
    "RP": "revoked",
    "HD": "on-hold",
    "ER": "entered-in-error",
}
TASK_FOR_REQUEST = {
    "active": "requested",
    "on-hold": "on-hold",
    "revoked": "cancelled",
    "completed": "completed",
    "entered-in-error": "entered-in-error",
}


def _typed(ident: dict[str, Any] | None, code: str) -> dict[str, Any] | None:
    if ident:
        ident["type"] = {"coding": [{"system": hl7_table("0203"), "code": code}]}
    return ident


def _notes(notes: list[Segment]) -> list[dict[str, str]]:
    out = []
    for nte in notes:
        nte.mark(1)
        text = "\n".join(rep.c(1) for rep in nte.reps(3) if rep.c(1))
        if text:
            out.append({"text": text})
    return out


def _task(
    ctx: Context,
    request: Resource,
    request_ref: dict[str, str],
    status: str,
) -> None:
    task: Resource = {
        "resourceType": "Task",
        "id": ctx.id("Task", request["id"]),
        "status": status,
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
        "focus": request_ref,
        "for": request["subject"],
        "authoredOn": request["authoredOn"],
    }
    if "requester" in request:
        task["requester"] = request["requester"]
    if request.get("performer"):
        task["owner"] = request["performer"][0]
    ctx.add(task)


def referral(ctx: Context, patient: dict[str, str], coverages: list[dict[str, str]]) -> None:
    """REF^I12 (request) / I14 (cancel): RF1 status (1), priority (2), type (3), category (5),
    originating and external referral ids (6, 11), effective/expiration/process dates (7-9), reason
    (10, text 14), comment (24); PRD referring (RP) and referred-to (RT) providers; DG1 diagnoses
    as reasons; the closing NTE notes."""
    rf1 = ctx.require("RF1")
    ids: list[dict[str, Any]] = []
    for n, code in ((6, "PLAC"), (11, "FILL")):
        rep = rf1.rep(n)
        ident = _typed(ei_identifier(ctx, rep), code) if rep else None
        if ident:
            ids.append(ident)
    sid = ctx.id("ServiceRequest", ids[0].get("system", ""), ids[0]["value"]) if ids else None
    status_code = rf1.text(1).upper()
    if ctx.event == "I14":
        status, task_status = "revoked", "cancelled"
    else:
        status = REFERRAL_STATUS.get(status_code, "active")
        task_status = REFERRAL_TASK.get(status_code, "requested")
    request: Resource = {
        "resourceType": "ServiceRequest",
        "id": sid or ctx.id("ServiceRequest", "MSH-10", ctx.key),
        "status": status,
        "intent": "order",
    }
    if ids:
        request["identifier"] = ids
    category = ctx.concept(rf1.rep(5), table="0284")
    if category:
        request["category"] = [category]
    code = ctx.concept(rf1.rep(3), table="0281")
    if code:
        request["code"] = code
    _priority(rf1, 2, request)
    request["subject"] = patient
    period = ctx.period(rf1, 7, rf1.text(7), "") or {}
    end = ctx.date_time(rf1, 8)
    if end:
        period["end"] = end
    if period:
        request["occurrencePeriod"] = period
    request["authoredOn"] = ctx.date_time(rf1, 9) or ctx.sent_time()
    _providers(ctx, request)
    reasons = [c for c in (ctx.concept(rf1.rep(10), table="0336"),) if c]
    if rf1.text(14):
        reasons.append({"text": rf1.text(14)})
    reasons += [c for dg1 in ctx.msg.all("DG1") if (c := ctx.concept(dg1.rep(3)))]
    if reasons:
        request["reasonCode"] = reasons
    if coverages:
        request["insurance"] = coverages
    notes = [{"text": rf1.text(24)}] if rf1.text(24) else []
    notes += _notes(_closing_notes(ctx))
    if notes:
        request["note"] = notes
    _task(ctx, request, ctx.add(request), task_status)


def _priority(seg: Segment, n: int, request: Resource, component: int = 1) -> None:
    priority = PRIORITY.get(seg.text(n, component).upper())
    if priority:
        request["priority"] = priority
    else:
        seg.unmark(n)


def _providers(ctx: Context, request: Resource) -> None:
    performers: list[dict[str, Any]] = []
    for prd in ctx.msg.all("PRD"):
        role = prd.text(1).upper()
        if role not in ("RP", "RT"):
            prd.used.clear()
            prd.touched = False
            continue
        ref = practitioner.from_prd(ctx, prd)
        if ref is None:
            continue
        if role == "RP" and "requester" not in request:
            request["requester"] = ref
        elif role == "RT":
            performers.append(ref)
    if performers:
        request["performer"] = performers


def _closing_notes(ctx: Context) -> list[Segment]:
    """NTE segments that annotate the referral itself, not an observation (OBR/OBX) before them.

    Participation (PRT) and contact (CTD) segments between an OBX and its NTE do not change whose
    note it is."""
    notes: list[Segment] = []
    owner = ""
    for seg in ctx.msg.segments:
        if seg.name == "NTE":
            if owner not in ("OBR", "OBX"):
                notes.append(seg)
        elif seg.name not in ("PRT", "CTD"):
            owner = seg.name
    return notes


@dataclass
class OrderGroup:
    """One ORDER group of OMG^O19: its ORC, OBR, timing, notes and diagnoses."""

    orc: Segment
    index: int
    obr: Segment | None = None
    tq1: Segment | None = None
    notes: list[Segment] = field(default_factory=list)
    diagnoses: list[Segment] = field(default_factory=list)


def order_groups(ctx: Context) -> list[OrderGroup]:
    """Split OMG^O19 into its ORDER groups (HL7 v2.5.1 §4.4.6).

    A PID, PV1 or AL1 after an order starts that order's PRIOR_RESULT group, whose ORC/OBR are
    earlier orders and are not requested again; FT1, CTI or BLG close the order group.
    """
    groups: list[OrderGroup] = []
    current: OrderGroup | None = None
    prior = False
    phase = ""
    for seg in ctx.msg.segments:
        name = seg.name
        if current is None and name != "ORC":
            continue
        if name in ("FT1", "CTI", "BLG"):
            prior, phase = False, "closed"
        elif prior:
            continue
        elif name in ("PID", "PD1", "PV1", "PV2", "AL1"):
            prior = True
        elif name == "ORC":
            current = OrderGroup(orc=seg, index=len(groups) + 1)
            groups.append(current)
            phase = "order"
        elif current is None:
            continue
        elif name == "OBR" and current.obr is None and phase == "order":
            current.obr, phase = seg, "detail"
        elif name == "TQ1" and current.tq1 is None and phase == "order":
            current.tq1 = seg
        elif name == "NTE" and phase == "detail":
            current.notes.append(seg)
        elif name == "DG1" and phase == "detail":
            current.diagnoses.append(seg)
        elif name in ("OBX", "SPM", "SAC"):
            phase = "results"
    return groups


def orders(ctx: Context, patient: dict[str, str], coverages: list[dict[str, str]]) -> None:
    """OMG^O19: one ServiceRequest + Task per ORDER group (ORC + OBR)."""
    groups = order_groups(ctx)
    if not groups:
        raise ctx.error("OMG^O19 needs at least one ORC/OBR order", ctx.msg.msh, None)
    for group in groups:
        _order(ctx, group, patient, coverages)


def _order(
    ctx: Context, group: OrderGroup, patient: dict[str, str], coverages: list[dict[str, str]]
) -> None:
    orc, obr = group.orc, group.obr
    if obr is None:
        raise ctx.error("this order group has no OBR segment", orc, None)
    obr.mark(1)
    placer = _typed(_order_id(ctx, orc, 2) or _order_id(ctx, obr, 2), "PLAC")
    filler = _typed(_order_id(ctx, orc, 3) or _order_id(ctx, obr, 3), "FILL")
    pgn = orc.rep(4)
    group_id = _typed(ei_identifier(ctx, pgn.sub(1)) if pgn else None, "PGN")
    ids = [i for i in (placer, filler, group_id) if i]
    named = placer or filler
    if named:
        sid = ctx.id("ServiceRequest", named.get("system", ""), named["value"])
    elif group_id:
        sid = ctx.id("ServiceRequest", group_id.get("system", ""), group_id["value"], obr.text(1))
    else:
        sid = ctx.id("ServiceRequest", "MSH-10", ctx.key, str(group.index))
    status = _order_status(orc)
    request: Resource = {"resourceType": "ServiceRequest", "id": sid}
    if ids:
        request["identifier"] = ids
    request["status"] = status
    request["intent"] = "order"
    code = ctx.concept(obr.rep(4))
    if code:
        request["code"] = code
    if group.tq1 is not None and group.tq1.has(9):
        group.tq1.mark(1)
        _priority(group.tq1, 9, request)
    request["subject"] = patient
    when = ctx.date_time(group.tq1, 7) if group.tq1 is not None else None
    when = when or ctx.date_time(obr, 6)
    if when:
        request["occurrenceDateTime"] = when
    request["authoredOn"] = ctx.date_time(orc, 9) or ctx.sent_time()
    requesters = practitioner.from_field(ctx, orc, 12) or practitioner.from_field(ctx, obr, 16)
    if requesters:
        request["requester"] = requesters[0]
    reasons = [c for dg1 in group.diagnoses if (c := ctx.concept(dg1.rep(3)))]
    reasons += [c for rep in obr.reps(31) if (c := ctx.concept(rep))]
    if reasons:
        request["reasonCode"] = reasons
    if coverages:
        request["insurance"] = coverages
    notes = _notes(group.notes)
    if notes:
        request["note"] = notes
    _task(ctx, request, ctx.add(request), TASK_FOR_REQUEST.get(status, "requested"))


def _order_id(ctx: Context, seg: Segment, n: int) -> dict[str, Any] | None:
    rep = seg.rep(n)
    ident = ei_identifier(ctx, rep) if rep else None
    if ident is None:
        seg.unmark(n)
    return ident


def _order_status(orc: Segment) -> str:
    """ORC-5 (order status, table 0038) when it says; else what ORC-1 (order control) implies."""
    control = ORDER_CONTROL.get(orc.text(1).upper())
    if control is None:
        orc.unmark(1)
    status = ORDER_STATUS.get(orc.text(5).upper())
    if status is None:
        orc.unmark(5)
    return status or control or "active"
