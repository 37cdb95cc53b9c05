"""``POST /fhir/Subscription`` is a subscription like ``POST /notify/subscriptions``, over real HTTP:
the secret comes back once, deliveries are signed with it; changes are refused, DELETE switches off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.notify.signing import verify
from gateway.notify.topics import FILTER_CRITERIA, canonical
from gateway.notify.worker import app_deliverer
from gateway.placement.workflow_setup import install
from gateway.placement.workflow_types import ManualClock
from gateway.settings import Settings
from tests.conftest import bearer
from tests.notify.receiver import Receiver
from tests.placement.workflow.support import BASE, FACILITIES, finder
from tests.support.live import live_server

Resource = dict[str, Any]
FHIR = {"Content-Type": "application/fhir+json"}


class Live:
    def __init__(self, app: Any, http: httpx.Client) -> None:
        self.app, self.http = app, http

    def send(self, method: str, path: str, agency: str, body: Any = None) -> httpx.Response:
        token = bearer(self.app, agency=agency, role="facility_system", client_id=f"{agency}-c")
        content = None if body is None else orjson.dumps(body)
        return self.http.request(method, path, content=content, headers={**FHIR, **token})


@pytest.fixture()
def live(
    seeded: Database, settings: Settings, keystore: KeyStore, clock: ManualClock
) -> Iterator[Live]:
    app = create_app(settings, db=seeded, keys=keystore, background_workers=False)
    install(app, candidates=finder(FACILITIES), clock=clock)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        yield Live(app, http)


def subscription(endpoint: str) -> Resource:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "placement tasks for our intake desk",
        "criteria": canonical("new-placement-task"),
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"},
    }


def test_post_fhir_subscription_subscribes_and_signs_with_the_returned_secret(
    live: Live, receiver: Receiver, seeded: Database, clock: ManualClock
) -> None:
    receiver.start()
    response = live.send("POST", "/fhir/Subscription", "org-f1", subscription(receiver.url))
    assert response.status_code == 201, response.text
    secret = response.headers["X-Subscription-Secret"]
    assert len(secret) >= 43 and response.headers["Cache-Control"] == "no-store"
    stored = response.json()
    assert stored["status"] == "requested" and secret not in response.text
    assert stored["_criteria"]["extension"] == [
        {"url": FILTER_CRITERIA, "valueString": "Task?owner=Organization/org-f1"}
    ]
    assert response.headers["Location"].startswith(f"{BASE}/Subscription/{stored['id']}/")
    listed = live.send("GET", "/notify/subscriptions", "org-f1")
    assert [s["id"] for s in listed.json()["subscriptions"]] == [stored["id"]]
    app_deliverer(live.app, timeout=2).run_once(clock.now())
    [handshake] = receiver.got
    assert verify(secret, handshake.body, handshake.headers)
    assert not verify("another-secret", handshake.body, handshake.headers)


def test_a_bad_subscription_is_a_located_400(live: Live) -> None:
    body = subscription("ftp://example.org/hook")
    response = live.send("POST", "/fhir/Subscription", "org-f1", body)
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["expression"]
    assert "X-Subscription-Secret" not in response.headers


def test_changes_are_refused_and_delete_switches_off(live: Live, receiver: Receiver) -> None:
    created = live.send("POST", "/fhir/Subscription", "org-f1", subscription(receiver.url))
    sid = created.json()["id"]
    changed = {**created.json(), "channel": {**created.json()["channel"], "endpoint": "http://x"}}
    refused = live.send("PUT", f"/fhir/Subscription/{sid}", "org-f1", changed)
    assert refused.status_code == 409, refused.text
    assert refused.json()["resourceType"] == "OperationOutcome"
    other = live.send("DELETE", f"/fhir/Subscription/{sid}", "org-f2")
    assert other.status_code == 403, other.text
    deleted = live.send("DELETE", f"/fhir/Subscription/{sid}", "org-f1")
    assert deleted.status_code == 204, deleted.text
    [row] = live.send("GET", "/notify/subscriptions", "org-f1").json()["subscriptions"]
    assert row["status"] == "off"


def test_a_subscription_cannot_be_created_inside_a_bundle(live: Live, receiver: Receiver) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": subscription(receiver.url),
                "request": {"method": "POST", "url": "Subscription"},
            }
        ],
    }
    response = live.send("POST", "/fhir", "org-f1", bundle)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0].resource"]
    assert live.send("GET", "/notify/subscriptions", "org-f1").json()["subscriptions"] == []
