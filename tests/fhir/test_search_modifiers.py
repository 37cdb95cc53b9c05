"""Modifiers (:exact :contains :missing :not) and prefixes on dates and quantities (R4 search.html)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.fhir.helpers import create, found, observation, outcome, patient

UCUM = "http://unitsofmeasure.org"


@pytest.fixture()
def people(client: TestClient) -> dict[str, str]:
    rows = {
        "a": patient(
            name=[{"family": "Okafor", "given": ["Ada"]}], gender="female", birthDate="1980-05-01"
        ),
        "b": patient(
            name=[{"family": "Severin", "given": ["Evelyn"]}], gender="male", birthDate="1980-11-30"
        ),
        "c": patient(name=[{"family": "Ökafor"}], gender="other", birthDate="1999"),
        "none": patient(),
    }
    return {key: create(client, body)["id"] for key, body in rows.items()}


def pick(people: dict[str, str], *keys: str) -> set[str]:
    return {people[k] for k in keys}


def check(
    client: TestClient, named: dict[str, str], prefix: str, cases: list[tuple[str, set[str]]]
) -> None:
    """Run each query; report every case whose matches differ from the expected names."""
    by_id = {v: k for k, v in named.items()}
    wrong = []
    for value, expected in cases:
        got = {by_id.get(i, i) for i in found(client, prefix + value.replace("|", "%7C"))}
        if got != expected:
            wrong.append(f"{prefix}{value}: expected {sorted(expected)}, got {sorted(got)}")
    assert not wrong, "\n".join(wrong)


def test_exact(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, "Patient?family:exact=Okafor") == pick(people, "a")
    assert found(client, "Patient?family:exact=Ökafor") == pick(people, "c")
    assert found(client, "Patient?family:exact=okafor") == set()
    assert found(client, "Patient?family:exact=Okaf") == set()
    assert found(client, "Patient?family=okafor") == pick(people, "a", "c")


def test_contains(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, "Patient?family:contains=KAF") == pick(people, "a", "c")
    assert found(client, "Patient?given:contains=vel") == pick(people, "b")
    assert found(client, "Patient?name:contains=eve") == pick(people, "b")
    assert found(client, "Patient?family:contains=%25") == set()  # a literal %, not a wildcard
    assert found(client, "Patient?family:contains=_") == set()


MISSING = [
    ("family:missing=false", {"a", "b", "c"}),
    ("family:missing=true", {"none"}),
    ("gender:missing=true", {"none"}),
    ("birthdate:missing=true", {"none"}),
    ("birthdate:missing=false", {"a", "b", "c"}),
    ("organization:missing=true", {"a", "b", "c", "none"}),
]


def test_missing(client: TestClient, people: dict[str, str]) -> None:
    check(client, people, "Patient?", MISSING)


def test_missing_on_references(client: TestClient, people: dict[str, str]) -> None:
    with_subject = create(client, observation(f"Patient/{people['a']}"))["id"]
    without = create(client, observation())["id"]
    assert found(client, "Observation?subject:missing=true") == {without}
    assert found(client, "Observation?subject:missing=false") == {with_subject}


def test_not_includes_resources_without_a_value(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, "Patient?gender:not=male") == pick(people, "a", "c", "none")
    assert found(client, "Patient?gender:not=male,female") == pick(people, "c", "none")
    assert found(client, f"Patient?_id:not={people['a']}") == pick(people, "b", "c", "none")
    assert found(client, "Patient?gender:not=male&family=okafor") == pick(people, "a", "c")


UNSUPPORTED = [
    "family:not=Okafor",
    "birthdate:exact=1980",
    "gender:contains=fem",
    "gender:text=female",
    "name:below=x",
    "birthdate:not=1980",
]


def test_unsupported_modifiers_are_400(client: TestClient) -> None:
    for query in UNSUPPORTED:
        outcome(client.get(f"/fhir/Patient?{query}"), 400, expression=query.split("=")[0])


DATES = [
    ("1980-05-01", {"a"}),
    ("eq1980-05-01", {"a"}),
    ("ne1980-05-01", {"b", "c"}),
    ("gt1980-05-01", {"b", "c"}),
    ("lt1980-05-01", set()),
    ("ge1980-05-01", {"a", "b", "c"}),
    ("le1980-05-01", {"a"}),
    ("sa1980-05-01", {"b", "c"}),
    ("eb1980-05-01", set()),
    ("ap1980-05-02", {"a"}),
    ("1980", {"a", "b"}),
    ("ne1980", {"c"}),
    ("1999-06-15", set()),
    ("ne1999-06-15", {"a", "b", "c"}),
    ("gt1999-06-15", {"c"}),
    ("lt1999-06-15", {"a", "b", "c"}),
    ("sa1999-06-15", set()),
    ("eb1999-06-15", {"a", "b"}),
    ("ge1999", {"c"}),
    ("le1980-12", {"a", "b"}),
    ("gt1980-05-01T10:00:00Z", {"a", "b", "c"}),
    ("lt1980-05-01T10:00:00Z", {"a"}),
    ("lt1980-05-01T10:00", {"a"}),
]


def test_date_prefixes(client: TestClient, people: dict[str, str]) -> None:
    check(client, people, "Patient?birthdate=", DATES)


def test_date_or_and_and(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, "Patient?birthdate=1980-05-01,1999") == pick(people, "a", "c")
    assert found(client, "Patient?birthdate=ge1980-06&birthdate=lt1981") == pick(people, "b")


@pytest.fixture()
def readings(client: TestClient) -> dict[str, str]:
    def obs(value: float, code: str) -> str:
        quantity = {"value": value, "unit": code, "system": UCUM, "code": code}
        return create(client, observation(valueQuantity=quantity))["id"]

    return {
        "5.4": obs(5.4, "mg"),
        "100": obs(100, "mm[Hg]"),
        "100.4": obs(100.4, "mm[Hg]"),
        "100.6": obs(100.6, "mm[Hg]"),
    }


QUANTITIES = [
    ("100", {"100", "100.4"}),
    ("100.0", {"100"}),
    ("eq100", {"100", "100.4"}),
    ("ne100", {"5.4", "100.6"}),
    ("gt100", {"100.4", "100.6"}),
    ("ge100", {"100", "100.4", "100.6"}),
    ("lt100", {"5.4"}),
    ("le100", {"5.4", "100"}),
    ("sa100", {"100.4", "100.6"}),
    ("eb100", {"5.4"}),
    ("ap100", {"100", "100.4", "100.6"}),
    ("5.4", {"5.4"}),
    (f"5.4|{UCUM}|mg", {"5.4"}),
    ("5.4||mg", {"5.4"}),
    (f"5.4|{UCUM}|g", set()),
    (f"gt1|{UCUM}|mm[Hg]", {"100", "100.4", "100.6"}),
    ("5.40e0", {"5.4"}),
]


def test_quantity_prefixes_and_precision(client: TestClient, readings: dict[str, str]) -> None:
    check(client, readings, "Observation?value-quantity=", QUANTITIES)


def test_bad_quantity_values_are_400(client: TestClient) -> None:
    for value in ("lots", "gtNaN", "Infinity", "1e999999"):
        outcome(
            client.get(f"/fhir/Observation?value-quantity={value}"),
            400,
            expression="value-quantity",
        )
