"""Search basics: _id, _lastUpdated, tokens, strings, dates, GET and POST _search, unknown parameters."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.fhir.helpers import (
    BASE,
    FORM,
    create,
    found,
    ids,
    link,
    observation,
    outcome,
    patient,
    put,
    search,
)

MRN = "http://hospital.example.org/mrn"
SSN = "http://hl7.org/fhir/sid/us-ssn"


@pytest.fixture()
def people(client: TestClient) -> dict[str, str]:
    """Four patients with names, identifiers, genders and birth dates to tell them apart."""
    rows = {
        "ada": patient(
            name=[{"family": "Okafor", "given": ["Ada", "N"]}],
            gender="female",
            birthDate="1980-05-01",
            identifier=[{"system": MRN, "value": "A-1"}, {"system": SSN, "value": "111"}],
        ),
        "jose": patient(
            name=[{"family": "Núñez", "given": ["José"]}],
            gender="male",
            birthDate="1980-11-30",
            identifier=[{"system": MRN, "value": "A-2"}],
        ),
        "evelyn": patient(
            name=[{"family": "Smith-Jones", "given": ["Evelyn"]}],
            gender="female",
            birthDate="1999",
            identifier=[{"value": "A-3"}],
        ),
        "anon": patient(),
    }
    return {key: create(client, body)["id"] for key, body in rows.items()}


def test_search_without_criteria_returns_everything_live(
    client: TestClient, people: dict[str, str]
) -> None:
    client.delete(f"/fhir/Patient/{people['anon']}")
    bundle = search(client, "Patient")
    assert bundle["total"] == 3
    assert set(ids(bundle)) == {people["ada"], people["jose"], people["evelyn"]}
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"{BASE}/Patient/{entry['resource']['id']}"
        assert entry["search"]["mode"] == "match"


def test_id(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, f"Patient?_id={people['ada']}") == {people["ada"]}
    both = f"Patient?_id={people['ada']},{people['jose']}"
    assert found(client, both) == {people["ada"], people["jose"]}
    assert found(client, "Patient?_id=nobody") == set()
    assert found(client, f"Patient?_id={people['ada'].upper()}") == set()


def test_last_updated_exact_instant_and_ranges(client: TestClient) -> None:
    first = create(client, patient())
    second = create(client, patient())
    stamp = first["meta"]["lastUpdated"]
    assert first["id"] in found(client, f"Patient?_lastUpdated={stamp}")
    later = found(client, f"Patient?_lastUpdated=gt{stamp}")
    assert first["id"] not in later
    if second["meta"]["lastUpdated"] > stamp:
        assert second["id"] in later
    assert found(client, f"Patient?_lastUpdated=ge{stamp}") >= {first["id"]}
    assert found(client, "Patient?_lastUpdated=lt2000-01-01") == set()
    assert found(client, f"Patient?_lastUpdated={stamp[:4]}") == {first["id"], second["id"]}


def test_identifier_forms(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, f"Patient?identifier={MRN}|A-1") == {people["ada"]}
    assert found(client, "Patient?identifier=A-2") == {people["jose"]}
    assert found(client, f"Patient?identifier={MRN}|") == {people["ada"], people["jose"]}
    assert found(client, "Patient?identifier=|A-3") == {people["evelyn"]}
    assert found(client, "Patient?identifier=|A-1") == set()
    assert found(client, f"Patient?identifier={SSN}|A-1") == set()
    assert found(client, "Patient?identifier=a-1") == set()  # tokens are case-sensitive


def test_string_name_family_given(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, "Patient?family=okaf") == {people["ada"]}
    assert found(client, "Patient?family=nunez") == {people["jose"]}  # accents ignored
    assert found(client, "Patient?family=NÚÑEZ") == {people["jose"]}
    assert found(client, "Patient?given=ev") == {people["evelyn"]}
    assert found(client, "Patient?given=n") == {people["ada"]}
    assert found(client, "Patient?name=jose") == {people["jose"]}
    assert found(client, "Patient?name=ada") == {people["ada"]}
    assert found(client, "Patient?family=kafor") == set()  # default is starts-with


def test_gender_token_and_or_and_and(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, "Patient?gender=female") == {people["ada"], people["evelyn"]}
    assert found(client, "Patient?gender=female,male") == {
        people["ada"],
        people["jose"],
        people["evelyn"],
    }
    assert found(client, "Patient?gender=female&family=okafor") == {people["ada"]}
    assert found(client, "Patient?gender=female&gender=male") == set()


def test_birthdate_precision(client: TestClient, people: dict[str, str]) -> None:
    assert found(client, "Patient?birthdate=1980") == {people["ada"], people["jose"]}
    assert found(client, "Patient?birthdate=1980-05") == {people["ada"]}
    assert found(client, "Patient?birthdate=1980-05-01") == {people["ada"]}
    assert found(client, "Patient?birthdate=1999-03-04") == set()  # "1999" is wider than a day
    assert found(client, "Patient?birthdate=1999") == {people["evelyn"]}


def test_status_code_category_on_observations(client: TestClient) -> None:
    pid = create(client, patient())["id"]
    vital = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs",
            }
        ]
    }
    a = create(client, observation(f"Patient/{pid}", category=[vital]))["id"]
    b = create(
        client,
        observation(
            f"Patient/{pid}",
            status="preliminary",
            code={"coding": [{"system": "http://snomed.info/sct", "code": "225390008"}]},
        ),
    )["id"]
    assert found(client, "Observation?status=final") == {a}
    assert found(client, "Observation?status=final,preliminary") == {a, b}
    assert found(client, "Observation?code=http://loinc.org|8867-4") == {a}
    assert found(client, "Observation?code=225390008") == {b}
    assert found(client, "Observation?code=http://snomed.info/sct|8867-4") == set()
    assert found(client, "Observation?category=vital-signs") == {a}


def test_encounter_date_is_a_period(client: TestClient) -> None:
    pid = create(client, patient())["id"]
    enc = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "EMER"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": "2024-03-01T22:00:00Z", "end": "2024-03-02T03:00:00Z"},
    }
    eid = create(client, enc)["id"]
    assert found(client, "Encounter?date=2024-03") == {eid}
    assert found(client, "Encounter?date=2024-03-01") == set()  # the period runs past the day
    assert found(client, "Encounter?date=ge2024-03-01") == {eid}
    assert found(client, "Encounter?date=ge2024-03-03") == set()
    assert found(client, "Encounter?date=lt2024-03-01T23:00:00Z") == {eid}
    assert found(client, "Encounter?date=gt2024-03-02T04:00:00Z") == set()
    assert found(client, "Encounter?status=finished&patient=" + pid) == {eid}


def test_post_search_matches_get(client: TestClient, people: dict[str, str]) -> None:
    body = f"gender=female&identifier={MRN}%7CA-1"
    response = client.post("/fhir/Patient/_search", content=body, headers=FORM)
    assert response.status_code == 200
    bundle = response.json()
    assert ids(bundle) == [people["ada"]]
    assert link(bundle, "self") == link(
        search(client, f"Patient?gender=female&identifier={MRN}%7CA-1"), "self"
    )
    mixed = client.post("/fhir/Patient/_search?gender=female", content="family=smith", headers=FORM)
    assert ids(mixed.json()) == [people["evelyn"]]
    empty = client.post("/fhir/Patient/_search")
    assert empty.status_code == 200 and empty.json()["total"] == 4


def test_post_search_refuses_other_media_types(client: TestClient) -> None:
    response = client.post(
        "/fhir/Patient/_search",
        json={"gender": "male"},
        headers={"Content-Type": "application/json"},
    )
    outcome(response, 415, expression="Content-Type")


def test_unknown_parameters_are_ignored_and_reported(
    client: TestClient, people: dict[str, str]
) -> None:
    bundle = search(client, "Patient?favourite-colour=blue&gender=male")
    assert ids(bundle) == [people["jose"]]
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    issue = outcomes[0]["resource"]["issue"][0]
    assert issue["severity"] == "warning" and issue["expression"] == ["favourite-colour"]
    self_link = link(bundle, "self") or ""
    assert "favourite-colour" not in self_link and "gender=male" in self_link


def test_unknown_parameters_are_refused_under_strict_handling(
    client: TestClient, people: dict[str, str]
) -> None:
    response = client.get(
        "/fhir/Patient?favourite-colour=blue&gender=male", headers={"Prefer": "handling=strict"}
    )
    outcome(response, 400, code="not-supported", expression="favourite-colour")
    lenient = search(client, "Patient?favourite-colour=blue", Prefer="handling=lenient")
    assert len(ids(lenient)) == 4


def test_empty_parameters_are_ignored(client: TestClient, people: dict[str, str]) -> None:
    assert len(found(client, "Patient?gender=&family=")) == 4
    assert found(client, "Patient?gender=&family=okafor") == {people["ada"]}
    assert len(found(client, "Patient?_count=&_sort=")) == 4


def test_escaped_comma_is_part_of_the_value(client: TestClient) -> None:
    odd = create(client, patient(identifier=[{"system": MRN, "value": "a,b"}]))["id"]
    create(client, patient(identifier=[{"system": MRN, "value": "a"}]))
    assert found(client, r"Patient?identifier=a\,b") == {odd}
    assert len(found(client, "Patient?identifier=a,b")) == 1


def test_search_sees_the_current_version_only(client: TestClient) -> None:
    stored = create(client, patient(gender="female"))
    put(client, {**stored, "gender": "male"})
    assert found(client, "Patient?gender=female") == set()
    assert found(client, "Patient?gender=male") == {stored["id"]}


def test_bad_search_values_are_400_naming_the_parameter(client: TestClient) -> None:
    outcome(
        client.get("/fhir/Patient?birthdate=Zebediah"),
        400,
        expression="birthdate",
        secrets=("Zebediah",),
    )
    outcome(client.get("/fhir/Patient?birthdate=1980-13"), 400, expression="birthdate")
    outcome(client.get("/fhir/Patient?birthdate=1980-05-01T10"), 400, expression="birthdate")
    outcome(client.get("/fhir/Patient?_lastUpdated=soon"), 400, expression="_lastUpdated")
    outcome(client.get("/fhir/Patient?family:missing=maybe"), 400, expression="family:missing")
    outcome(
        client.get("/fhir/Encounter?length=Zebediah"),
        400,
        expression="length",
        secrets=("Zebediah",),
    )


def test_tag_security_and_profile(client: TestClient) -> None:
    label = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "SUD"}
    profile = "http://example.org/StructureDefinition/crisis-patient"
    meta: dict[str, Any] = {
        "tag": [{"system": "http://example.org/source", "code": "police-rms"}],
        "security": [label],
        "profile": [profile],
    }
    tagged = create(client, patient(meta=meta))["id"]
    create(client, patient())
    assert found(client, "Patient?_tag=http://example.org/source|police-rms") == {tagged}
    assert found(client, f"Patient?_security={label['system']}|SUD") == {tagged}
    assert found(client, "Patient?_security:not=SUD") != set()
    assert tagged not in found(client, "Patient?_security:not=SUD")
    assert found(client, f"Patient?_profile={profile}") == {tagged}
