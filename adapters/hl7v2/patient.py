"""PID → Patient, and MRG → Patient.link for merges (HL7 v2.5.1 §3.4.2 PID, §3.4.9 MRG, §3.3.40/3.3.47).

The Patient's id comes from the first PID-3 identifier that names its assigning authority
(``stable_id(agency, system, value)``); failing that from the first MR (medical record number), then
from the first identifier at all. The same person sent again, in an A08 or any other message,
therefore lands on the same Patient.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.base import stable_id
from adapters.hl7v2.context import Context, Resource
from adapters.hl7v2.datatypes import address, cx_identifier, human_name, telecom
from adapters.hl7v2.er7 import Segment

# HL7 table 0001 (administrative sex) to FHIR administrative-gender.
GENDER = {"M": "male", "F": "female", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}

# HL7 table 0002 (marital status) to v3 MaritalStatus (terminology.hl7.org), where one exists.
MARITAL = {
    "A": "L",
    "B": "U",
    "C": "C",
    "D": "D",
    "E": "L",
    "G": "T",
    "I": "I",
    "M": "M",
    "N": "A",
    "P": "T",
    "R": "T",
    "S": "S",
    "W": "W",
}
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"


def identifiers(ctx: Context, seg: Segment, n: int) -> list[dict[str, Any]]:
    """Every identifier of a CX list field (PID-3, MRG-1), in the order sent."""
    return [i for rep in seg.reps(n) if (i := cx_identifier(ctx, seg, n, rep))]


def patient_id(ctx: Context, seg: Segment, n: int, idents: list[dict[str, Any]]) -> str:
    """The stable Patient id for an identifier list (rule in the module docstring)."""
    for ident in idents:
        if "system" in ident:
            return stable_id(ctx.source.agency, ident["system"], ident["value"])
    for ident in idents:
        if _type_code(ident) == "MR":
            return stable_id(ctx.source.agency, "MR", ident["value"])
    if idents:
        return stable_id(ctx.source.agency, _type_code(idents[0]), idents[0]["value"])
    raise ctx.error(f"{seg.name}-{n} must carry at least one patient identifier", seg, n)


def _type_code(ident: dict[str, Any]) -> str:
    kind = ident.get("type", {})
    if kind.get("coding"):
        return str(kind["coding"][0]["code"])
    return str(kind.get("text", ""))


def patient(ctx: Context, pid: Segment) -> tuple[Resource, dict[str, str]]:
    """PID → Patient: identifiers (PID-3), names (PID-5), birth date (PID-7), sex (PID-8), address
    (PID-11), telecom (PID-13/14, v2.7+ PID-40), marital status (PID-16), multiple birth (PID-24/25),
    death (PID-29/30). Returns the resource and a reference to it."""
    pid.mark(1)
    idents = identifiers(ctx, pid, 3)
    resource: Resource = {"resourceType": "Patient", "id": patient_id(ctx, pid, 3, idents)}
    resource["identifier"] = idents
    names = [nm for rep in pid.reps(5) if (nm := human_name(ctx, pid, 5, rep))]
    if names:
        resource["name"] = names
    points = [t for rep in pid.reps(13) if (t := telecom(ctx, pid, 13, rep, "home"))]
    points += [t for rep in pid.reps(14) if (t := telecom(ctx, pid, 14, rep, "work"))]
    points += [t for rep in pid.reps(40) if (t := telecom(ctx, pid, 40, rep))]
    if points:
        resource["telecom"] = points
    _gender(pid, resource)
    birth = ctx.date(pid, 7)
    if birth:
        resource["birthDate"] = birth
    _deceased(ctx, pid, resource)
    addresses = [a for rep in pid.reps(11) if (a := address(ctx, pid, 11, rep))]
    if addresses:
        resource["address"] = addresses
    marital = pid.rep(16)
    if marital and marital.c(1).upper() in MARITAL:
        coding = {"system": V3_MARITAL, "code": MARITAL[marital.c(1).upper()]}
        resource["maritalStatus"] = {
            "coding": [coding],
            **({"text": marital.c(2)} if marital.c(2) else {}),
        }
    elif marital:
        pid.unmark(16)
    _multiple_birth(pid, resource)
    return resource, ctx.add(resource)


def _gender(pid: Segment, resource: Resource) -> None:
    code = pid.text(8).upper()
    if code in GENDER:
        resource["gender"] = GENDER[code]
    else:
        pid.unmark(8)


def _deceased(ctx: Context, pid: Segment, resource: Resource) -> None:
    when = ctx.date_time(pid, 29)
    flag = pid.text(30).upper()
    if when:
        resource["deceasedDateTime"] = when
    elif flag in ("Y", "N"):
        resource["deceasedBoolean"] = flag == "Y"
    else:
        pid.unmark(30)


def _multiple_birth(pid: Segment, resource: Resource) -> None:
    flag = pid.text(24).upper()
    order = pid.text(25)
    if flag == "Y" and re.fullmatch(r"[1-9][0-9]?", order):
        resource["multipleBirthInteger"] = int(order)
    elif flag in ("Y", "N"):
        resource["multipleBirthBoolean"] = flag == "Y"
        pid.unmark(25)
    else:
        pid.unmark(24)
        pid.unmark(25)


def merge(ctx: Context, pid: Segment, mrg: Segment) -> None:
    """A40 (merge patient) / A47 (change patient identifier list): PID is the surviving patient,
    MRG-1 the identifiers it replaces. The survivor gets ``link`` type ``replaces``; the prior
    Patient (id from MRG-1 by the same rule as PID-3) is written as inactive with ``replaced-by``,
    so references to it can be followed to the survivor."""
    survivor, ref = patient(ctx, pid)
    prior_idents = identifiers(ctx, mrg, 1)
    prior_id = patient_id(ctx, mrg, 1, prior_idents)
    if prior_id == survivor["id"]:
        raise ctx.error("MRG-1 names the same patient as PID-3", mrg, 1)
    survivor.setdefault("link", []).append(
        {"other": {"reference": f"Patient/{prior_id}"}, "type": "replaces"}
    )
    for ident in prior_idents:
        ident["use"] = "old"
    ctx.add(
        {
            "resourceType": "Patient",
            "id": prior_id,
            "identifier": prior_idents,
            "active": False,
            "link": [{"other": ref, "type": "replaced-by"}],
        }
    )
