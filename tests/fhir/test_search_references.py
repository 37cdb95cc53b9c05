"""Reference search parameters and Location ``near`` (R4 search.html#reference, #special)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fhir.helpers import BASE, create, found, observation, outcome, patient


def ref(rtype: str, rid: str) -> dict[str, str]:
    return {"reference": f"{rtype}/{rid}"}


@pytest.fixture()
def world(client: TestClient) -> dict[str, Any]:
    """Two patients, an organisation, a ward with a bed, an encounter, a referral and its tasks."""
    w: dict[str, Any] = {}
    w["org"] = create(client, {"resourceType": "Organization", "name": "Harbor Crisis Center"})[
        "id"
    ]
    w["other_org"] = create(client, {"resourceType": "Organization", "name": "Valley Hospital"})[
        "id"
    ]
    w["ann"] = create(client, patient(managingOrganization=ref("Organization", w["org"])))["id"]
    w["bob"] = create(client, patient())["id"]
    w["ward"] = create(
        client,
        {
            "resourceType": "Location",
            "name": "Ward 3",
            "status": "active",
            "position": {"latitude": 35.2, "longitude": -101.8},
        },
    )["id"]
    w["bed"] = create(
        client,
        {
            "resourceType": "Location",
            "name": "Bed 3-1",
            "partOf": ref("Location", w["ward"]),
            "position": {"latitude": 35.9, "longitude": -101.8},
        },
    )["id"]
    w["enc"] = create(
        client,
        {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"code": "EMER"},
            "subject": ref("Patient", w["ann"]),
            "location": [{"location": ref("Location", w["bed"])}],
        },
    )["id"]
    w["enc_child"] = create(
        client,
        {
            "resourceType": "Encounter",
            "status": "planned",
            "class": {"code": "EMER"},
            "partOf": ref("Encounter", w["enc"]),
        },
    )["id"]
    w["sr"] = create(
        client,
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "subject": ref("Patient", w["ann"]),
            "encounter": ref("Encounter", w["enc"]),
        },
    )["id"]
    task = {"resourceType": "Task", "intent": "order", "status": "requested"}
    w["parent"] = create(
        client, {**task, "focus": ref("ServiceRequest", w["sr"]), "for": ref("Patient", w["ann"])}
    )["id"]
    w["child"] = create(
        client,
        {
            **task,
            "partOf": [ref("Task", w["parent"])],
            "owner": ref("Organization", w["other_org"]),
            "basedOn": [ref("ServiceRequest", w["sr"])],
            "encounter": ref("Encounter", w["enc"]),
        },
    )["id"]
    w["obs_ann"] = create(
        client, observation(f"Patient/{w['ann']}", encounter=ref("Encounter", w["enc"]))
    )["id"]
    w["obs_bob"] = create(client, observation(f"Patient/{w['bob']}"))["id"]
    return w


def test_patient_and_subject_in_every_form(client: TestClient, world: dict[str, Any]) -> None:
    ann, want = world["ann"], {world["obs_ann"]}
    assert found(client, f"Observation?patient={ann}") == want
    assert found(client, f"Observation?patient=Patient/{ann}") == want
    assert found(client, f"Observation?subject=Patient/{ann}") == want
    assert found(client, f"Observation?subject:Patient={ann}") == want
    assert found(client, f"Observation?subject={BASE}/Patient/{ann}") == want
    assert found(client, f"Observation?subject=Group/{ann}") == set()
    assert found(client, f"Observation?subject:Location={ann}") == set()
    both = f"Observation?patient={ann},{world['bob']}"
    assert found(client, both) == {world["obs_ann"], world["obs_bob"]}
    assert found(client, f"Encounter?patient={ann}") == {world["enc"]}
    assert found(client, f"Task?patient={ann}") == {world["parent"]}


def test_encounter(client: TestClient, world: dict[str, Any]) -> None:
    enc = world["enc"]
    assert found(client, f"Observation?encounter={enc}") == {world["obs_ann"]}
    assert found(client, f"ServiceRequest?encounter=Encounter/{enc}") == {world["sr"]}
    assert found(client, f"Task?encounter={enc}") == {world["child"]}


def test_organization_and_owner(client: TestClient, world: dict[str, Any]) -> None:
    assert found(client, f"Patient?organization={world['org']}") == {world["ann"]}
    assert found(client, f"Task?owner=Organization/{world['other_org']}") == {world["child"]}
    assert found(client, f"Task?owner={world['org']}") == set()


def test_part_of_focus_based_on(client: TestClient, world: dict[str, Any]) -> None:
    assert found(client, f"Task?part-of={world['parent']}") == {world["child"]}
    assert found(client, f"Task?focus=ServiceRequest/{world['sr']}") == {world["parent"]}
    assert found(client, f"Task?based-on=ServiceRequest/{world['sr']}") == {world["child"]}
    assert found(client, f"Encounter?part-of={world['enc']}") == {world["enc_child"]}
    assert found(client, f"Location?partof={world['ward']}") == {world["bed"]}


def test_location(client: TestClient, world: dict[str, Any]) -> None:
    assert found(client, f"Encounter?location={world['bed']}") == {world["enc"]}
    assert found(client, f"Encounter?location={world['ward']}") == set()


def test_deleted_referrers_leave_reference_searches(
    client: TestClient, world: dict[str, Any]
) -> None:
    assert client.delete(f"/fhir/Observation/{world['obs_bob']}").status_code == 204
    assert found(client, f"Observation?patient={world['bob']}") == set()


@pytest.mark.parametrize(
    "near, expected",
    [
        ("35.2|-101.8|1|km", {"ward"}),
        ("35.2|-101.8|100|km", {"ward", "bed"}),
        ("35.2|-101.8|50|mi", {"ward", "bed"}),
        ("35.2|-101.8|70000|m", {"ward"}),
        ("35.9|-101.8|10|km", {"bed"}),
        ("0|0|10|km", set()),
    ],
)
def test_near(client: TestClient, world: dict[str, Any], near: str, expected: set[str]) -> None:
    assert found(client, f"Location?near={near}") == {world[k] for k in expected}


def test_near_refuses_bad_values(client: TestClient) -> None:
    outcome(client.get("/fhir/Location?near=35.2"), 400, expression="near")
    outcome(client.get("/fhir/Location?near=north|south|1|km"), 400, expression="near")
    outcome(client.get("/fhir/Location?near=35.2|-101.8|5|parsecs"), 400, expression="near")


def test_reference_search_refuses_unknown_type_modifiers(client: TestClient) -> None:
    outcome(
        client.get("/fhir/Observation?subject:Spaceship=1"), 400, expression="subject:Spaceship"
    )
    outcome(client.get("/fhir/Observation?subject:identifier=x|1"), 400)
