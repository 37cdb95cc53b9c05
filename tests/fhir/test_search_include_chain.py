"""_include, _revinclude and chained parameters one level deep (R4 search.html#include, #chaining)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fhir.helpers import BASE, create, found, ids, link, observation, outcome, patient, search


@pytest.fixture()
def clinic(client: TestClient) -> dict[str, str]:
    c: dict[str, str] = {}
    c["org"] = create(client, {"resourceType": "Organization", "name": "Harbor Crisis Center"})[
        "id"
    ]
    c["ann"] = create(
        client,
        patient(
            name=[{"family": "Abara", "given": ["Ann"]}],
            managingOrganization={"reference": f"Organization/{c['org']}"},
        ),
    )["id"]
    c["bob"] = create(client, patient(name=[{"family": "Brown", "given": ["Bob"]}]))["id"]
    c["ward"] = create(client, {"resourceType": "Location", "name": "Abara Ward"})["id"]
    c["o1"] = create(client, observation(f"Patient/{c['ann']}"))["id"]
    c["o2"] = create(client, observation(f"Patient/{c['ann']}"))["id"]
    c["o3"] = create(client, observation(f"Patient/{c['bob']}"))["id"]
    c["o4"] = create(client, observation(f"Location/{c['ward']}"))["id"]
    c["enc"] = create(
        client,
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "EMER"},
            "subject": {"reference": f"Patient/{c['ann']}"},
        },
    )["id"]
    return c


def entries(bundle: dict[str, Any], mode: str) -> set[tuple[str, str]]:
    return {
        (e["resource"]["resourceType"], e["resource"]["id"])
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    }


def test_include_adds_the_referenced_resources_once(
    client: TestClient, clinic: dict[str, str]
) -> None:
    bundle = search(client, f"Observation?patient={clinic['ann']}&_include=Observation:subject")
    assert entries(bundle, "match") == {
        ("Observation", clinic["o1"]),
        ("Observation", clinic["o2"]),
    }
    assert entries(bundle, "include") == {("Patient", clinic["ann"])}
    assert bundle["total"] == 2  # includes are not counted
    included = next(e for e in bundle["entry"] if e["search"]["mode"] == "include")
    assert included["fullUrl"] == f"{BASE}/Patient/{clinic['ann']}"


def test_include_with_a_target_type(client: TestClient, clinic: dict[str, str]) -> None:
    bundle = search(client, "Observation?_include=Observation:subject:Location")
    assert entries(bundle, "include") == {("Location", clinic["ward"])}
    everything = search(client, "Observation?_include=Observation:subject")
    assert entries(everything, "include") == {
        ("Patient", clinic["ann"]),
        ("Patient", clinic["bob"]),
        ("Location", clinic["ward"]),
    }


def test_include_wildcard_and_several_includes(client: TestClient, clinic: dict[str, str]) -> None:
    star = search(client, f"Patient?_id={clinic['ann']}&_include=*")
    assert entries(star, "include") == {("Organization", clinic["org"])}
    both = search(
        client,
        f"Patient?_id={clinic['ann']}&_include=Patient:organization&_revinclude=Encounter:subject",
    )
    assert entries(both, "include") == {
        ("Organization", clinic["org"]),
        ("Encounter", clinic["enc"]),
    }


def test_includes_are_per_page(client: TestClient, clinic: dict[str, str]) -> None:
    query = "Observation?patient=Patient/{ann},Patient/{bob}&_sort=_lastUpdated&_count=2&_include=Observation:patient"
    first = search(client, query.format(**clinic))
    assert ids(first) == [clinic["o1"], clinic["o2"]]
    assert entries(first, "include") == {("Patient", clinic["ann"])}
    second = search(client, (link(first, "next") or "").removeprefix(BASE + "/"))
    assert ids(second) == [clinic["o3"]]
    assert entries(second, "include") == {("Patient", clinic["bob"])}


def test_revinclude(client: TestClient, clinic: dict[str, str]) -> None:
    bundle = search(client, f"Patient?_id={clinic['ann']}&_revinclude=Observation:subject")
    assert entries(bundle, "match") == {("Patient", clinic["ann"])}
    assert entries(bundle, "include") == {
        ("Observation", clinic["o1"]),
        ("Observation", clinic["o2"]),
    }
    assert bundle["total"] == 1


def test_deleted_resources_are_not_included(client: TestClient, clinic: dict[str, str]) -> None:
    client.delete(f"/fhir/Observation/{clinic['o2']}")
    bundle = search(client, f"Patient?_id={clinic['ann']}&_revinclude=Observation:subject")
    assert entries(bundle, "include") == {("Observation", clinic["o1"])}


@pytest.mark.parametrize(
    "query",
    [
        "Observation?_include=Observation:status",
        "Observation?_include=Patient:organization",
        "Observation?_include=Observation",
        "Observation?_include=Spaceship:subject",
        "Observation?_include=Observation:subject:Spaceship",
        "Patient?_revinclude=Observation:nothing",
    ],
)
def test_bad_includes_are_400(client: TestClient, query: str) -> None:
    name = query.split("?")[1].split("=")[0]
    outcome(client.get(f"/fhir/{query}"), 400, expression=name)


def test_chain_with_a_type(client: TestClient, clinic: dict[str, str]) -> None:
    assert found(client, "Observation?subject:Patient.name=abara") == {clinic["o1"], clinic["o2"]}
    assert found(client, "Observation?subject:Patient.family:exact=Brown") == {clinic["o3"]}
    assert found(client, "Observation?subject:Patient.family:exact=brown") == set()
    assert found(client, "Observation?subject:Location.name=abara") == {clinic["o4"]}


def test_chain_without_a_type_covers_every_target_type(
    client: TestClient, clinic: dict[str, str]
) -> None:
    # R4 §3.1.1.4.15: subject.name matches a subject of any type whose name matches
    assert found(client, "Observation?subject.name=abara") == {
        clinic["o1"],
        clinic["o2"],
        clinic["o4"],
    }
    assert found(client, "Encounter?subject.family=abara") == {clinic["enc"]}
    assert found(client, "Encounter?subject.family:exact=abara") == set()
    assert found(client, "Observation?patient.identifier=nothing") == set()


def test_chain_on_single_target_parameters(client: TestClient, clinic: dict[str, str]) -> None:
    assert found(client, "Observation?patient.family=brown") == {clinic["o3"]}
    assert found(client, "Patient?organization.name=harbor") == {clinic["ann"]}
    assert found(client, f"Observation?patient._id={clinic['bob']}") == {clinic["o3"]}
    assert found(client, "Observation?patient.name=abara&patient.name=brown") == set()


def test_chain_with_missing(client: TestClient, clinic: dict[str, str]) -> None:
    create(client, patient(gender="male"))
    assert found(client, "Observation?subject:Patient.gender:missing=true") == {
        clinic["o1"],
        clinic["o2"],
        clinic["o3"],
    }
    assert found(client, "Observation?subject:Patient.gender:missing=false") == set()


def test_chain_ignores_deleted_targets(client: TestClient, clinic: dict[str, str]) -> None:
    client.delete(f"/fhir/Observation/{clinic['o3']}")
    assert client.delete(f"/fhir/Patient/{clinic['bob']}").status_code == 204
    assert found(client, "Observation?patient.family=brown") == set()


@pytest.mark.parametrize(
    "query",
    [
        "Observation?subject.organization.name=harbor",
        "Observation?status.name=x",
        "Observation?subject:Patient.shoe-size=9",
        "Observation?subject:Spaceship.name=x",
        "Observation?subject.shoe-size=9",
        "Observation?subject:Patient.name:sideways=x",
    ],
)
def test_bad_chains_are_400(client: TestClient, query: str) -> None:
    name = query.split("?")[1].split("=")[0]
    outcome(client.get(f"/fhir/{query}"), 400, expression=name)
