"""The placement workflow through the plain FHIR REST API, over real HTTP (a live server).

An EHR that knows nothing of ``/placement`` takes part with ordinary FHIR interactions: it creates a
ServiceRequest and a parent Task (or both in one transaction Bundle), facilities answer by updating
their child Task, and the gateway enforces every rule on those writes.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from gateway.placement.workflow_codes import (
    BUSINESS_STATUS_SYSTEM,
    DECLINE_SYSTEM,
)
from tests.placement.workflow.live import PATCH, Api, bed, children, open_request, parent_task
from tests.placement.workflow.support import REQUESTER, service_request

Resource = dict[str, Any]


def test_posting_a_parent_task_opens_the_request_and_asks_the_facilities(api: Api) -> None:
    parent, kids = open_request(api)
    assert parent["status"] == "requested"
    assert [k["owner"]["reference"] for k in kids] == ["Organization/org-f1", "Organization/org-f2"]
    assert {k["partOf"][0]["reference"] for k in kids} == {f"Task/{parent['id']}"}
    assert all(k["status"] == "requested" for k in kids)
    progress = api.send("GET", f"/placement/requests/{parent['id']}", REQUESTER)
    assert progress.status_code == 200, progress.text
    assert [o["organization"] for o in progress.json()["offers"]] == ["org-f1", "org-f2"]


def test_an_ordinary_task_is_stored_as_usual(api: Api) -> None:
    task = {"resourceType": "Task", "status": "draft", "intent": "order"}
    response = api.send("POST", "/fhir/Task", REQUESTER, task)
    assert response.status_code == 201, response.text
    assert children(api, response.json()["id"]) == []
    deleted = api.send("DELETE", f"/fhir/Task/{response.json()['id']}", REQUESTER)
    assert deleted.status_code == 204, deleted.text


def test_a_transaction_bundle_opens_a_request_under_the_ids_it_assigned(api: Api) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:7d1c7b55-0c6b-4d40-a2a3-1b1e2f0b7a11",
                "resource": service_request(),
                "request": {"method": "POST", "url": "ServiceRequest"},
            },
            {
                "fullUrl": "urn:uuid:5f2b1f4e-99a0-4bb8-8d0b-1c1b6f5f2d22",
                "resource": parent_task("urn:uuid:7d1c7b55-0c6b-4d40-a2a3-1b1e2f0b7a11"),
                "request": {"method": "POST", "url": "Task"},
            },
        ],
    }
    response = api.send("POST", "/fhir", REQUESTER, bundle)
    assert response.status_code == 200, response.text
    sr_entry, task_entry = response.json()["entry"]
    assert task_entry["response"]["status"] == "201 Created"
    task_id = task_entry["response"]["location"].split("/")[1]
    sr_id = sr_entry["response"]["location"].split("/")[1]
    parent = api.read("Task", task_id)
    assert parent["focus"]["reference"] == f"ServiceRequest/{sr_id}"
    assert len(children(api, task_id)) == 2


def test_a_hand_made_child_task_is_refused(api: Api) -> None:
    parent, _ = open_request(api)
    child = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "partOf": [{"reference": f"Task/{parent['id']}"}],
        "owner": {"reference": "Organization/org-f5"},
    }
    response = api.send("POST", "/fhir/Task", REQUESTER, child)
    assert response.status_code == 409, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert len(children(api, parent["id"])) == 2


def test_an_illegal_transition_by_put_or_patch_is_a_409_and_changes_nothing(api: Api) -> None:
    parent, kids = open_request(api)
    jump = {**parent, "status": "completed"}
    response = api.send("PUT", f"/fhir/Task/{parent['id']}", REQUESTER, jump)
    assert response.status_code == 409, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    ops = [{"op": "replace", "path": "/status", "value": "completed"}]
    patched = api.send("PATCH", f"/fhir/Task/{kids[0]['id']}", "org-f1", ops, headers=PATCH)
    assert patched.status_code == 409, patched.text
    assert patched.json()["resourceType"] == "OperationOutcome"
    assert api.read("Task", parent["id"])["status"] == "requested"
    assert api.read("Task", kids[0]["id"])["status"] == "requested"


def test_a_facility_cannot_answer_another_facilitys_task(api: Api) -> None:
    _, kids = open_request(api)
    theirs = {**kids[0], "status": "accepted", "output": bed()}  # org-f1's offer
    response = api.send("PUT", f"/fhir/Task/{kids[0]['id']}", "org-f2", theirs)
    assert response.status_code == 403, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    ops = [{"op": "replace", "path": "/status", "value": "received"}]
    patched = api.send("PATCH", f"/fhir/Task/{kids[0]['id']}", "org-f2", ops, headers=PATCH)
    assert patched.status_code == 403, patched.text
    assert api.read("Task", kids[0]["id"])["status"] == "requested"


def test_deleting_a_placement_task_is_refused(api: Api) -> None:
    parent, kids = open_request(api)
    for task_id, agency in ((parent["id"], REQUESTER), (kids[0]["id"], "org-f1")):
        response = api.send("DELETE", f"/fhir/Task/{task_id}", agency)
        assert response.status_code == 409, response.text
        assert "cancel the request" in response.json()["issue"][0]["diagnostics"]
        assert api.read("Task", task_id)["id"] == task_id
    conditional = api.send("DELETE", f"/fhir/Task?_id={parent['id']}", REQUESTER)
    assert conditional.status_code == 409, conditional.text


def test_the_whole_life_by_fhir_updates(api: Api) -> None:
    parent, (first, second) = open_request(api)
    declined = {
        **second,
        "status": "rejected",
        "statusReason": {"coding": [{"system": DECLINE_SYSTEM, "code": "no-bed"}]},
    }
    response = api.send("PUT", f"/fhir/Task/{second['id']}", "org-f2", declined)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    accepted = {**first, "status": "accepted", "output": bed()}
    response = api.send(
        "PUT", f"/fhir/Task/{first['id']}", "org-f1", accepted, headers={"If-Match": 'W/"1"'}
    )
    assert response.status_code == 200, response.text
    stored = api.read("Task", parent["id"])
    assert stored["status"] == "accepted" and stored["owner"]["reference"] == "Organization/org-f1"
    for status, code in (
        ("accepted", "transport-arranged"),
        ("in-progress", "en-route"),
        ("in-progress", "arrived"),
    ):
        current = api.read("Task", parent["id"])
        moved = {
            **current,
            "status": status,
            "businessStatus": {"coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": code}]},
        }
        response = api.send("PUT", f"/fhir/Task/{parent['id']}", REQUESTER, moved)
        assert response.status_code == 200, (code, response.text)
    ops = [{"op": "replace", "path": "/status", "value": "completed"}]
    done = api.send("PATCH", f"/fhir/Task/{first['id']}", "org-f1", ops, headers=PATCH)
    assert done.status_code == 200, done.text
    assert api.read("Task", parent["id"])["status"] == "completed"


def test_a_stale_if_match_is_a_412(api: Api) -> None:
    _, kids = open_request(api)
    received = {**kids[0], "status": "received"}
    response = api.send(
        "PUT", f"/fhir/Task/{kids[0]['id']}", "org-f1", received, headers={"If-Match": 'W/"9"'}
    )
    assert response.status_code == 412, response.text


def test_a_patch_entry_in_a_batch_goes_through_the_workflow(api: Api) -> None:
    _, kids = open_request(api)
    ops = orjson.dumps([{"op": "replace", "path": "/status", "value": "completed"}])
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": base64.b64encode(ops).decode(),
                },
                "request": {"method": "PATCH", "url": f"Task/{kids[0]['id']}"},
            }
        ],
    }
    response = api.send("POST", "/fhir", "org-f1", bundle)
    assert response.status_code == 200, response.text
    entry = response.json()["entry"][0]["response"]
    assert entry["status"] == "409"
    assert entry["outcome"]["resourceType"] == "OperationOutcome"
    assert api.read("Task", kids[0]["id"])["status"] == "requested"
