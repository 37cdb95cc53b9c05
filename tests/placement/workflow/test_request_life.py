"""A placement request's life over the /placement endpoints: ask, answer, first acceptance wins,
transport, arrival, admission, cancellation; every refusal is an OperationOutcome."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.placement.workflow_beds import free_beds, set_free_beds
from tests.placement.workflow.conftest import as_agency
from tests.placement.workflow.support import ORIGIN, REQUESTER, read, service_request

NEAR = f"{ORIGIN[0]},{ORIGIN[1]}"


def open_request(client: TestClient, **kw: Any) -> dict[str, Any]:
    response = client.post(
        f"/placement/requests?near={NEAR}",
        json=service_request(**kw),
        headers=as_agency(client, REQUESTER),
    )
    assert response.status_code == 201, response.text
    entries = [e["resource"] for e in response.json()["entry"]]
    return {"sr": entries[0], "parent": entries[1], "children": entries[2:]}


def child_of(opened: dict[str, Any], org: str) -> dict[str, Any]:
    return next(c for c in opened["children"] if c["owner"]["reference"] == f"Organization/{org}")


def task_op(client: TestClient, task_id: str, op: str, agency: str, **body: Any) -> Any:
    return client.post(
        f"/placement/tasks/{task_id}/{op}", json=body, headers=as_agency(client, agency)
    )


def request_op(client: TestClient, some_id: str, op: str, agency: str, **body: Any) -> Any:
    return client.post(
        f"/placement/requests/{some_id}/{op}", json=body, headers=as_agency(client, agency)
    )


def outcome(response: Any) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    return str(body["issue"][0]["diagnostics"])


def test_opening_asks_the_nearest_units_with_one_child_task_each(app_client: TestClient) -> None:
    opened = open_request(app_client)
    parent, sr = opened["parent"], opened["sr"]
    assert parent["status"] == "requested" and parent["intent"] == "order"
    assert parent["focus"] == {"reference": f"ServiceRequest/{sr['id']}"}
    assert parent["requester"] == {"reference": f"Organization/{REQUESTER}"}
    assert sr["requester"] == {"reference": f"Organization/{REQUESTER}"}
    for doc in (sr, parent, *opened["children"]):  # written for the requester (sharing: owner)
        assert doc["meta"]["source"] == f"urn:gateway:agency:{REQUESTER}"
    owners = sorted(c["owner"]["reference"] for c in opened["children"])
    assert owners == ["Organization/org-f1", "Organization/org-f2"]  # top 2 within 50 km
    for child in opened["children"]:
        assert child["status"] == "requested"
        assert child["partOf"] == [{"reference": f"Task/{parent['id']}"}]
        assert child["focus"] == parent["focus"]
        unit = child["input"][0]["valueReference"]["reference"]
        assert unit == child["owner"]["reference"].replace(
            "Organization/org-", "HealthcareService/unit-"
        )


def test_first_acceptance_wins_and_the_others_are_cancelled(
    app_client: TestClient, seeded: Database
) -> None:
    opened = open_request(app_client)
    c1, c2 = child_of(opened, "org-f1"), child_of(opened, "org-f2")
    assert task_op(app_client, c1["id"], "$received", "org-f1").json()["status"] == "received"
    accepted = task_op(app_client, c2["id"], "$accept", "org-f2", bed="Location/bed-unit-f2-1")
    assert accepted.status_code == 200, accepted.text
    child = accepted.json()
    assert child["status"] == "accepted"
    assert child["businessStatus"]["coding"][0]["code"] == "bed-reserved"
    assert child["output"][-1]["valueReference"] == {"reference": "Location/bed-unit-f2-1"}
    parent = read(seeded, "Task", opened["parent"]["id"])
    assert parent["status"] == "accepted"
    assert parent["owner"] == {"reference": "Organization/org-f2"}
    assert {"reference": f"Task/{c2['id']}"} in [o.get("valueReference") for o in parent["output"]]
    loser = read(seeded, "Task", c1["id"])
    assert loser["status"] == "cancelled"
    assert loser["statusReason"]["coding"][0]["code"] == "filled-elsewhere"
    with seeded.unit_of_work() as session:
        assert free_beds(session, "unit-f2") == 1
        assert free_beds(session, "unit-f1") == 2
    late = task_op(app_client, c1["id"], "$accept", "org-f1", bed="Location/bed-1")
    assert late.status_code == 409
    assert "another facility accepted" in outcome(late)


def test_the_whole_life_to_admission(app_client: TestClient, seeded: Database) -> None:
    opened = open_request(app_client)
    pid, c2 = opened["parent"]["id"], child_of(opened, "org-f2")
    assert task_op(app_client, c2["id"], "$accept", "org-f2", bed="bed 12").status_code == 200
    steps = [
        ("$transport", REQUESTER, "accepted", "transport-arranged"),
        ("$en-route", REQUESTER, "in-progress", "en-route"),
        ("$arrived", "org-f2", "in-progress", "arrived"),
        ("$complete", "org-f2", "completed", "admitted"),
    ]
    for op, who, status, business in steps:
        response = request_op(app_client, pid, op, who)
        assert response.status_code == 200, (op, response.text)
        parent, child = read(seeded, "Task", pid), read(seeded, "Task", c2["id"])
        for task in (parent, child):  # the accepted child mirrors the parent
            assert task["status"] == status
            assert task["businessStatus"]["coding"][0]["code"] == business
    with seeded.unit_of_work() as session:
        assert free_beds(session, "unit-f2") == 1  # the bed was used, not given back
    progress = app_client.get(
        f"/placement/requests/{pid}", headers=as_agency(app_client, REQUESTER)
    )
    assert progress.json()["phase"] == "completed"
    assert progress.json()["bed"] == {"unit": "unit-f2", "bed": "bed 12", "state": "used"}


def test_illegal_transitions_are_409_and_strangers_403(app_client: TestClient) -> None:
    opened = open_request(app_client)
    pid, c1, c2 = opened["parent"]["id"], child_of(opened, "org-f1"), child_of(opened, "org-f2")
    # Before acceptance nothing but cancel is open to the requester.
    for op in ("$transport", "$en-route", "$arrived", "$complete", "$fail"):
        response = request_op(app_client, pid, op, REQUESTER, reason="x")
        assert response.status_code == 409, (op, response.text)
    assert task_op(app_client, c2["id"], "$accept", "org-f2", bed="b1").status_code == 200
    cases = [
        ("$complete", REQUESTER, 409),  # only the facility admits
        ("$transport", "org-f2", 409),  # only the requester arranges transport
        ("$arrived", REQUESTER, 409),  # not en route yet
        ("$cancel", "org-f1", 403),  # the facility that lost is no party any more
        ("$cancel", "someone-else", 403),
    ]
    for op, who, status in cases:
        response = request_op(app_client, pid, op, who, reason="x")
        assert response.status_code == status, (op, who, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
    # Wrong owner on a child Task, and the requester cannot answer for a facility.
    assert task_op(app_client, c1["id"], "$received", "org-f2").status_code == 403
    assert task_op(app_client, c2["id"], "$reject", REQUESTER, reason="no-bed").status_code == 403
    assert task_op(app_client, c2["id"], "$reject", "org-f2", reason="no-bed").status_code == 409


def test_cancel_releases_the_reserved_bed_and_needs_a_reason(
    app_client: TestClient, seeded: Database
) -> None:
    opened = open_request(app_client)
    pid, c2 = opened["parent"]["id"], child_of(opened, "org-f2")
    assert task_op(app_client, c2["id"], "$accept", "org-f2", bed="b1").status_code == 200
    with seeded.unit_of_work() as session:
        assert free_beds(session, "unit-f2") == 1
    missing = request_op(app_client, pid, "$cancel", REQUESTER)
    assert missing.status_code == 400 and "reason" in outcome(missing)
    done = request_op(app_client, pid, "$cancel", REQUESTER, reason="patient-stabilised")
    assert done.status_code == 200
    assert done.json()["status"] == "cancelled"
    assert read(seeded, "Task", c2["id"])["status"] == "cancelled"
    with seeded.unit_of_work() as session:
        assert free_beds(session, "unit-f2") == 2
    again = request_op(app_client, pid, "$cancel", REQUESTER, reason="again")
    assert again.status_code == 409


def test_facility_failure_after_acceptance_releases_the_bed(
    app_client: TestClient, seeded: Database
) -> None:
    opened = open_request(app_client)
    pid, c2 = opened["parent"]["id"], child_of(opened, "org-f2")
    task_op(app_client, c2["id"], "$accept", "org-f2", bed="b1")
    failed = request_op(app_client, pid, "$fail", "org-f2", reason="bed-lost", text="flooding")
    assert failed.status_code == 200
    assert failed.json()["statusReason"]["text"] == "flooding"
    with seeded.unit_of_work() as session:
        assert free_beds(session, "unit-f2") == 2


def test_declines_need_a_known_reason(app_client: TestClient, seeded: Database) -> None:
    opened = open_request(app_client)
    c1 = child_of(opened, "org-f1")
    assert task_op(app_client, c1["id"], "$reject", "org-f1").status_code == 400
    assert task_op(app_client, c1["id"], "$reject", "org-f1", reason="full").status_code == 400
    other = task_op(app_client, c1["id"], "$reject", "org-f1", reason="other")
    assert other.status_code == 400 and "text" in outcome(other)
    done = task_op(app_client, c1["id"], "$reject", "org-f1", reason="acuity-too-high")
    assert done.status_code == 200
    assert done.json()["status"] == "rejected"
    assert done.json()["statusReason"]["coding"][0]["code"] == "acuity-too-high"
    assert task_op(app_client, c1["id"], "$accept", "org-f1", bed="b").status_code == 409


def test_acceptance_needs_a_bed_and_a_free_one_on_record(
    app_client: TestClient, seeded: Database
) -> None:
    opened = open_request(app_client)
    c1 = child_of(opened, "org-f1")
    no_bed = task_op(app_client, c1["id"], "$accept", "org-f1")
    assert no_bed.status_code == 400
    with seeded.unit_of_work() as session:
        set_free_beds(session, "unit-f1", "org-f1", 0, 0.0)
    full = task_op(app_client, c1["id"], "$accept", "org-f1", bed="b1")
    assert full.status_code == 409 and "no free bed" in outcome(full)
    assert read(seeded, "Task", c1["id"])["status"] == "requested"


def test_a_request_needs_a_level_of_care_and_the_callers_own_agency(
    app_client: TestClient,
) -> None:
    sr = service_request()
    sr["code"] = {"text": "a bed"}
    headers = as_agency(app_client, REQUESTER)
    assert app_client.post("/placement/requests", json=sr, headers=headers).status_code == 400
    sr = {**service_request(), "requester": {"reference": "Organization/hosp-b"}}
    assert app_client.post("/placement/requests", json=sr, headers=headers).status_code == 403
    unauth = app_client.post("/placement/requests", json=service_request())
    assert unauth.status_code == 401
