"""The leakage matrix's second data set and caller list: a resource of every data class about a
patient (with a placement addressed to a facility), one such patient per consent scenario in one
store (:class:`Population`), and every role with every purpose of use."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gateway.auth.roles import DEFAULT_PURPOSE, PURPOSES, ROLES
from gateway.fhir.service import ResourceService
from gateway.sharing.profile import agency_uri
from policies.labelling import label
from tests.sharing.leakage import (
    CONSENTS,
    CRISIS_TEAM,
    HOSPITAL,
    RELATIONS,
    Caller,
    Oracle,
    about_patient,
    add_consent,
    code,
    seed,
)

POLICE = "demo-amarillo-pd"
BHA = "demo-tpc"
# a facility of the demo partnership (policies/agreements/example.toml)
FACILITY = "hifld-0079979106"
# With seed_every_class: the crisis team also asked the facility to take the patient (a placement
# ServiceRequest and a Task it wrote, owned by the facility, not yet accepted).
EVERY_CLASS_RELATIONS = {
    **RELATIONS,
    CRISIS_TEAM: frozenset({"encounter", "placement"}),
    FACILITY: frozenset({"placement"}),
}
# (addressed to the agency's facility, accepted by it, requested by the agency)
EVERY_CLASS_PLACEMENTS = {FACILITY: (True, False, False), CRISIS_TEAM: (False, False, True)}
# The agency each role works for in the role x purpose matrix.
ROLE_AGENCY = {
    "police_officer": POLICE,
    "cit_officer": POLICE,
    "police_rms": POLICE,
    "program_reader": POLICE,
    "crisis_clinician": CRISIS_TEAM,
    "crisis_team_system": CRISIS_TEAM,
    "ed_clinician": HOSPITAL,
    "hospital_ehr": HOSPITAL,
    "bh_case_manager": BHA,
    "bha_system": BHA,
    "bha_auditor": BHA,
    "gateway_admin": BHA,
    "web_console": BHA,
    "facility_intake": FACILITY,
    "facility_system": FACILITY,
}


def role_purpose_callers() -> tuple[Caller, ...]:
    """Every role (people and agency systems) with every purpose of use, one at a time; a BTG
    token is used with its stated reason (without one it is an ordinary refusal)."""
    assert set(ROLE_AGENCY) == ROLES, "a role was added: give it an agency here"
    return tuple(
        Caller(role, ROLE_AGENCY[role], (purpose,), btg=purpose == "BTG")
        for role in sorted(ROLES)
        for purpose in sorted(PURPOSES)
    )


def working_callers() -> tuple[Caller, ...]:
    """Every role with the purpose its tokens carry by default, and the clinicians breaking the
    glass: the callers that see the most."""
    btg = ("crisis_clinician", "ed_clinician", "bh_case_manager")
    return tuple(
        Caller(role, ROLE_AGENCY[role], (DEFAULT_PURPOSE[role],)) for role in sorted(ROLES)
    ) + tuple(Caller(role, ROLE_AGENCY[role], ("TREAT", "BTG"), btg=True) for role in btg)


LOINC = "http://loinc.org"


def every_class_extras(patient: str) -> list[tuple[str, dict[str, Any]]]:
    """(writing agency, resource) for the data classes :func:`seed` leaves out: physical
    description, other clinical content, an assessment, a crisis plan, a placement addressed to the
    facility, an aggregate report, directory entries, an audit record and a configuration."""
    subject = {"reference": f"Patient/{patient}"}
    request_id = f"placement-{patient}"[:64]

    def observation(loinc: str, value: float, unit: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": code(LOINC, loinc),
            "subject": subject,
            "valueQuantity": {"value": value, "unit": unit},
        }

    return [
        (FACILITY, {"resourceType": "Organization", "id": FACILITY, "name": "The Pavilion"}),
        (HOSPITAL, {"resourceType": "Organization", "id": HOSPITAL, "name": "Panhandle Regional"}),
        (HOSPITAL, observation("8302-2", 170, "cm")),  # body height: physical description
        (HOSPITAL, observation("8867-4", 88, "/min")),  # heart rate: clinical
        (
            CRISIS_TEAM,
            {"resourceType": "QuestionnaireResponse", "status": "completed", "subject": subject},
        ),
        (
            BHA,
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "category": [code("urn:crisis-exchange:care-plan-kind", "crisis-plan")],
                "subject": subject,
                "description": "Call sister first; quiet room helps",
            },
        ),
        (
            CRISIS_TEAM,
            {
                "resourceType": "ServiceRequest",
                "id": request_id,
                "status": "active",
                "intent": "order",
                "category": [code("urn:crisis-exchange:request-kind", "placement")],
                "code": code("urn:crisis-exchange:bed-type", "AdultPsychiatric"),
                "subject": subject,
            },
        ),
        (
            CRISIS_TEAM,
            {
                "resourceType": "Task",
                "status": "requested",
                "intent": "order",
                "code": code("http://hl7.org/fhir/CodeSystem/task-code", "fulfill"),
                "focus": {"reference": f"ServiceRequest/{request_id}"},
                "for": subject,
                "owner": {"reference": f"Organization/{FACILITY}"},
            },
        ),
        (
            HOSPITAL,
            {
                "resourceType": "MeasureReport",
                "status": "complete",
                "type": "summary",
                "measure": "http://example.org/Measure/bed-census",
                "period": {"start": "2026-01-01", "end": "2026-01-31"},
            },
        ),
        (
            HOSPITAL,
            {
                "resourceType": "Provenance",
                "target": [subject],
                "recorded": "2026-01-05T10:00:00Z",
                "agent": [{"who": {"reference": f"Organization/{HOSPITAL}"}}],
            },
        ),
        (
            BHA,
            {
                "resourceType": "Subscription",
                "status": "off",
                "reason": "census changes",
                "criteria": "MeasureReport?status=complete",
                "channel": {"type": "rest-hook", "endpoint": "https://example.org/hook"},
            },
        ),
    ]


def seed_every_class(
    client: TestClient, *, shared: bool = True
) -> tuple[str, dict[tuple[str, str], str]]:
    """:func:`seed` plus a resource of every other data class, written beneath the API (as the
    agencies' systems would have stored them, without the placement workflow reacting to them).
    Decide with ``Oracle(..., relations=EVERY_CLASS_RELATIONS, placements=EVERY_CLASS_PLACEMENTS)``.
    ``shared=False`` leaves out the report and the configuration (the directory entries stay).
    """
    patient, writer = seed(client)
    with client.app.state.db.unit_of_work() as session:
        service = ResourceService(session, "http://testserver/fhir", labeller=label)
        for agency, body in every_class_extras(patient):
            if not shared and body["resourceType"] in ("MeasureReport", "Subscription"):
                continue
            held = {**body, "meta": {"source": agency_uri(agency)}}
            rtype = str(body["resourceType"])
            if "id" in body:
                stored = service.update(rtype, str(body["id"]), held)
            else:
                stored = service.create(rtype, held)
            writer[(rtype, stored.rid)] = agency
    return patient, writer


def pointed_at(resource: dict[str, Any]) -> str | None:
    """The patient a resource refers to (what a ``_revinclude`` from the Patient follows): the one
    it is about, or for a Provenance its target."""
    targets = [t.get("reference", "") for t in resource.get("target") or []]
    patients = [t.split("/", 1)[1] for t in targets if t.startswith("Patient/")]
    return about_patient(resource) or (patients[0] if patients else None)


class Population:
    """One patient per consent scenario of :data:`CONSENTS`, each with a resource of every data
    class, in one store: one pass of a caller covers every scenario. ``shown`` and ``visible`` are
    :class:`Oracle`'s, each resource decided with its own patient's consents."""

    def __init__(self, client: TestClient) -> None:
        self.patients: dict[str, str] = {}
        self.oracles: dict[tuple[str, str], Oracle] = {}
        for n, scenario in enumerate(sorted(CONSENTS)):
            patient, writer = seed_every_class(client, shared=n == 0)
            consents = add_consent(client, patient, scenario, writer)
            if scenario.startswith("part2"):
                writer[("Organization", CRISIS_TEAM)] = HOSPITAL  # the recipient the consent names
            oracle = Oracle(
                client,
                patient,
                writer,
                consents,
                relations=EVERY_CLASS_RELATIONS,
                placements=EVERY_CLASS_PLACEMENTS,
            )
            self.patients[scenario] = patient
            self.oracles.update(dict.fromkeys(writer, oracle))
        self.stored = {key: self.oracles[key].stored[key] for key in self.oracles}
        self.writer = {key: self.oracles[key].writer[key] for key in self.oracles}
        self.about = {key: about_patient(resource) for key, resource in self.stored.items()}
        self.points_at = {key: pointed_at(resource) for key, resource in self.stored.items()}
        self._decided: dict[tuple[Caller, tuple[str, str], str], dict[str, Any] | None] = {}

    def shown(self, caller: Caller, key: tuple[str, str], action: str) -> dict[str, Any] | None:
        memo = (caller, key, action)
        if memo not in self._decided:
            self._decided[memo] = self.oracles[key].shown(caller, key, action)
        return self._decided[memo]

    def visible(self, caller: Caller, rtype: str, action: str = "search") -> set[str]:
        return {
            rid for (t, rid) in self.stored if t == rtype and self.shown(caller, (t, rid), action)
        }
