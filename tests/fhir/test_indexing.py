"""gateway.fhir.indexing: which index rows a resource produces (R4 search.html#ptypes)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.fhir.dates import MAX_TS, MIN_TS, date_range
from gateway.fhir.indexing import IndexRows, extract, normalize, parse_reference, walk

BASE = "http://testserver/fhir"


def rows(resource: dict[str, Any]) -> IndexRows:
    return extract(resource, BASE)


def tokens(resource: dict[str, Any], param: str) -> set[tuple[str | None, str]]:
    return {(s, c) for p, s, c in rows(resource).tokens if p == param}


def strings(resource: dict[str, Any], param: str) -> set[tuple[str, str]]:
    return {(n, e) for p, n, e in rows(resource).strings if p == param}


def refs(resource: dict[str, Any], param: str) -> set[tuple[str | None, str | None, str | None]]:
    return {(t, i, u) for p, t, i, u in rows(resource).references if p == param}


def dates(resource: dict[str, Any], param: str) -> list[tuple[float, float]]:
    return [(lo, hi) for p, lo, hi in rows(resource).dates if p == param]


def test_normalize_folds_case_and_accents() -> None:
    assert normalize("Núñez") == "nunez"
    assert normalize("ÖKAFOR") == "okafor"
    assert normalize("Straße") == "strasse"
    assert normalize("Ĳ") == "ij"


def test_tokens_from_codeable_concept_coding_identifier_code_and_boolean() -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "8867-4"}, {"display": "no code"}],
            "text": "Heart rate",
        },
        "identifier": [{"system": "urn:ids", "value": "obs-1"}, {"value": "bare"}],
    }
    assert tokens(obs, "code") == {("http://loinc.org", "8867-4")}
    assert tokens(obs, "identifier") == {("urn:ids", "obs-1"), (None, "bare")}
    assert tokens(obs, "status") == {(None, "final")}
    assert tokens(obs, "_id") == set()
    pat = {"resourceType": "Patient", "id": "p1", "active": False, "gender": "female"}
    assert tokens(pat, "active") == {(None, "false")}
    assert tokens(pat, "_id") == {(None, "p1")}
    tagged = {"resourceType": "Patient", "meta": {"tag": [{"system": "urn:t", "code": "x"}]}}
    assert tokens(tagged, "_tag") == {("urn:t", "x")}


def test_contact_points_index_only_their_value_and_filter_by_system() -> None:
    pat = {
        "resourceType": "Patient",
        "telecom": [
            {"system": "phone", "value": "555-0100", "use": "home"},
            {"system": "email", "value": "a@example.org"},
        ],
    }
    assert tokens(pat, "telecom") == {(None, "555-0100"), (None, "a@example.org")}
    assert tokens(pat, "phone") == {(None, "555-0100")}
    assert tokens(pat, "email") == {(None, "a@example.org")}


def test_human_names_and_addresses_index_each_part() -> None:
    pat = {
        "resourceType": "Patient",
        "name": [
            {"use": "official", "family": "Núñez", "given": ["José", "María"], "prefix": ["Sr."]}
        ],
        "address": [
            {
                "use": "home",
                "line": ["1 Main St"],
                "city": "Amarillo",
                "state": "TX",
                "postalCode": "79101",
            }
        ],
    }
    assert strings(pat, "family") == {("nunez", "Núñez")}
    assert strings(pat, "given") == {("jose", "José"), ("maria", "María")}
    assert {e for _, e in strings(pat, "name")} == {"Núñez", "José", "María", "Sr."}
    assert {e for _, e in strings(pat, "address")} == {"1 Main St", "Amarillo", "TX", "79101"}
    assert strings(pat, "address-city") == {("amarillo", "Amarillo")}
    assert tokens(pat, "address-use") == {(None, "home")}


def test_dates_from_date_datetime_period_and_timing() -> None:
    pat = {"resourceType": "Patient", "birthDate": "1980-05"}
    assert dates(pat, "birthdate") == [date_range("1980-05")]
    enc = {
        "resourceType": "Encounter",
        "period": {"start": "2024-03-01T22:00:00Z"},
    }
    ((low, high),) = dates(enc, "date")
    assert low == date_range("2024-03-01T22:00:00Z")[0] and high == MAX_TS
    ended = {"resourceType": "Encounter", "period": {"end": "2024-03-02"}}
    assert dates(ended, "date") == [(MIN_TS, date_range("2024-03-02")[1])]
    obs = {"resourceType": "Observation", "effectiveDateTime": "2024-03-01T10:00:00Z"}
    assert dates(obs, "date") == [date_range("2024-03-01T10:00:00Z")]
    junk = {"resourceType": "Patient", "birthDate": "not a date"}
    assert dates(junk, "birthdate") == []


def test_local_references_become_type_and_id() -> None:
    obs = {
        "resourceType": "Observation",
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": f"{BASE}/Encounter/e1"},
    }
    assert refs(obs, "subject") == {("Patient", "p1", None)}
    assert refs(obs, "patient") == {("Patient", "p1", None)}
    assert refs(obs, "encounter") == {("Encounter", "e1", None)}


def test_references_outside_this_server_are_kept_as_urls() -> None:
    url = "https://other.example.org/fhir/Patient/9"
    obs = {"resourceType": "Observation", "subject": {"reference": url}}
    assert refs(obs, "subject") == {(None, None, url)}
    urn = {"resourceType": "Observation", "subject": {"reference": "urn:uuid:1234"}}
    assert refs(urn, "subject") == {(None, None, "urn:uuid:1234")}


def test_contained_and_typed_references_are_filtered() -> None:
    contained = {"resourceType": "Observation", "subject": {"reference": "#p1"}}
    assert refs(contained, "subject") == set()
    # "patient" only indexes subjects that are Patients
    location = {"resourceType": "Observation", "subject": {"reference": "Location/l1"}}
    assert refs(location, "patient") == set()
    assert refs(location, "subject") == {("Location", "l1", None)}
    display_only = {"resourceType": "Observation", "subject": {"display": "someone"}}
    assert refs(display_only, "subject") == set()


def test_quantities_and_positions() -> None:
    obs = {
        "resourceType": "Observation",
        "valueQuantity": {"value": 5.4, "system": "http://unitsofmeasure.org", "code": "mg"},
    }
    assert [(p, v, s, c) for p, v, s, c in rows(obs).quantities if p == "value-quantity"] == [
        ("value-quantity", 5.4, "http://unitsofmeasure.org", "mg")
    ]
    unit_only = {"resourceType": "Observation", "valueQuantity": {"value": 7, "unit": "beats"}}
    assert ("value-quantity", 7.0, None, "beats") in rows(unit_only).quantities
    loc = {"resourceType": "Location", "position": {"latitude": 35.2, "longitude": -101.8}}
    assert rows(loc).positions == [(35.2, -101.8)]
    assert rows({"resourceType": "Location"}).positions == []


def test_walk_handles_lists_choices_and_filters() -> None:
    pat = {
        "name": [{"given": ["A", "B"]}, {"given": ["C"]}],
        "deceasedDateTime": "2020",
        "telecom": [{"system": "phone", "value": "1"}, {"system": "fax", "value": "2"}],
    }
    assert list(walk(pat, "name.given")) == ["A", "B", "C"]
    assert list(walk(pat, "deceased[x]")) == ["2020"]
    assert list(walk(pat, "telecom[system=fax].value")) == ["2"]
    assert list(walk(pat, "nothing.here")) == []


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("Patient/1", ("Patient", "1", None)),
        ("Patient/1/_history/3", ("Patient", "1", None)),
        (f"{BASE}/Patient/1", ("Patient", "1", None)),
        (
            "http://elsewhere.org/fhir/Patient/1",
            (None, None, "http://elsewhere.org/fhir/Patient/1"),
        ),
        ("urn:oid:1.2.3", (None, None, "urn:oid:1.2.3")),
        ("#contained", (None, None, None)),
        ("patient/1", (None, None, "patient/1")),
    ],
)
def test_parse_reference(ref: str, expected: tuple[str | None, str | None, str | None]) -> None:
    assert parse_reference(ref, BASE) == expected


def test_extract_covers_every_parameter_of_the_type_and_nothing_else() -> None:
    task = {
        "resourceType": "Task",
        "id": "t1",
        "status": "requested",
        "intent": "order",
        "focus": {"reference": "ServiceRequest/s1"},
        "partOf": [{"reference": "Task/t0"}],
        "owner": {"reference": "Organization/o1"},
        "for": {"reference": "Patient/p1"},
        "authoredOn": "2024-05-01T10:00:00Z",
    }
    got = rows(task)
    assert {p for p, *_ in got.references} == {"focus", "part-of", "owner", "patient", "subject"}
    assert {p for p, *_ in got.tokens} == {"_id", "status", "intent", "_access"}  # + access profile
    assert {p for p, *_ in got.dates} == {"authored-on"}
