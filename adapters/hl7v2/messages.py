"""Which messages the adapter takes, and what each becomes (HL7 v2.5.1 ch. 3 ADT, §11.3 REF, §4.4 OMG).

========================  ==============================================================================
ADT A01 A02 A03 A04       Patient, Encounter (+ Location, Practitioner), Condition (DG1),
A08 A11 A13               AllergyIntolerance (AL1), Coverage (IN1)
ADT A28 A31               Patient, Condition, AllergyIntolerance, Coverage (no Encounter)
ADT A40 A47               surviving Patient ``link`` replaces the prior one; prior Patient inactive
REF I12 I14               Patient, ServiceRequest + Task, Practitioner (PRD), Coverage, AllergyIntolerance
OMG O19                   Patient, one ServiceRequest + Task per order, Coverage, AllergyIntolerance
========================  ==============================================================================

Every other message type is refused with :class:`~adapters.base.UnsupportedMessage` naming it.
"""

from __future__ import annotations

from adapters.base import (
    Conversion,
    Location,
    SourceInfo,
    UnsupportedMessage,
    put_entry,
    transaction,
)
from adapters.hl7v2 import clinical, encounter, patient, referral
from adapters.hl7v2.context import Context
from adapters.hl7v2.er7 import Message, Segment
from adapters.hl7v2.provenance import provenance

ENCOUNTER_EVENTS = frozenset({"A01", "A02", "A03", "A04", "A08", "A11", "A13"})
PERSON_EVENTS = frozenset({"A28", "A31"})
MERGE_EVENTS = frozenset({"A40", "A47"})
SUPPORTED = {
    "ADT": ENCOUNTER_EVENTS | PERSON_EVENTS | MERGE_EVENTS,
    "REF": frozenset({"I12", "I14"}),
    "OMG": frozenset({"O19"}),
}


def check_supported(msg: Message, adapter: str) -> None:
    """Refuse a message whose MSH-9 type and trigger event this adapter does not convert."""
    code, event = msg.msh.text(9, 1).upper(), msg.msh.text(9, 2).upper()
    if event not in SUPPORTED.get(code, ()):
        raise UnsupportedMessage(
            f"message type {code}^{event} is not taken by the {adapter} adapter "
            f"(it takes {_listing()})",
            Location(record=msg.key, segment="MSH", field="MSH-9"),
        )


def _listing() -> str:
    return "; ".join(f"{code} {' '.join(sorted(events))}" for code, events in SUPPORTED.items())


def convert(msg: Message, source: SourceInfo, adapter: str, version: str) -> Conversion:
    """One message to one transaction Bundle: the mapped resources, then its Provenance."""
    for seg in msg.segments:
        seg.used.clear()
        seg.touched = False
    check_supported(msg, adapter)
    ctx = Context(msg, source, adapter)
    if ctx.code == "ADT":
        _adt(ctx)
    elif ctx.code == "REF":
        _ref(ctx)
    else:
        _omg(ctx)
    prov = provenance(ctx, version)
    entries = [put_entry(r) for r in ctx.resources.values()]
    entries.append(put_entry(prov))
    items = [e["valueString"] for e in prov.get("extension", [])]
    return Conversion(record_key=msg.key, bundle=transaction(entries), unmapped=items)


def _adt(ctx: Context) -> None:
    ctx.require("PID")
    if ctx.event in MERGE_EVENTS:
        for pid, mrg in _merge_pairs(ctx):
            patient.merge(ctx, pid, mrg)
        return
    _, subject = patient.patient(ctx, ctx.require("PID"))
    visit = None
    if ctx.event in ENCOUNTER_EVENTS:
        visit = encounter.encounter(ctx, ctx.require("PV1"), subject)
    for al1 in ctx.msg.all("AL1"):
        clinical.allergy(ctx, al1, subject)
    for dg1 in ctx.msg.all("DG1"):
        clinical.condition(ctx, dg1, subject, visit)
    for in1 in ctx.msg.all("IN1"):
        clinical.coverage(ctx, in1, subject)


def _merge_pairs(ctx: Context) -> list[tuple[Segment, Segment]]:
    """ADT_A39-style repeating PATIENT groups: each PID followed (after an optional PD1) by its MRG."""
    pairs: list[tuple[Segment, Segment]] = []
    current: Segment | None = None
    for seg in ctx.msg.segments:
        if seg.name == "PID":
            if current is not None:
                raise ctx.error(f"ADT^{ctx.event} needs an MRG segment after each PID", current)
            current = seg
        elif seg.name == "MRG":
            if current is None:
                raise ctx.error("this MRG segment follows no PID", seg)
            pairs.append((current, seg))
            current = None
    if current is not None:
        raise ctx.error(f"ADT^{ctx.event} needs an MRG segment after each PID", current)
    return pairs


def _before_orders(ctx: Context, name: str) -> list[Segment]:
    first_order = next((s.position for s in ctx.msg.segments if s.name == "ORC"), None)
    return [s for s in ctx.msg.all(name) if first_order is None or s.position < first_order]


def _ref(ctx: Context) -> None:
    _, subject = patient.patient(ctx, ctx.require("PID"))
    coverages = [c for in1 in ctx.msg.all("IN1") if (c := clinical.coverage(ctx, in1, subject))]
    for al1 in ctx.msg.all("AL1"):
        clinical.allergy(ctx, al1, subject)
    referral.referral(ctx, subject, coverages)


def _omg(ctx: Context) -> None:
    _, subject = patient.patient(ctx, ctx.require("PID"))
    coverages = [
        c for in1 in _before_orders(ctx, "IN1") if (c := clinical.coverage(ctx, in1, subject))
    ]
    for al1 in _before_orders(ctx, "AL1"):
        clinical.allergy(ctx, al1, subject)
    referral.orders(ctx, subject, coverages)
