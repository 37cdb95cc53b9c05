"""The client and their programs: Patient (R4 patient.html), Practitioner for staff
(practitioner.html), EpisodeOfCare per program enrolment and substance-use treatment episode
(episodeofcare.html) and CareTeam for each case manager (careteam.html)."""

from __future__ import annotations

from adapters.base import SourceInfo, stable_id
from adapters.bha import codes
from adapters.recordkit.fhirbits import (
    V2_0203,
    Json,
    address,
    agency_ref,
    agency_system,
    concept,
    meta,
    name,
    period,
    ref,
)


class Case:
    """One record being converted: the source, the client's Patient, and which episodes are Part 2."""

    def __init__(self, source: SourceInfo, rec: Json) -> None:
        self.source = source
        self.rec = rec
        self.client_id: str = rec["client"]["client_id"]
        self.part2: frozenset[str] = frozenset(
            e["episode_id"] for e in rec.get("substance_use_episodes", []) if e["part2_program"]
        )
        self.staff: dict[str, Json] = {}
        self.patient = patient(source, rec["client"])

    def rid(self, *parts: str) -> str:
        """A stable id for a part of this client's record (agency, client id and ``parts``)."""
        return stable_id(self.source.agency, "client", self.client_id, *parts)

    def practitioner(self, data: Json) -> Json:
        """The staff member's Practitioner (one per staff id in a Bundle, details merged)."""
        pid = stable_id(self.source.agency, "staff", data["staff_id"])
        found = self.staff.get(pid)
        if found is None:
            found = {
                "resourceType": "Practitioner",
                "id": pid,
                "meta": meta(self.source),
                "identifier": [
                    {"system": agency_system(self.source, "staff"), "value": data["staff_id"]}
                ],
            }
            self.staff[pid] = found
        if "name" not in found and (names := name(data.get("name"))):
            found["name"] = names
        if "telecom" not in found and data.get("phone"):
            found["telecom"] = [{"system": "phone", "value": data["phone"]}]
        return found


def patient(source: SourceInfo, client: Json) -> Json:
    """The client: authority client id (``PI``) and Medicaid number (``MA``) as identifiers."""
    idents: list[Json] = [
        {
            "type": concept(V2_0203, "PI", "Patient internal identifier"),
            "system": agency_system(source, "client"),
            "value": client["client_id"],
        }
    ]
    if client.get("medicaid_id"):
        idents.append(
            {
                "type": concept(V2_0203, "MA", "Patient Medicaid number"),
                "system": f"urn:gateway:id:medicaid:{client['medicaid_state']}",
                "value": client["medicaid_id"],
            }
        )
    res: Json = {
        "resourceType": "Patient",
        "id": stable_id(source.agency, "client", client["client_id"]),
        "meta": meta(source),
        "identifier": idents,
    }
    if names := name(client.get("name")):
        res["name"] = names
    if client.get("phone"):
        res["telecom"] = [{"system": "phone", "value": client["phone"]}]
    if client.get("sex"):
        res["gender"] = client["sex"]
    if client.get("birth_date"):
        res["birthDate"] = client["birth_date"]
    if addr := address(client.get("address")):
        res["address"] = [addr]
    return res


def episode(case: Case, data: Json, *, sud: bool, labels: tuple[Json, ...]) -> list[Json]:
    """An EpisodeOfCare for a program enrolment or a substance-use treatment episode (type ``da``),
    plus a CareTeam and the case manager's Practitioner when a case manager is named."""
    key = data["episode_id"] if sud else data["enrolment_id"]
    kind = "sud-episode" if sud else "enrolment"
    if sud:
        kind_code = concept(codes.EPISODE_TYPE, "da", "Drug and alcohol rehabilitation")
        kind_code["text"] = data["program_name"]
    elif data.get("program_code"):
        kind_code = concept(codes.PROGRAM, data["program_code"], text=data["program_name"])
    else:
        kind_code = {"text": data["program_name"]}
    res: Json = {
        "resourceType": "EpisodeOfCare",
        "id": case.rid(kind, key),
        "meta": meta(case.source, security=labels),
        "identifier": [{"system": agency_system(case.source, kind), "value": key}],
        "status": data["status"],
        "type": [kind_code],
        "patient": ref(case.patient),
        "managingOrganization": agency_ref(case.source.agency),
    }
    if when := period(data.get("start"), data.get("end")):
        res["period"] = when
    out = [res]
    manager = data.get("case_manager")
    if manager:
        staff = case.practitioner(manager)
        res["careManager"] = ref(staff)
        team: Json = {
            "resourceType": "CareTeam",
            "id": case.rid("careteam", kind, key),
            "meta": meta(case.source, security=labels),
            "status": codes.EPISODE_TO_CARETEAM[data["status"]],
            "name": f"Case management: {data['program_name']}",
            "subject": ref(case.patient),
            "participant": [
                {
                    "role": [concept(codes.CARE_ROLE, "case-manager", "Case manager")],
                    "member": ref(staff),
                }
            ],
            "managingOrganization": [agency_ref(case.source.agency)],
        }
        if when:
            team["period"] = when
        res["team"] = [ref(team)]
        out.append(team)
    return out


def link_diagnoses(episodes: list[Json], conditions: dict[str, list[Json]]) -> None:
    """Fill ``EpisodeOfCare.diagnosis`` with the Conditions recorded against each episode."""
    for res in episodes:
        if res["resourceType"] != "EpisodeOfCare":
            continue
        key = res["identifier"][0]["value"]
        linked = conditions.get(key, [])
        if linked:
            res["diagnosis"] = [{"condition": ref(c)} for c in linked]
