"""Done-when for referrals, over real HTTP: an HL7 REF^I12 from the shared samples and a police
crisis record asking for follow-up each become a routed referral that the receiving organisation
receives, accepts, books and completes, and the referrer hears of every step at its own webhook
(a real receiver, rest-hook Subscriptions, the gateway's own background workers)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.notify.topics import PAYLOAD_CONTENT, REFERRAL_STATUS, canonical
from gateway.referral.setup import install
from gateway.referral.types import ReferralConfig
from gateway.settings import Settings
from tests.adapters.police_rms.samples import full_record
from tests.conftest import bearer
from tests.notify.receiver import Receiver
from tests.referral.support import CLINIC, CRISIS, HOSPITAL, POLICE, seed
from tests.referral.test_intake import SAMPLE, directory_role, referred_to_practitioner
from tests.support.live import live_server

STEPS = ["requested", "received", "accepted", "in-progress", "completed"]


@pytest.fixture()
def gateway(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[tuple[str, Any]]:
    seed(db, crisis_hours=False)  # the crisis team is on duty around the clock
    directory_role(db, referred_to_practitioner(SAMPLE.read_bytes()), CLINIC)
    app = create_app(settings, db=db, keys=keystore)
    install(app, config=ReferralConfig(timer_seconds=0.3, timezone="America/Chicago"))
    with live_server(app) as base:
        yield base, app


def auth(
    app: Any, agency: str, role: str, purposes: tuple[str, ...] = ("TREAT",)
) -> dict[str, str]:
    return bearer(app, agency=agency, role=role, client_id=f"{agency}-client", purposes=[*purposes])


def subscribe(base: str, headers: dict[str, str], url: str) -> None:
    body = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "my referrals",
        "criteria": canonical(REFERRAL_STATUS),
        "channel": {
            "type": "rest-hook",
            "endpoint": url,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": "full-resource"}]},
        },
    }
    response = httpx.post(f"{base}/notify/subscriptions", json=body, headers=headers)
    assert response.status_code == 201, response.text


def wait_for_queue(base: str, headers: dict[str, str], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = httpx.get(f"{base}/referrals/queue", headers=headers).json()["items"]
        if items:
            assert len(items) == 1, items
            return dict(items[0])
        time.sleep(0.2)
    raise AssertionError("the referral never reached the receiver's queue")


def close_the_loop(base: str, task_id: str, headers: dict[str, str]) -> None:
    for op, body in (
        ("$receive", {}),
        ("$accept", {}),
        ("$book", {"appointment": {"start": "2026-12-03T15:00:00Z"}}),
        ("$complete", {"outcome": "seen", "text": "first appointment kept"}),
    ):
        response = httpx.post(f"{base}/referrals/{task_id}/{op}", json=body, headers=headers)
        assert response.status_code == 200, f"{op}: {response.text}"


def task_statuses(receiver: Receiver, task_id: str) -> list[str]:
    out = []
    for got in receiver.got:
        if got.kind != "event-notification":
            continue
        for entry in got.bundle["entry"][1:]:
            doc = entry.get("resource") or {}
            if doc.get("resourceType") == "Task" and doc.get("id") == task_id:
                out.append(doc["status"])
    return out


def wait_for_statuses(receiver: Receiver, task_id: str, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = task_statuses(receiver, task_id)
        if len(seen) >= len(STEPS):
            return seen
        time.sleep(0.2)
    return task_statuses(receiver, task_id)


def test_hl7_and_police_referrals_close_the_loop_over_http(
    gateway: tuple[str, Any],
) -> None:
    base, app = gateway
    hospital_hook, police_hook = Receiver(), Receiver()
    hospital_hook.start()
    police_hook.start()
    try:
        hospital = auth(app, HOSPITAL, "hospital_ehr")
        # the police records system asserts law enforcement, as the registered demo client does
        police = auth(app, POLICE, "police_rms", ("HLEGAL", "THREAT"))
        subscribe(base, hospital, hospital_hook.url)
        subscribe(base, police, police_hook.url)
        sent = httpx.post(
            f"{base}/ingest/hl7v2",
            content=SAMPLE.read_bytes(),
            headers={**hospital, "Content-Type": "x-application/hl7-v2+er7"},
        )
        assert sent.status_code in (200, 201), sent.text
        sent = httpx.post(
            f"{base}/ingest/police-rms",
            content=orjson.dumps(full_record()),
            headers={**police, "Content-Type": "application/json"},
        )
        assert sent.status_code in (200, 201), sent.text

        clinic = auth(app, CLINIC, "bha_system")
        team = auth(app, CRISIS, "crisis_team_system")
        hl7_item = wait_for_queue(base, clinic)
        police_item = wait_for_queue(base, team)
        assert hl7_item["routed_by"] == "addressed" and hl7_item["referrer"] == HOSPITAL
        assert police_item["routed_by"] == "directory" and police_item["referrer"] == POLICE
        close_the_loop(base, hl7_item["task"]["id"], clinic)
        close_the_loop(base, police_item["task"]["id"], team)

        assert wait_for_statuses(hospital_hook, hl7_item["task"]["id"]) == STEPS
        assert wait_for_statuses(police_hook, police_item["task"]["id"]) == STEPS
        # Each referrer hears of its own referrals only.
        assert task_statuses(hospital_hook, police_item["task"]["id"]) == []
        status = httpx.get(f"{base}/referrals/{hl7_item['task']['id']}", headers=hospital)
        assert status.json()["state"] == "completed" and status.json()["outcome"] == "seen"
    finally:
        hospital_hook.stop()
        police_hook.stop()
