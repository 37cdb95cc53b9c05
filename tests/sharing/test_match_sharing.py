"""``Patient/$match`` discloses candidates only as a search would: each through the sharing rules,
and the call is audited with the candidates it disclosed."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from tests.sharing.conftest import as_, crisis_team, hospital, police, post

PERSON: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:tx:dl", "value": "40111222"}],
    "name": [{"family": "Okonkwo", "given": ["Adaeze"]}],
    "gender": "female",
    "birthDate": "1988-09-14",
    "telecom": [{"system": "phone", "value": "806-555-0142"}],
    "address": [{"line": ["12 Polk St"], "city": "Amarillo", "state": "TX"}],
}


def match(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    query = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": {k: v for k, v in PERSON.items() if k != "telecom"}}
        ],
    }
    response = client.post("/fhir/Patient/$match", content=orjson.dumps(query), headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_match_shows_each_caller_only_what_a_read_would(gateway: TestClient) -> None:
    stored = post(gateway, hospital(gateway), PERSON)
    mine = match(gateway, hospital(gateway))
    assert [e["resource"]["id"] for e in mine["entry"]] == [stored["id"]]
    assert mine["entry"][0]["resource"]["telecom"] == PERSON["telecom"]

    # police get the law-enforcement view of the same person, as on a read
    seen = match(gateway, police(gateway))
    read = gateway.get(f"/fhir/Patient/{stored['id']}", headers=police(gateway)).json()
    assert [e["resource"] for e in seen["entry"]] == [read]
    assert seen["entry"][0]["resource"].get("telecom") in (None, read.get("telecom"))

    # a crisis team that does not serve this person learns nothing, not even that there is a match
    assert gateway.get(f"/fhir/Patient/{stored['id']}", headers=crisis_team(gateway)).status_code
    nothing = match(gateway, crisis_team(gateway))
    assert nothing.get("entry", []) == [] and nothing["total"] == 0


def test_match_is_audited_with_what_it_disclosed(gateway: TestClient) -> None:
    stored = post(gateway, hospital(gateway), PERSON)
    ref = f"Patient/{stored['id']}"
    match(gateway, police(gateway))
    match(gateway, crisis_team(gateway))  # withheld: recorded as a look, not a disclosure
    auditor = as_(gateway, "bha_auditor", "demo-tpc", ["HOPERAT"])
    response = gateway.get("/audit/events", params={"patient": ref}, headers=auditor)
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    disclosed = [e for e in events if e["what"].startswith("operation")]
    assert sorted((e["agency"], e["purpose"], e["disclosure"]) for e in disclosed) == [
        ("demo-amarillo-pd", "HLEGAL", True),
        ("demo-mcot", "TREAT", False),
    ]
    assert "Okonkwo" not in response.text
