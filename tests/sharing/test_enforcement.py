"""The sharing rules on the FHIR API: police get the law-enforcement view and nothing sensitive,
clinicians only for patients their agency serves, refusals name the deciding policies, and searches
are filtered in SQL so totals and paging are exact."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.sharing.conftest import as_, crisis_team, hospital, police, post

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def _patient(client: TestClient, family: str = "Ramirez") -> dict[str, Any]:
    return post(
        client,
        hospital(client),
        {
            "resourceType": "Patient",
            "name": [{"family": family, "given": ["Luz"]}],
            "birthDate": "1990-02-03",
            "gender": "female",
            "address": [{"line": ["100 Polk St"], "city": "Amarillo"}],
            "telecom": [{"system": "phone", "value": "806-555-0100"}],
            "maritalStatus": {"text": "married"},
        },
    )


def _condition(client: TestClient, pid: str, code: str = "F20.9") -> dict[str, Any]:
    return post(
        client,
        hospital(client),
        {
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": ICD10, "code": code}]},
        },
    )


def test_police_get_the_law_enforcement_view_of_a_patient(gateway: TestClient) -> None:
    patient = _patient(gateway)
    got = gateway.get(f"/fhir/Patient/{patient['id']}", headers=police(gateway))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["name"][0]["family"] == "Ramirez"
    assert body["birthDate"] == "1990-02-03"
    assert "telecom" not in body and "maritalStatus" not in body
    assert "REDACT" in {c["code"] for c in body["meta"]["security"]}


def test_police_never_get_a_mental_health_diagnosis(gateway: TestClient) -> None:
    patient = _patient(gateway)
    condition = _condition(gateway, patient["id"])
    refused = gateway.get(f"/fhir/Condition/{condition['id']}", headers=police(gateway))
    assert refused.status_code == 403
    text = refused.json()["issue"][0]["diagnostics"]
    assert "police.never-sensitive" in text
    assert "F20" not in refused.text and "Ramirez" not in refused.text
    search = gateway.get("/fhir/Condition", headers=police(gateway)).json()
    assert search["total"] == 0 and "entry" not in search
    included = gateway.get(
        "/fhir/Patient?_revinclude=Condition:subject", headers=police(gateway)
    ).json()
    assert [e["resource"]["resourceType"] for e in included["entry"]] == ["Patient"]
    history = gateway.get(f"/fhir/Condition/{condition['id']}/_history", headers=police(gateway))
    assert history.status_code == 403


def test_clinicians_see_only_patients_their_agency_serves(gateway: TestClient) -> None:
    patient = _patient(gateway)
    condition = _condition(gateway, patient["id"])
    team = crisis_team(gateway)
    assert gateway.get(f"/fhir/Condition/{condition['id']}", headers=team).status_code == 403
    assert gateway.get("/fhir/Condition", headers=team).json()["total"] == 0
    # The crisis team meets the patient: its encounter links them.
    post(
        gateway,
        team,
        {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "FLD"},
            "subject": {"reference": f"Patient/{patient['id']}"},
        },
    )
    assert gateway.get(f"/fhir/Condition/{condition['id']}", headers=team).status_code == 200
    assert gateway.get("/fhir/Condition", headers=team).json()["total"] == 1


def test_break_the_glass_needs_a_reason(gateway: TestClient) -> None:
    patient = _patient(gateway)
    condition = _condition(gateway, patient["id"])
    url = f"/fhir/Condition/{condition['id']}"
    assert gateway.get(url, headers=crisis_team(gateway)).status_code == 403
    glass = crisis_team(gateway, **{"X-BTG-Reason": "unresponsive patient, no history available"})
    assert gateway.get(url, headers=glass).status_code == 200
    police_glass = {**police(gateway), "X-BTG-Reason": "we want to see it anyway"}
    assert gateway.get(url, headers=police_glass).status_code == 403


def test_oversight_roles_get_no_clinical_content(gateway: TestClient) -> None:
    patient = _patient(gateway)
    admin = as_(gateway, "gateway_admin", "demo-tpc", ["HOPERAT"])
    refused = gateway.get(f"/fhir/Patient/{patient['id']}", headers=admin)
    assert refused.status_code == 403
    assert "oversight.no-clinical-content" in refused.text or "default-deny" in refused.text


def test_police_cannot_write_diagnoses(gateway: TestClient) -> None:
    patient = _patient(gateway)
    response = gateway.post(
        "/fhir/Condition",
        json={
            "resourceType": "Condition",
            "subject": {"reference": f"Patient/{patient['id']}"},
            "code": {"coding": [{"system": ICD10, "code": "F32.9"}]},
        },
        headers=police(gateway),
    )
    assert response.status_code == 403
    assert gateway.get("/fhir/Condition", headers=hospital(gateway)).json()["total"] == 0


def test_a_client_cannot_claim_another_agencys_authorship(gateway: TestClient) -> None:
    forged = {"resourceType": "Patient", "meta": {"source": "urn:gateway:agency:demo-amarillo-pd"}}
    stored = post(gateway, hospital(gateway), forged)
    assert stored["meta"]["source"] == "urn:gateway:agency:demo-panhandle-regional"


def test_paging_and_totals_are_exact_under_filtering(gateway: TestClient) -> None:
    team = crisis_team(gateway)
    served, unserved = [], []
    for i in range(12):
        patient = _patient(gateway, family=f"Fam{i:02d}")
        (served if i % 3 == 0 else unserved).append(patient["id"])
        for code in ("F20.9", "J45.909", "F32.9"):
            _condition(gateway, patient["id"], code)
    for pid in served:
        post(
            gateway,
            team,
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "FLD",
                },
                "subject": {"reference": f"Patient/{pid}"},
            },
        )
    expected = {f"Patient/{pid}" for pid in served}
    seen: list[str] = []
    url: str | None = "/fhir/Condition?_count=5"
    totals = set()
    while url:
        page = gateway.get(url, headers=team).json()
        totals.add(page["total"])
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        subjects = {e["resource"]["subject"]["reference"] for e in page.get("entry", [])}
        assert subjects <= expected
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        if url:
            url = url.replace("http://testserver", "")
    assert totals == {len(served) * 3}
    assert len(seen) == len(set(seen)) == len(served) * 3


def test_an_agency_cannot_overwrite_another_agencys_record(gateway: TestClient) -> None:
    patient = _patient(gateway)
    team = crisis_team(gateway)
    changed = {**patient, "gender": "male"}
    response = gateway.put(f"/fhir/Patient/{patient['id']}", json=changed, headers=team)
    assert response.status_code == 403, response.text
    stored = gateway.get(f"/fhir/Patient/{patient['id']}", headers=hospital(gateway)).json()
    assert stored["gender"] == "female"
    assert stored["meta"]["versionId"] == "1"
    deleted = gateway.delete(f"/fhir/Patient/{patient['id']}", headers=team)
    assert deleted.status_code == 403
