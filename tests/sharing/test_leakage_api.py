"""The leakage matrix over the API: every role the console and agency systems use, several purposes,
with and without consent and agreements, over every FHIR read path (issue "Sharing rules", item 6).

The oracle is the pure decision (``policies.pipeline.evaluate``) on the stored resource with the
relationships this test set up itself (who wrote what), not the gateway's own fact queries: a path
that shows a resource the rules do not allow, withholds one they allow, or shows it differently from
a plain read, fails. Independently of any oracle, police must never receive a mental-health,
substance-use, psychotherapy-note or HIV label or code by any path.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.fhir.service import ResourceService
from policies.agreements import AgreementSet
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
        return self.role in ("police_officer", "cit_officer")

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
    ) -> None:
        self.patient = patient
        self.writer = writer
        self.consents = consents
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
        request = request_for(
            principal,
            action,
            resource,
            purpose=purpose,
            owning_agency=self.writer[key],
            relations=RELATIONS.get(caller.agency, frozenset()),
            btg_reason=reason if purpose == "BTG" else None,
            patient=self.patient,
            at=datetime.now(UTC),
        )
        return apply_obligations(
            resource, evaluate(request, resource, self.consents, self.agreements)
        )

    def visible(self, caller: Caller, rtype: str, action: str = "search") -> set[str]:
        return {
            rid for (t, rid) in self.stored if t == rtype and self.shown(caller, (t, rid), action)
        }


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


@pytest.mark.parametrize("scenario", sorted(CONSENTS))
def test_every_read_path_shows_exactly_what_the_rules_allow(
    gateway: TestClient, scenario: str
) -> None:
    patient, writer = seed(gateway)
    consents = add_consent(gateway, patient, scenario, writer)
    oracle = Oracle(gateway, patient, writer, consents)
    problems: list[str] = []
    for caller in CALLERS:
        problems += check_caller(gateway, oracle, caller)
    assert problems == []


def check_caller(client: TestClient, oracle: Oracle, caller: Caller) -> list[str]:
    headers = caller.headers(client)
    problems: list[str] = []
    read_as: dict[tuple[str, str], dict[str, Any]] = {}

    def note(path: str, body: str, what: str) -> None:
        # the body is never put in the failure message: it may hold what must not leak
        problems.append(
            f"{caller.role}/{caller.agency}/{'+'.join(caller.purposes)}: {path}: {what}"
        )

    def get(path: str) -> tuple[int, str]:
        response = client.get(path, headers=headers)
        assert response.status_code < 500, (path, response.text)
        if caller.police and response.status_code == 200:
            leaked = police_safe(response.text)
            if leaked:
                note(path, response.text, f"police received {leaked}")
        return response.status_code, response.text

    # read, vread and instance history agree with the oracle, resource by resource
    for key in oracle.stored:
        rtype, rid = key
        expected = oracle.shown(caller, key, "read")
        status, body = get(f"/fhir/{rtype}/{rid}")
        if (status == 200) != (expected is not None):
            note(f"read {rtype}", body, f"status {status}, rules say {expected is not None}")
            continue
        if expected is None:
            if status != 403:
                note(f"read {rtype}", body, f"refused with {status}, not 403")
            continue
        shown = orjson.loads(body)
        read_as[key] = shown
        if not same_content(shown, expected):
            note(f"read {rtype}", body, "content differs from what the rules give")
        status, body = get(f"/fhir/{rtype}/{rid}/_history/1")
        if status != 200 or not same_content(orjson.loads(body), shown):
            note(f"vread {rtype}", body, f"status {status} or content differs from read")
        status, body = get(f"/fhir/{rtype}/{rid}/_history")
        if status != 200 or list(entries(orjson.loads(body))) != [key]:
            note(f"history {rtype}", body, f"status {status} or entries differ")

    # searches, includes, chains, type history and batch show the same set with the same content
    def compare(path: str, rtype: str, found: dict[tuple[str, str], dict], action: str) -> None:
        want = oracle.visible(caller, rtype, action)
        got = {rid for (t, rid) in found if t == rtype}
        if got != want:
            note(path, "", f"{rtype} shown {sorted(got - want)} withheld {sorted(want - got)}")
        for key, resource in found.items():
            if key in read_as and not same_content(resource, read_as[key]):
                note(path, "", f"{key[0]} content differs from its read")

    subject = f"Patient/{oracle.patient}"
    searches = {
        "Condition": f"/fhir/Condition?subject={subject}",
        "Encounter": f"/fhir/Encounter?patient={subject}",
        "DocumentReference": f"/fhir/DocumentReference?subject={subject}",
        "Flag": f"/fhir/Flag?subject={subject}",
        "Coverage": f"/fhir/Coverage?beneficiary={subject}",
        "Consent": f"/fhir/Consent?patient={subject}",
        "Patient": f"/fhir/Patient?_id={oracle.patient}",
    }
    for rtype, path in searches.items():
        status, body = get(path)
        if status == 200:
            compare(path, rtype, entries(orjson.loads(body), "match"), "search")
        elif oracle.visible(caller, rtype):
            note(path, body, f"search refused with {status} though the rules allow some")
        form = path.split("?", 1)[1]
        response = client.post(
            f"/fhir/{rtype}/_search",
            content=form,
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        if response.status_code == 200:
            compare(f"POST {path}", rtype, entries(response.json(), "match"), "search")
    patient_shown = bool(oracle.visible(caller, "Patient"))
    conditions_shown = bool(oracle.visible(caller, "Condition"))
    for rtype, path, anchor_shown in (
        (
            "Condition",
            f"/fhir/Patient?_id={oracle.patient}&_revinclude=Condition:subject",
            patient_shown,
        ),
        (
            "Patient",
            f"/fhir/Condition?subject={subject}&_include=Condition:subject",
            conditions_shown,
        ),
        (
            "Encounter",
            f"/fhir/Patient?_id={oracle.patient}&_revinclude=Encounter:subject",
            patient_shown,
        ),
    ):
        status, body = get(path)
        if status != 200:
            continue
        # an include follows a match: nothing is included when nothing matched
        included = {k: v for k, v in entries(orjson.loads(body)).items() if k[0] == rtype}
        want = oracle.visible(caller, rtype) if anchor_shown else set()
        got = {rid for (_, rid) in included}
        if got != want:
            note(path, "", f"{rtype} included {sorted(got - want)} withheld {sorted(want - got)}")
    chained = "/fhir/Condition?" + urllib.parse.urlencode({"subject:Patient.family": "Leakcheck"})
    status, body = get(chained)
    if status == 200:
        compare(chained, "Condition", entries(orjson.loads(body), "match"), "search")
    status, body = get("/fhir/Condition/_history")
    if status == 200:
        compare("Condition/_history", "Condition", entries(orjson.loads(body)), "search")
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"{t}/{i}"}} for (t, i) in oracle.stored],
    }
    response = client.post("/fhir", json=batch, headers=headers)
    assert response.status_code == 200, response.text
    if caller.police and police_safe(response.text):
        note("batch", "", f"police received {police_safe(response.text)}")
    for (rtype, rid), entry in zip(oracle.stored, response.json()["entry"], strict=True):
        status = int(entry["response"]["status"].split()[0])
        expected = oracle.shown(caller, (rtype, rid), "read")
        if (status == 200) != (expected is not None):
            note(f"batch GET {rtype}", "", f"status {status}, rules say {expected is not None}")
    return problems


def test_patches_cannot_probe_records_the_caller_may_not_see(gateway: TestClient) -> None:
    patient, writer = seed(gateway)
    sud = next(
        rid
        for (t, rid) in writer
        if t == "Condition" and "F11.20" in str(stored_content(gateway, t, rid))
    )
    police = CALLERS[0].headers(gateway)
    response = gateway.patch(
        f"/fhir/Condition/{sud}",
        content=b'[{"op": "test", "path": "/code/coding/0/code", "value": "F11.20"}]',
        headers={**police, "Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 403
    assert not police_safe(response.text)
    assert "42 CFR" not in response.text  # the refusal does not tell it is a Part 2 record
    # a failing "test" is refused the same way: the patch cannot probe the content
    wrong = b'[{"op": "test", "path": "/code/coding/0/code", "value": "I10"}]'
    again = gateway.patch(
        f"/fhir/Condition/{sud}",
        content=wrong,
        headers={**police, "Content-Type": "application/json-patch+json"},
    )
    assert again.status_code == 403
    assert again.json()["issue"][0]["diagnostics"].replace(sud, "") == response.json()["issue"][0][
        "diagnostics"
    ].replace(sud, "")
    assert stored_content(gateway, "Condition", sud)["meta"]["versionId"] == "1"
    assert patient
