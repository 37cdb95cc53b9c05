"""``POST /ingest/{adapter}``: agency records in their own formats, stored all-or-nothing per record,
idempotent on resend, refused with a located OperationOutcome."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from tests.adapters.police_rms.samples import full_record
from tests.conftest import bearer

FIXTURES = Path(__file__).parents[1] / "adapters" / "hl7v2" / "fixtures"
ER7 = {"Content-Type": "x-application/hl7-v2+er7"}


def _hl7(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _patients(client: TestClient) -> list[dict]:  # type: ignore[type-arg]
    return [e["resource"] for e in client.get("/fhir/Patient").json().get("entry", [])]


def test_adt_a01_is_stored_and_a_resend_changes_nothing(client: TestClient) -> None:
    first = client.post("/ingest/hl7v2", content=_hl7("ADT-A01-01.hl7"), headers=ER7)
    assert first.status_code == 201, first.text
    assert first.json()["type"] == "transaction-response"
    patients = _patients(client)
    assert len(patients) == 1
    patient = patients[0]
    assert patient["meta"]["source"] == "urn:gateway:agency:test-agency"
    again = client.post("/ingest/hl7v2", content=_hl7("ADT-A01-01.hl7"), headers=ER7)
    assert again.status_code == 200
    history = client.get(f"/fhir/Patient/{patient['id']}/_history").json()
    assert history["total"] == 1, "an identical resend writes no new version"
    provenance = client.get("/fhir/Provenance").json()
    assert provenance["total"] == 1


def test_a08_update_makes_a_new_version_not_a_duplicate(client: TestClient) -> None:
    assert (
        client.post("/ingest/hl7v2", content=_hl7("ADT-A01-01.hl7"), headers=ER7).status_code == 201
    )
    updated = client.post("/ingest/hl7v2", content=_hl7("ADT-A08-01.hl7"), headers=ER7)
    assert updated.status_code in (200, 201), updated.text
    assert len(_patients(client)) == 1


def test_batch_keeps_good_records_and_reports_bad_ones(client: TestClient) -> None:
    batch = _hl7("ADT-A01-01.hl7").rstrip(b"\r\n") + b"\r" + _hl7("ORU-R01-RMGEAD.hl7")
    response = client.post("/ingest/hl7v2", content=batch, headers=ER7)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses[0].startswith("201")
    assert statuses[1].startswith("4")
    outcome = body["entry"][1]["response"]["outcome"]
    assert outcome["issue"][0]["code"] == "not-supported"
    assert "ORU" in outcome["issue"][0]["diagnostics"]
    assert len(_patients(client)) == 1


def test_unsupported_message_type_is_refused_with_its_location(client: TestClient) -> None:
    response = client.post("/ingest/hl7v2", content=_hl7("ORU-R01-RMGEAD.hl7"), headers=ER7)
    assert response.status_code in (400, 422), response.text
    issue = response.json()["issue"][0]
    assert issue["code"] == "not-supported"
    assert "MSH" in issue["diagnostics"]
    assert _patients(client) == []


def test_a_bad_record_stores_nothing(client: TestClient) -> None:
    record = full_record()
    record["persons"][0]["birth_date"] = "not-a-date"
    response = client.post(
        "/ingest/police-rms",
        content=orjson.dumps(record),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert "birth_date" in issue["diagnostics"] or "birth_date" in str(issue.get("expression"))
    assert "not-a-date" not in response.text
    assert _patients(client) == []
    assert client.get("/fhir/Encounter").json()["total"] == 0


def test_police_record_becomes_linked_fhir(client: TestClient) -> None:
    response = client.post(
        "/ingest/police-rms",
        content=orjson.dumps(full_record()),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text
    encounters = client.get("/fhir/Encounter?_include=Encounter:subject").json()
    kinds = {e["resource"]["resourceType"] for e in encounters["entry"]}
    assert {"Encounter", "Patient"} <= kinds


def test_records_are_labelled_on_the_way_in(client: TestClient) -> None:
    stroke = b"422504002^Ischemic stroke(disorder)^SCT"
    schizophrenia = b"F20.9^Schizophrenia, unspecified^I10C"
    message = _hl7("ADT-A01-01.hl7").replace(stroke, schizophrenia)
    assert client.post("/ingest/hl7v2", content=message, headers=ER7).status_code == 201
    conditions = [e["resource"] for e in client.get("/fhir/Condition").json()["entry"]]
    assert conditions
    for condition in conditions:
        codes = {c.get("code") for c in condition.get("meta", {}).get("security", [])}
        assert "R" in codes, "a mental-health diagnosis is restricted"
        assert codes & {"PSY", "MH"}
    # The same label is searchable, so policies can filter on it in SQL.
    labelled = client.get("/fhir/Condition?_security=R").json()
    assert labelled["total"] == len(conditions)


def test_unknown_adapter_media_type_and_auth(anon_client: TestClient) -> None:
    admin = bearer(anon_client.app)
    assert (
        anon_client.post("/ingest/nope", content=b"x", headers={**ER7, **admin}).status_code == 404
    )
    wrong_type = anon_client.post(
        "/ingest/hl7v2", content=b"x", headers={"Content-Type": "application/xml", **admin}
    )
    assert wrong_type.status_code == 415
    assert (
        anon_client.post("/ingest/hl7v2", content=_hl7("ADT-A01-01.hl7"), headers=ER7).status_code
        == 401
    )
    read_only = bearer(anon_client.app, scope="system/*.rs")
    refused = anon_client.post(
        "/ingest/hl7v2", content=_hl7("ADT-A01-01.hl7"), headers={**ER7, **read_only}
    )
    assert refused.status_code == 403
    assert anon_client.get("/fhir/Patient", headers=admin).json()["total"] == 0


def test_concurrent_records_sharing_an_officer_are_all_stored(client: TestClient) -> None:
    import threading

    records = []
    for i in range(6):
        record = full_record()
        record["incident_number"] = f"{record['incident_number']}-{i}"
        records.append(record)
    barrier = threading.Barrier(len(records))
    statuses: list[int] = []

    def push(record: dict) -> None:  # type: ignore[type-arg]
        barrier.wait()
        response = client.post(
            "/ingest/police-rms",
            content=orjson.dumps(record),
            headers={"Content-Type": "application/json"},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=push, args=(r,)) for r in records]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] * len(records) or set(statuses) <= {200, 201}, statuses
    assert client.get("/fhir/Encounter").json()["total"] == len(records)
