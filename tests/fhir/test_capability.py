"""GET /fhir/metadata: a CapabilityStatement that lists exactly what works (R4 capabilitystatement.html)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from gateway.fhir.model import SUPPORTED_TYPES, model_class
from tests.fhir.helpers import BASE, FHIR, PATCH_JSON, create, patient, put, search


@pytest.fixture()
def statement(client: TestClient) -> dict[str, Any]:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    return body


def test_it_is_a_valid_r4_capability_statement(statement: dict[str, Any]) -> None:
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance" and statement["status"] == "active"
    assert statement["implementation"]["url"] == BASE
    assert "application/fhir+json" in statement["format"]
    assert statement["patchFormat"] == ["application/json-patch+json"]
    model_class("CapabilityStatement").model_validate(statement)


def test_it_lists_every_supported_type_and_nothing_else(statement: dict[str, Any]) -> None:
    (rest,) = statement["rest"]
    assert rest["mode"] == "server"
    assert [r["type"] for r in rest["resource"]] == list(SUPPORTED_TYPES)
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "history-system"}


def test_metadata_needs_no_resource_type(client: TestClient) -> None:
    assert client.get("/fhir/metadata?_format=json").status_code == 200


def test_every_listed_type_level_interaction_works(
    client: TestClient, statement: dict[str, Any]
) -> None:
    patient_entry = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    codes = {i["code"] for i in patient_entry["interaction"]}
    assert codes == {
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    }
    stored = create(client, patient())  # create
    rid = stored["id"]
    assert client.get(f"/fhir/Patient/{rid}").status_code == 200  # read
    assert put(client, {**stored, "gender": "male"}).status_code == 200  # update
    ops = [{"op": "add", "path": "/active", "value": True}]
    assert client.patch(f"/fhir/Patient/{rid}", json=ops, headers=PATCH_JSON).status_code == 200
    assert client.get(f"/fhir/Patient/{rid}/_history/1").status_code == 200  # vread
    assert client.get(f"/fhir/Patient/{rid}/_history").status_code == 200  # history-instance
    assert client.get("/fhir/Patient/_history").status_code == 200  # history-type
    assert client.get("/fhir/Patient").status_code == 200  # search-type
    assert client.delete(f"/fhir/Patient/{rid}").status_code == 204  # delete
    assert client.get("/fhir/_history").status_code == 200  # history-system
    empty = {"resourceType": "Bundle", "type": "batch", "entry": []}
    assert client.post("/fhir", json=empty, headers=FHIR).status_code == 200  # batch


def test_the_declared_flags_hold(client: TestClient, statement: dict[str, Any]) -> None:
    entry = statement["rest"][0]["resource"][0]
    assert entry["updateCreate"] is True
    assert (
        client.put("/fhir/Patient/new-one", json=patient(id="new-one"), headers=FHIR).status_code
        == 201
    )
    assert entry["conditionalCreate"] is True
    headers = {**FHIR, "If-None-Exist": "_id=new-one"}
    assert client.post("/fhir/Patient", json=patient(), headers=headers).status_code == 200
    assert entry["conditionalRead"] == "not-match"
    assert (
        client.get("/fhir/Patient/new-one", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    )
    assert entry["conditionalDelete"] == "single"
    create(client, patient(gender="male"))
    create(client, patient(gender="male"))
    assert client.delete("/fhir/Patient?gender=male").status_code == 412
    assert entry["versioning"] == "versioned-update"
    stale = {**FHIR, "If-Match": 'W/"9"'}
    assert (
        client.put("/fhir/Patient/new-one", json=patient(id="new-one"), headers=stale).status_code
        == 412
    )
    assert "enforced" in entry["referencePolicy"]
    dangling = {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/x"}}
    assert client.post("/fhir/Patient", json=dangling, headers=FHIR).status_code == 400


def test_every_listed_search_parameter_is_understood(
    client: TestClient, statement: dict[str, Any]
) -> None:
    for res in statement["rest"][0]["resource"]:
        params = []
        for p in res["searchParam"]:
            assert p["type"] in (
                "token",
                "string",
                "date",
                "reference",
                "quantity",
                "number",
                "uri",
                "special",
            )
            if p["type"] != "special":
                params.append((f"{p['name']}:missing", "false"))
        query = urlencode([*params, ("_summary", "count")])
        bundle = search(client, f"{res['type']}?{query}", Prefer="handling=strict")
        assert bundle["total"] == 0
    assert search(client, "Location?near=0|0|1|km")["total"] == 0


def test_every_listed_include_and_revinclude_is_accepted(
    client: TestClient, statement: dict[str, Any]
) -> None:
    for res in statement["rest"][0]["resource"]:
        items = [("_include", i) for i in res["searchInclude"]]
        items += [("_revinclude", i) for i in res["searchRevInclude"]]
        assert res["searchRevInclude"], res["type"]
        search(client, f"{res['type']}?{urlencode(items)}", Prefer="handling=strict")


def test_revinclude_lists_only_references_that_can_point_here(statement: dict[str, Any]) -> None:
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert "Observation:subject" in by_type["Patient"]["searchRevInclude"]
    assert "Task:owner" in by_type["Organization"]["searchRevInclude"]
    assert "Encounter:service-provider" not in by_type["Patient"]["searchRevInclude"]
    assert "Task:focus" in by_type["ServiceRequest"]["searchRevInclude"]
