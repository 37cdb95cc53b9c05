"""``/notify``: subscribing, the rules a Subscription must follow, delivery status for its owner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.notify.topics import FILTER_CRITERIA, PAYLOAD_CONTENT, canonical
from gateway.notify.worker import app_deliverer
from gateway.placement.workflow_setup import install
from gateway.placement.workflow_types import ManualClock
from gateway.settings import Settings
from tests.conftest import bearer
from tests.notify.receiver import Receiver
from tests.placement.workflow.support import (
    FACILITIES,
    ORIGIN,
    finder,
    read,
    service_request,
)

Resource = dict[str, Any]


@pytest.fixture()
def api(
    seeded: Database, settings: Settings, keystore: KeyStore, clock: ManualClock
) -> Iterator[TestClient]:
    app = create_app(settings, db=seeded, keys=keystore)
    install(app, candidates=finder(FACILITIES), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def auth(client: TestClient, agency: str, role: str = "facility_system") -> dict[str, str]:
    return bearer(client.app, agency=agency, role=role, client_id=f"{agency}-client")


def subscription(topic: str, endpoint: str, **channel: Any) -> Resource:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "placement tasks",
        "criteria": canonical(topic),
        "channel": {"type": "rest-hook", "endpoint": endpoint, **channel},
    }


def test_subscribe_returns_the_secret_once_and_stores_the_backport_shape(
    api: TestClient, receiver: Receiver, seeded: Database, clock: ManualClock
) -> None:
    receiver.start()
    body = subscription("new-placement-task", receiver.url, header=["Authorization: Bearer abc"])
    response = api.post("/notify/subscriptions", json=body, headers=auth(api, "org-f1"))
    assert response.status_code == 201, response.text
    secret = response.headers["X-Subscription-Secret"]
    assert len(secret) >= 43 and response.headers["Cache-Control"] == "no-store"
    stored = response.json()
    assert stored["status"] == "requested"
    assert stored["meta"]["source"] == "urn:gateway:agency:org-f1"
    assert stored["_criteria"]["extension"] == [
        {"url": FILTER_CRITERIA, "valueString": "Task?owner=Organization/org-f1"}
    ]
    assert stored["channel"]["_payload"]["extension"] == [
        {"url": PAYLOAD_CONTENT, "valueCode": "id-only"}
    ]
    assert secret not in response.text
    app_deliverer(api.app, timeout=2).run_once(clock.now())
    assert receiver.got[0].headers["authorization"] == "Bearer abc"
    assert read(seeded, "Subscription", stored["id"])["status"] == "active"
    status = api.get(f"/notify/subscriptions/{stored['id']}/$status", headers=auth(api, "org-f1"))
    kinds = {p["name"]: p for p in status.json()["parameter"]}
    assert kinds["type"]["valueCode"] == "query-status" and kinds["status"]["valueCode"] == "active"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"criteria": "Task?status=requested"}, 400),  # R4 query criteria: not a topic
        ({"channel": {"type": "websocket", "endpoint": "http://127.0.0.1:1/x"}}, 400),
        ({"channel": {"type": "rest-hook", "endpoint": "ftp://host/x"}}, 400),
        (
            {
                "channel": {
                    "type": "rest-hook",
                    "endpoint": "http://h/x",
                    "header": ["X-Signature: 1"],
                }
            },
            400,
        ),
        ({"channel": {"type": "rest-hook", "endpoint": "http://h/x", "payload": "text/xml"}}, 400),
        (
            {
                "_criteria": {
                    "extension": [
                        {"url": FILTER_CRITERIA, "valueString": "Task?owner=Organization/org-f2"}
                    ]
                }
            },
            403,
        ),
    ],
)
def test_subscriptions_the_gateway_refuses(api: TestClient, change: Resource, status: int) -> None:
    body = {**subscription("new-placement-task", "http://127.0.0.1:1/hook"), **change}
    response = api.post("/notify/subscriptions", json=body, headers=auth(api, "org-f1"))
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_delivery_status_is_visible_to_its_agency_only(
    api: TestClient, receiver: Receiver, seeded: Database, clock: ManualClock
) -> None:
    body = subscription("placement-status", receiver.url)
    sid = api.post("/notify/subscriptions", json=body, headers=auth(api, "hosp-a")).json()["id"]
    opened = api.post(
        f"/placement/requests?near={ORIGIN[0]},{ORIGIN[1]}",
        json=service_request(),
        headers=auth(api, "hosp-a", "hospital_ehr"),
    )
    assert opened.status_code == 201
    app_deliverer(api.app, timeout=2).run_once(clock.now())  # receiver down: one failure
    got = api.get(f"/notify/deliveries?subscription={sid}", headers=auth(api, "hosp-a")).json()
    assert got["total"] == 2
    assert got["subscription"]["messagesPending"] == 2
    assert got["subscription"]["consecutiveFailures"] == 1
    head = got["deliveries"][0]
    assert (head["type"], head["status"], head["attempts"]) == ("handshake", "pending", 1)
    assert "could not be reached" in head["lastError"]
    receiver.start()
    app_deliverer(api.app, timeout=2).run_once(clock.now() + 10)
    got = api.get(
        f"/notify/deliveries?subscription={sid}&status=delivered", headers=auth(api, "hosp-a")
    ).json()
    assert [d["type"] for d in got["deliveries"]] == ["handshake", "event-notification"]
    assert got["subscription"]["status"] == "active"
    other = api.get(f"/notify/deliveries?subscription={sid}", headers=auth(api, "org-f1"))
    assert other.status_code == 403
    auditor = auth(api, "bha", "bha_auditor")
    assert api.get(f"/notify/deliveries?subscription={sid}", headers=auditor).status_code == 200
    listed = api.get("/notify/subscriptions", headers=auth(api, "org-f1")).json()["subscriptions"]
    assert listed == []
    assert (
        api.delete(f"/notify/subscriptions/{sid}", headers=auth(api, "org-f1")).status_code == 403
    )
    assert (
        api.delete(f"/notify/subscriptions/{sid}", headers=auth(api, "hosp-a")).status_code == 204
    )
    mine = api.get("/notify/subscriptions", headers=auth(api, "hosp-a")).json()["subscriptions"]
    assert [s["status"] for s in mine] == ["off"]
