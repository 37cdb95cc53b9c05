"""Notifications under the sharing rules: a gateway of the demo partnership with a facility, no
background workers (the test decides when the delivery worker runs), subscribers speaking through
the API, events published through the real outbox, and what the receiver got, per subscription."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.db.tables_placement import NotifyOutboxRow
from gateway.fhir.service import ResourceService
from gateway.notify.outbox import Notice, Outbox
from gateway.notify.subscriptions import create_subscription
from gateway.notify.topics import PAYLOAD_CONTENT, canonical
from gateway.notify.worker import app_deliverer
from gateway.placement.workflow_setup import install
from gateway.placement.workflow_types import ManualClock
from gateway.settings import Settings
from tests.notify.receiver import Received, Receiver
from tests.placement.workflow.support import ORIGIN, Facility, finder
from tests.placement.workflow.support import seed as seed_facilities
from tests.sharing.conftest import AGENCIES

Resource = dict[str, Any]
BASE = "http://testserver/fhir"
FACILITY = "sunrise-psych"  # a facility of the demo partnership (policies/agreements/example.toml)
SUNRISE = Facility(FACILITY, "sunrise-adult-unit", ORIGIN[0] + 0.05, ORIGIN[1])
REQUESTER = "demo-panhandle-regional"  # the hospital of tests/sharing/leakage.py
REGISTERED = {**AGENCIES, FACILITY: "facility"}


def gateway_app(
    db: Database, settings: Settings, keystore: KeyStore, clock: ManualClock
) -> FastAPI:
    """The app over ``db`` with the partnership's agencies registered and one facility to ask."""
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in REGISTERED.items():
            registry.add_agency(agency, kind, agency)
    seed_facilities(db, [SUNRISE], beds=3)
    with db.unit_of_work() as session:  # the requester a placement request names
        org = {"resourceType": "Organization", "id": REQUESTER, "name": "Panhandle Regional"}
        ResourceService(session, BASE).update("Organization", REQUESTER, org)
    app = create_app(settings, db=db, keys=keystore, background_workers=False)
    install(app, candidates=finder([SUNRISE]), clock=clock)
    return app


def subscription(topic: str, endpoint: str, content: str = "full-resource") -> Resource:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "what the rules let us see",
        "criteria": canonical(topic),
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
        },
    }


def subscribe(
    client: TestClient,
    headers: dict[str, str],
    topic: str,
    endpoint: str,
    content: str = "full-resource",
) -> str:
    """Subscribe through ``POST /notify/subscriptions``; the subscription id."""
    response = client.post(
        "/notify/subscriptions", json=subscription(topic, endpoint, content), headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def subscribe_beneath_the_api(
    app: FastAPI, caller: Any, topic: str, endpoint: str, now: float
) -> str:
    """A subscription stored without the API's topic check (as one made before the check existed,
    or by an internal caller): delivery must still decide every notification."""
    with app.state.db.unit_of_work() as session:
        stored, _ = create_subscription(
            ResourceService(session, BASE),
            caller,
            subscription(topic, endpoint),
            now=now,
            https_only=False,
        )
    return stored.rid


def publish(app: FastAPI, now: float, notices: Iterable[Notice]) -> None:
    """Raise events through the transactional outbox, as the workflows do."""
    with app.state.db.unit_of_work() as session:
        outbox = Outbox(session, BASE, now)
        for notice in notices:
            outbox.publish(notice)
        outbox.flush()


def deliver(app: FastAPI, now: float, **options: Any) -> None:
    """Run the app's delivery worker until nothing is left to send."""
    deliverer = app_deliverer(app, **{"timeout": 5, "limit": 100, "batch": 500, **options})
    try:
        for _ in range(20):
            if deliverer.run_once(now).claimed == 0:
                return
        raise AssertionError("messages were still pending after 20 delivery passes")
    finally:
        deliverer.client.close()


def pending(app: FastAPI, sid: str) -> int:
    """How many messages of ``sid`` are still waiting."""
    with app.state.db.unit_of_work() as session:
        rows = session.execute(
            select(NotifyOutboxRow.pk).where(
                NotifyOutboxRow.subscription_id == sid, NotifyOutboxRow.status == "pending"
            )
        )
        return len(rows.all())


@dataclass(frozen=True)
class Event:
    """One event notification as a subscriber received it."""

    number: int
    focus: str | None  # Type/id
    context: tuple[str, ...]
    resources: dict[str, Resource]  # Type/id -> content
    body: str

    @property
    def empty(self) -> bool:
        return self.focus is None and not self.context and not self.resources


def _local(reference: str) -> str:
    return "/".join(reference.split("/")[-2:])


def event_of(got: Received) -> Event:
    bundle = got.bundle
    params = bundle["entry"][0]["resource"]["parameter"]
    part = next(p["part"] for p in params if p["name"] == "notification-event")
    refs = [
        (p["name"], _local(p["valueReference"]["reference"])) for p in part if "valueReference" in p
    ]
    resources = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
        for e in bundle["entry"][1:]
    }
    return Event(
        number=int(next(p["valueString"] for p in part if p["name"] == "event-number")),
        focus=next((r for n, r in refs if n == "focus"), None),
        context=tuple(r for n, r in refs if n == "additional-context"),
        resources=resources,
        body=got.body.decode(),
    )


def events_by_subscription(receiver: Receiver) -> dict[str, list[Event]]:
    """Every event notification received, per subscription id, in the order received."""
    out: dict[str, list[Event]] = {}
    for got in receiver.got:
        if got.kind != "event-notification":
            continue
        params = got.bundle["entry"][0]["resource"]["parameter"]
        sid = _local(
            next(p for p in params if p["name"] == "subscription")["valueReference"]["reference"]
        )
        out.setdefault(sid.split("/")[1], []).append(event_of(got))
    return out


def listed_focus(client: TestClient, headers: dict[str, str], sid: str) -> dict[int, str | None]:
    """Event number -> the focus ``GET /notify/deliveries`` shows the caller for it."""
    response = client.get(f"/notify/deliveries?subscription={sid}&_count=1000", headers=headers)
    assert response.status_code == 200, response.text
    return {
        int(d["eventNumber"]): d["focus"]
        for d in response.json()["deliveries"]
        if d["type"] == "event-notification"
    }


def as_json(doc: Any) -> str:
    return orjson.dumps(doc).decode()
