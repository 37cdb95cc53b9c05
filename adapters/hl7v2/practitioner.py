"""Practitioners named in a message: XCN fields (PV1-7/8/9/17, DG1-16, ORC-12, OBR-16) and PRD segments.

HL7 v2.5.1 §2.A.90 (XCN) and §11.6.3 (PRD). A practitioner without an identifier gets no resource of
their own (two people may share a name); the reference then carries their name as display only.
"""

from __future__ import annotations

from typing import Any

from adapters.hl7v2.context import Context
from adapters.hl7v2.datatypes import (
    address,
    display_name,
    human_name,
    identifier_type,
    telecom,
    xcn_name,
)
from adapters.hl7v2.er7 import Rep, Segment


def from_xcn(ctx: Context, rep: Rep) -> dict[str, Any] | None:
    """XCN: id, family, given, second given, suffix, prefix, degree, source table, assigning
    authority (HD), …, identifier type (XCN.13) → a Practitioner (id from authority + id number)
    and a reference to it."""
    name = xcn_name(rep)
    number = rep.c(1)
    if not number:
        return {"display": display_name(name)} if name else None
    system = ctx.hd_system(rep.sub(9))
    pid = ctx.id("Practitioner", system or "", number)
    ident: dict[str, Any] = {}
    if rep.c(13):
        ident["type"] = identifier_type(rep.c(13))
    if system:
        ident["system"] = system
    ident["value"] = number
    resource: dict[str, Any] = {"resourceType": "Practitioner", "id": pid, "identifier": [ident]}
    if name:
        resource["name"] = [name]
    ref = ctx.add(resource)
    if name:
        ref["display"] = display_name(name)
    return ref


def from_field(ctx: Context, seg: Segment, n: int) -> list[dict[str, Any]]:
    """Every repetition of an XCN field, as references (one Practitioner each)."""
    refs = [ref for rep in seg.reps(n) if (ref := from_xcn(ctx, rep))]
    if not refs:
        seg.unmark(n)
    return refs


def from_prd(ctx: Context, prd: Segment) -> dict[str, Any] | None:
    """PRD (HL7 v2.5.1 §11.6.3): role, name (XPN), address, location, communication, preferred
    contact, provider identifiers (PLN: id, type, state, expiry) → a Practitioner and a reference."""
    name_rep = prd.rep(2)
    name = human_name(ctx, prd, 2, name_rep) if name_rep else None
    pln = prd.rep(7)
    if pln is None or not pln.c(1):
        return {"display": display_name(name)} if name else None
    kind = ":".join(p for p in (pln.c(2), pln.c(3)) if p) or "provider-id"
    system = ctx.authority(kind)
    pid = ctx.id("Practitioner", system or "", pln.c(1))
    ident: dict[str, Any] = {"system": system, "value": pln.c(1)}
    if pln.c(2):
        ident["type"] = {"text": pln.c(2)}
    expires = ctx.date_time(prd, 7, pln.c(4))
    if expires:
        ident["period"] = {"end": expires}
    resource: dict[str, Any] = {"resourceType": "Practitioner", "id": pid, "identifier": [ident]}
    if name:
        resource["name"] = [name]
    addresses = [a for rep in prd.reps(3) if (a := address(ctx, prd, 3, rep))]
    if addresses:
        resource["address"] = addresses
    points = [t for rep in prd.reps(5) if (t := telecom(ctx, prd, 5, rep, "work"))]
    if points:
        resource["telecom"] = points
    ref = ctx.add(resource)
    if name:
        ref["display"] = display_name(name)
    return ref
