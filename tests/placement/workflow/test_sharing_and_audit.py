"""Minimum necessary for facilities and the audit trail of ``/placement``, over real HTTP.

A facility's intake user sees, before its facility accepts, only age, sex, level of care, payer,
diagnosis category and risk summary; the clinical packet once it has accepted. Every ``/placement``
call, allowed or refused, leaves an AuditEvent naming what it touched.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.audit.checkpoint import sequence
from gateway.db.session import Database
from gateway.placement.workflow_sharing import AGE_EXT, CATEGORY_SYSTEM
from tests.audit.searching import search
from tests.placement.workflow.live import Api, bed, open_request
from tests.placement.workflow.support import REQUESTER, messages, service_request, subscribe

Resource = dict[str, Any]
SECRETS = ("Testperson", "Riley", "MRN-12345", "voices", "F20.9")


def intake_view(api: Api, task_id: str, agency: str = "org-f1") -> Any:
    return api.send("GET", f"/placement/tasks/{task_id}", agency, role="facility_intake")


def resources(bundle: Resource) -> dict[str, Resource]:
    return {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}


def accept(api: Api, task: Resource, agency: str = "org-f1") -> None:
    body = {**task, "status": "accepted", "output": bed()}
    response = api.send("PUT", f"/fhir/Task/{task['id']}", agency, body)
    assert response.status_code == 200, response.text


def test_a_facility_sees_the_minimum_before_it_accepts_and_the_packet_after(api: Api) -> None:
    _, (mine, _theirs) = open_request(api)
    response = intake_view(api, mine["id"])
    assert response.status_code == 200, response.text
    before = response.text
    for secret in SECRETS:
        assert secret not in before, secret
    shown = resources(response.json())
    assert set(shown) == {"Task", "ServiceRequest"}
    assert "pat-1" not in before  # not even the patient's id
    sr = shown["ServiceRequest"]
    person = next(c for c in sr["contained"] if c["resourceType"] == "Patient")
    assert set(person) == {"resourceType", "id", "gender", "extension"}
    assert person["gender"] == "female"
    assert person["extension"][0]["url"] == AGE_EXT
    assert sr["reasonCode"][0]["coding"][0] == {
        "system": CATEGORY_SYSTEM,
        "code": "F20-F29",
        "display": sr["reasonCode"][0]["coding"][0]["display"],
    }
    payer = next(c for c in sr["contained"] if c["resourceType"] == "Coverage")
    assert payer["payor"] == [{"display": "Texas Medicaid"}]
    assert "danger to self" in orjson.dumps(sr["extension"]).decode()
    assert sr["code"]["coding"][0]["code"] == "AdultPsychiatric"
    assert "note" not in sr and "subject" in sr and sr["subject"]["reference"] == "#patient"

    accept(api, mine)
    after = intake_view(api, mine["id"])
    assert after.status_code == 200, after.text
    packet = resources(after.json())
    assert set(packet) >= {"Task", "ServiceRequest", "Patient", "Coverage"}
    assert packet["Patient"]["name"][0]["family"] == "Testperson"
    assert packet["ServiceRequest"]["reasonCode"][0]["coding"][0]["code"] == "F20.9"


def test_a_facility_outbid_keeps_the_minimum_and_strangers_see_nothing(api: Api) -> None:
    _, (mine, theirs) = open_request(api)
    accept(api, mine)
    loser = intake_view(api, theirs["id"], "org-f2")
    assert loser.status_code == 200, loser.text
    for secret in SECRETS:
        assert secret not in loser.text, secret
    stranger = intake_view(api, mine["id"], "org-f3")
    assert stranger.status_code == 403, stranger.text
    assert stranger.json()["resourceType"] == "OperationOutcome"
    for secret in SECRETS:
        assert secret not in stranger.text, secret
    unknown = intake_view(api, "no-such-task")
    assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"


def test_notifications_to_a_facility_follow_the_same_rule(api: Api, seeded: Database) -> None:
    sid, _secret = subscribe(seeded, "org-f1", "new-placement-task", content="full-resource")
    _, (mine, _) = open_request(api)
    asked = [m for m in messages(seeded, sid) if len(m["entry"]) > 1]
    assert asked, "the facility was told of its new Task"
    told = orjson.dumps(asked[-1]).decode()
    for secret in (*SECRETS, "Patient/pat-1"):
        assert secret not in told, secret
    accept(api, mine)
    latest = orjson.dumps(messages(seeded, sid)[-1]).decode()
    assert "Testperson" in latest and '"resourceType":"Coverage"' in latest


def test_placement_calls_are_in_the_audit_trail(api: Api, seeded: Database) -> None:
    response = api.send(
        "POST", "/placement/requests?near=35.2220,-101.8313", REQUESTER, service_request()
    )
    assert response.status_code == 201, response.text
    parent = response.json()["entry"][1]["resource"]
    child = response.json()["entry"][2]["resource"]
    assert intake_view(api, child["id"]).status_code == 200
    assert intake_view(api, child["id"], "org-f3").status_code == 403
    progress = api.send("GET", f"/placement/requests/{parent['id']}", REQUESTER)
    assert progress.status_code == 200, progress.text

    sequence(seeded)
    opened = search(api.http, api.app, f"entity=Task/{parent['id']}")
    assert any(e["action"] == "C" for e in opened), opened
    created = next(e for e in opened if e["action"] == "C")
    whats = {x["what"].get("reference") for x in created["entity"] if "what" in x}
    assert f"Task/{child['id']}" in whats and "Patient/pat-1" in whats
    reads = search(api.http, api.app, f"entity=Task/{child['id']}")
    outcomes = sorted(e["outcome"] for e in reads if e["action"] == "R")
    assert outcomes[0] == "0"  # org-f1 read its Task
    refused = search(api.http, api.app, "outcome=8")  # authorization refused
    assert any("org-f3" in orjson.dumps(e).decode() for e in refused), refused


def test_placement_writes_over_fhir_name_their_task_and_patient_in_the_trail(
    api: Api, seeded: Database
) -> None:
    parent, (mine, _) = open_request(api)
    accept(api, mine)
    sequence(seeded)
    created = [e for e in search(api.http, api.app, f"entity=Task/{parent['id']}")]
    assert any(e["action"] == "C" for e in created), created
    updates = [
        e for e in search(api.http, api.app, f"entity=Task/{mine['id']}") if e["action"] == "U"
    ]
    assert updates, "the facility's acceptance is in the trail"
    whats = {x["what"].get("reference") for x in updates[0]["entity"] if "what" in x}
    assert "Patient/pat-1" in whats
