"""The leakage matrix's fixtures: the callers, the seeded records of every data class, the consent
scenarios and the oracle (the pure decision on the stored resource with relationships this test set
up itself)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi.testclient import TestClient

from gateway.fhir.service import ResourceService
from policies.agreements import AgreementSet
from policies.consent import compile_consent
from policies.model import Principal
from policies.pipeline import evaluate, request_for
from policies.redaction import apply_obligations
from tests.conftest import bearer
from tests.sharing.conftest import AGENCIES, FHIR, hospital

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PART2_POLICY = [{"uri": "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"}]
SENSITIVE_LABELS = {
    "PSY",
    "MH",
    "BH",
    "SUD",
    "ETH",
    "42CFRPart2",
    "PSYTHPN",
    "HIPAAPsyNotes",
    "HIV",
}
SENSITIVE_CODES = ("F32.9", "F11.20", "B20", '"code":"psychotherapy-note"')
HOSPITAL = "demo-panhandle-regional"
CRISIS_TEAM = "demo-mcot"
# Who serves the patient, as this test arranges it: the hospital wrote the Patient and an Encounter,
# the crisis team an Encounter of its own; police and the authority wrote nothing about them.
RELATIONS = {HOSPITAL: frozenset({"encounter", "record"}), CRISIS_TEAM: frozenset({"encounter"})}


@dataclass(frozen=True)
class Caller:
    role: str
    agency: str
    purposes: tuple[str, ...]
    btg: bool = False

    @property
    def police(self) -> bool:
        return self.role in ("police_officer", "cit_officer", "police_rms")

    @property
    def name(self) -> str:
        return f"{self.role}/{self.agency}/{'+'.join(self.purposes)}"

    def headers(self, client: TestClient) -> dict[str, str]:
        token = bearer(client.app, role=self.role, agency=self.agency, purposes=list(self.purposes))
        extra = {"X-BTG-Reason": "patient unresponsive, history needed"} if self.btg else {}
        return {**FHIR, **token, **extra}


CALLERS = (
    Caller("police_officer", "demo-amarillo-pd", ("HLEGAL",)),
    Caller("police_officer", "demo-amarillo-pd", ("TREAT",)),
    Caller("police_officer", "demo-amarillo-pd", ("HLEGAL", "BTG"), btg=True),
    Caller("cit_officer", "demo-amarillo-pd", ("HLEGAL",)),
    Caller("cit_officer", "demo-amarillo-pd", ("THREAT",)),
    Caller("crisis_clinician", CRISIS_TEAM, ("TREAT",)),
    Caller("crisis_clinician", CRISIS_TEAM, ("HPAYMT",)),
    Caller("crisis_clinician", CRISIS_TEAM, ("TREAT", "BTG"), btg=True),
    Caller("bh_case_manager", "demo-tpc", ("TREAT",)),
    Caller("bh_case_manager", "demo-tpc", ("TREAT", "BTG"), btg=True),
    Caller("ed_clinician", HOSPITAL, ("TREAT",)),
    Caller("facility_intake", "demo-tpc", ("TREAT",)),
    Caller("bha_auditor", "demo-tpc", ("HOPERAT",)),
    Caller("gateway_admin", "demo-tpc", ("HOPERAT",)),
)


def code(system: str, value: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": value}]}


def seed(client: TestClient) -> tuple[str, dict[tuple[str, str], str]]:
    """The patient and one resource of each data class; returns the patient id and who wrote what."""
    writer: dict[tuple[str, str], str] = {}
    as_hospital = hospital(client)

    def post(resource: dict[str, Any], headers: dict[str, str], agency: str) -> str:
        response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=headers)
        assert response.status_code == 201, response.text
        rid = str(response.json()["id"])
        writer[(resource["resourceType"], rid)] = agency
        return rid

    patient = post(
        {
            "resourceType": "Patient",
            "name": [{"family": "Leakcheck", "given": ["Rowan"]}],
            "gender": "female",
            "birthDate": "1991-04-02",
            "address": [{"city": "Amarillo", "state": "TX"}],
        },
        as_hospital,
        HOSPITAL,
    )
    subject = {"reference": f"Patient/{patient}"}
    post(
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "EMER",
            },
            "subject": subject,
            "reasonCode": [code(ICD, "F32.9")],
        },
        as_hospital,
        HOSPITAL,
    )
    for value in ("F32.9", "F11.20", "B20", "I10"):
        post(
            {"resourceType": "Condition", "subject": subject, "code": code(ICD, value)},
            as_hospital,
            HOSPITAL,
        )
    post(
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": code("urn:crisis-exchange:document-kind", "psychotherapy-note"),
            "subject": subject,
            "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}],
        },
        as_hospital,
        HOSPITAL,
    )
    post(
        {
            "resourceType": "Flag",
            "status": "active",
            "category": [code("http://terminology.hl7.org/CodeSystem/flag-category", "safety")],
            "code": {"text": "Officer safety: dog on premises"},
            "subject": subject,
        },
        as_hospital,
        HOSPITAL,
    )
    post(
        {
            "resourceType": "Coverage",
            "status": "active",
            "beneficiary": subject,
            "payor": [{"display": "Texas Medicaid"}],
        },
        as_hospital,
        HOSPITAL,
    )
    crisis_team = {**FHIR, **bearer(client.app, role="crisis_team_system", agency=CRISIS_TEAM)}
    post(
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": ACT, "code": "FLD"},
            "subject": subject,
        },
        crisis_team,
        CRISIS_TEAM,
    )
    return patient, writer


CONSENTS: dict[str, dict[str, Any] | None] = {
    "no-consent": None,
    "opt-out": {"type": "deny"},
    "part2-for-crisis-team": {
        "type": "permit",
        "actor": [
            {
                "role": code("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP"),
                "reference": {"reference": f"Organization/{CRISIS_TEAM}"},
            }
        ],
        "securityLabel": [{"system": ACT, "code": "SUD"}],
    },
}


def add_consent(
    client: TestClient, patient: str, scenario: str, writer: dict[tuple[str, str], str]
) -> list[dict[str, Any]]:
    provision = CONSENTS[scenario]
    if provision is None:
        return []
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "scope": code("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        "category": [code("http://loinc.org", "59284-0")],
        "patient": {"reference": f"Patient/{patient}"},
        "provision": provision,
    }
    if scenario.startswith("part2"):
        consent["policy"] = PART2_POLICY
        # the consent names the recipient organisation, which must be a resource of the directory
        directory = {
            "resourceType": "Organization",
            "id": CRISIS_TEAM,
            "name": "Mobile crisis team",
        }
        put = client.put(
            f"/fhir/Organization/{CRISIS_TEAM}", json=directory, headers=hospital(client)
        )
        assert put.status_code in (200, 201), put.text
    response = client.post("/fhir/Consent", json=consent, headers=hospital(client))
    assert response.status_code == 201, response.text
    stored = dict(response.json())
    writer[("Consent", str(stored["id"]))] = HOSPITAL
    return [stored]


def stored_content(client: TestClient, rtype: str, rid: str) -> dict[str, Any]:
    """The resource as stored (labels and source applied), read beneath the enforcement point."""
    with client.app.state.db.unit_of_work() as session:
        found = ResourceService(session, "http://testserver/fhir").read(rtype, rid)
    return dict(orjson.loads(found.content or "{}"))


class Oracle:
    """What the rules allow each caller, decided from the stored content and known relationships."""

    def __init__(
        self,
        client: TestClient,
        patient: str,
        writer: dict[tuple[str, str], str],
        consents: list[dict[str, Any]],
        *,
        relations: Mapping[str, frozenset[str]] | None = None,
        placements: Mapping[str, tuple[bool, bool, bool]] | None = None,
    ) -> None:
        self.relations = RELATIONS if relations is None else relations
        self.placements = placements or {}
        self.patient = patient
        self.writer = writer
        self.consents = consents
        self._compiled = [compile_consent(c) for c in consents]
        self.stored = {key: stored_content(client, *key) for key in writer}
        settings = client.app.state.settings
        self.agreements = (
            AgreementSet.load(settings.agreements_file)
            if settings.agreements_file
            else AgreementSet.load()
        )

    def shown(self, caller: Caller, key: tuple[str, str], action: str) -> dict[str, Any] | None:
        resource = self.stored[key]
        principal = Principal(
            client_id="test-client",
            agency=caller.agency,
            agency_kind=AGENCIES.get(caller.agency),
            role=caller.role,
            purposes=caller.purposes,
        )
        reason = "patient unresponsive, history needed" if caller.btg else None
        purpose = "BTG" if reason and "BTG" in caller.purposes else purpose_of_caller(caller)
        about = about_patient(resource)
        addressed, accepted, requested = self.placements.get(caller.agency, (False, False, False))
        request = request_for(
            principal,
            action,
            resource,
            purpose=purpose,
            owning_agency=self.writer[key],
            relations=self.relations.get(caller.agency, frozenset()) if about else frozenset(),
            addressed_to_principal_facility=addressed and bool(about),
            accepted=accepted and bool(about),
            requested_by_principal_agency=requested and bool(about),
            # a safety flag counts for CIT officers only while it is active
            active=resource.get("status", "active") == "active" if key[0] == "Flag" else True,
            btg_reason=reason if purpose == "BTG" else None,
            patient=about,
            at=datetime.now(UTC),
        )
        consents = self._compiled if about == self.patient else []
        return apply_obligations(resource, evaluate(request, resource, consents, self.agreements))

    def visible(self, caller: Caller, rtype: str, action: str = "search") -> set[str]:
        return {
            rid for (t, rid) in self.stored if t == rtype and self.shown(caller, (t, rid), action)
        }


def about_patient(resource: dict[str, Any]) -> str | None:
    """The patient a seeded resource is about for the sharing rules (whose consents apply, whom an
    agency serves), found here independently of the gateway's own rule: the subject, patient, for
    or beneficiary it names. Audit records (a Provenance naming the patient as its target) are
    about no patient: ``policies.agreements.NON_PATIENT_CLASSES``."""
    if resource.get("resourceType") == "Patient":
        return str(resource["id"])
    for ref in (resource.get(k) for k in ("subject", "patient", "for", "beneficiary")):
        target = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(target, str) and target.startswith("Patient/"):
            return target.split("/", 1)[1]
    return None


def purpose_of_caller(caller: Caller) -> str:
    return next((p for p in caller.purposes if p != "BTG"), caller.purposes[0])


def entries(bundle: dict[str, Any], mode: str | None = None) -> dict[tuple[str, str], dict]:
    found = {}
    for entry in bundle.get("entry", []):
        resource = entry.get("resource")
        if not resource or resource.get("resourceType") == "OperationOutcome":
            continue
        if mode and entry.get("search", {}).get("mode") != mode:
            continue
        found[(resource["resourceType"], resource["id"])] = resource
    return found


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal apart from the notice tag and server-kept meta the paths may render differently."""

    def strip(r: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in r.get("meta", {}).items() if k in ("security", "source")}
        return {**r, "meta": meta}

    return strip(a) == strip(b)


def police_safe(body: str) -> list[str]:
    """Sensitive labels or codes a police response must never contain."""
    compact = body.replace(" ", "")
    found = [c for c in SENSITIVE_CODES if c in compact]
    for label in SENSITIVE_LABELS:
        if f'"code":"{label}"' in compact:
            found.append(label)
    return found
