"""Persons and places of a crisis call: Patient (R4 patient.html) per subject, RelatedPerson
(relatedperson.html) for a complainant or witness related to the subject, Practitioner
(practitioner.html) per officer and embedded clinician, Location (location.html) for the scene and the
transport destination."""

from __future__ import annotations

import re
from typing import Any

from adapters.base import SourceInfo, stable_id
from adapters.police_rms import codes
from adapters.recordkit.fhirbits import (
    V2_0203,
    address,
    agency_system,
    concept,
    meta,
    name,
    ref,
)

Json = dict[str, Any]


def _normal(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def patient_id(source: SourceInfo, incident: str, index: int, person: Json) -> str:
    """A stable Patient id: the RMS person number, else a driver licence, else a state id, else the
    incident and the person's position in it."""
    if person.get("person_id"):
        return stable_id(source.agency, "person", person["person_id"])
    by_type = {i["type"]: i for i in person.get("identifiers", [])}
    for kind, label in (("driver_licence", "dl"), ("state_id", "state-id")):
        if kind in by_type:
            ident = by_type[kind]
            return stable_id(source.agency, label, ident["issuer"], _normal(ident["value"]))
    return stable_id(source.agency, "incident", incident, "person", str(index))


def _identifiers(source: SourceInfo, person: Json) -> list[Json]:
    out: list[Json] = []
    if person.get("person_id"):
        out.append(
            {
                "type": concept(codes.IDENTIFIER_TYPE, "rms-person", text="RMS person number"),
                "system": agency_system(source, "person"),
                "value": person["person_id"],
            }
        )
    for ident in person.get("identifiers", []):
        if ident["type"] == "driver_licence":
            kind = concept(V2_0203, "DL", "Driver's license number")
            system = f"urn:gateway:id:driver-licence:{ident['issuer']}"
        else:
            kind = concept(codes.IDENTIFIER_TYPE, "state-id", text="State identification card")
            system = f"urn:gateway:id:state-id:{ident['issuer']}"
        out.append({"type": kind, "system": system, "value": ident["value"]})
    return out


def patient(source: SourceInfo, incident: str, index: int, person: Json) -> Json:
    """The person in crisis as a Patient: names, birth date, sex, address, phone and identifiers."""
    res: Json = {
        "resourceType": "Patient",
        "id": patient_id(source, incident, index, person),
        "meta": meta(source),
    }
    if idents := _identifiers(source, person):
        res["identifier"] = idents
    if names := name(person.get("name")):
        res["name"] = names
    if person.get("phone"):
        res["telecom"] = [{"system": "phone", "value": person["phone"]}]
    if person.get("sex"):
        res["gender"] = codes.SEX[person["sex"]]
    if person.get("birth_date"):
        res["birthDate"] = person["birth_date"]
    if addr := address(person.get("address")):
        res["address"] = [addr]
    return res


def related_person(
    source: SourceInfo, incident: str, index: int, person: Json, subject: Json
) -> Json:
    """A complainant or witness who is related to the subject, kept only as a contact: name, phone
    and relationship (no birth date, address or identifiers: minimum necessary)."""
    rel = person["relationship_to_subject"]
    relationship: Json = {"text": rel}
    if code := codes.RELATIONSHIPS.get(rel):
        relationship["coding"] = [{"system": codes.ROLE_CODE, "code": code}]
    res: Json = {
        "resourceType": "RelatedPerson",
        "id": stable_id(source.agency, "incident", incident, "person", str(index)),
        "meta": meta(source),
        "patient": ref(subject),
        "relationship": [relationship],
    }
    if names := name(person.get("name")):
        res["name"] = names
    if person.get("phone"):
        res["telecom"] = [{"system": "phone", "value": person["phone"]}]
    return res


def officer(source: SourceInfo, data: Json) -> Json:
    """A responding officer: badge number as identifier, CIT training as a qualification."""
    res: Json = {
        "resourceType": "Practitioner",
        "id": stable_id(source.agency, "badge", data["badge"]),
        "meta": meta(source),
        "identifier": [{"system": agency_system(source, "badge"), "value": data["badge"]}],
    }
    if names := name(data.get("name")):
        res["name"] = names
    if data.get("cit_trained"):
        res["qualification"] = [
            {"code": concept(codes.QUALIFICATION, "cit", "Crisis Intervention Team training")}
        ]
    return res


def clinician(source: SourceInfo, data: Json) -> Json:
    """The clinician embedded with the responding unit (co-responder model)."""
    res: Json = {
        "resourceType": "Practitioner",
        "id": stable_id(source.agency, "clinician", data["id"]),
        "meta": meta(source),
        "identifier": [{"system": agency_system(source, "clinician"), "value": data["id"]}],
    }
    if names := name(data.get("name")):
        res["name"] = names
    if data.get("discipline"):
        res["qualification"] = [{"code": {"text": data["discipline"]}}]
    return res


def scene(source: SourceInfo, incident: str, data: Json) -> Json:
    """Where the call happened: address and/or coordinates (R4 Location.position, WGS84)."""
    res: Json = {
        "resourceType": "Location",
        "id": stable_id(source.agency, "incident", incident, "location"),
        "meta": meta(source),
        "status": "active",
        "mode": "instance",
    }
    if data.get("description"):
        res["description"] = data["description"]
    if addr := address(data.get("address")):
        res["address"] = addr
    if "latitude" in data:
        res["position"] = {"latitude": data["latitude"], "longitude": data["longitude"]}
    return res


_DESTINATION_TYPE = {"emergency_department": ("ER", "Emergency department")}


def destination(source: SourceInfo, data: Json) -> Json:
    """The facility the person was taken to (one Location per facility name at this agency)."""
    res: Json = {
        "resourceType": "Location",
        "id": stable_id(source.agency, "facility", data["name"].strip().lower()),
        "meta": meta(source),
        "status": "active",
        "name": data["name"],
        "mode": "instance",
    }
    label = data["type"].replace("_", " ")
    if data["type"] in _DESTINATION_TYPE:
        code, display = _DESTINATION_TYPE[data["type"]]
        res["type"] = [concept(codes.ROLE_CODE, code, text=display)]
    else:
        res["type"] = [{"text": label}]
    if addr := address(data.get("address")):
        res["address"] = addr
    return res
