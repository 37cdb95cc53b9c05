"""Notifications under the sharing rules, as subscribers, their receivers and auditors see them.

A subscription may only name a topic the rules could ever show its owner (403 naming the policies
otherwise, on ``/notify`` and over FHIR); who subscribed is taken from the token and stored. Each
notification is decided for its subscriber when it is sent: what the rules withhold is left out
(an event whose focus is withheld arrives empty, its number kept), ``id-only`` references likewise,
a Part 2 disclosure carries the 42 CFR 2.32 notice, a disabled client or a withdrawn agreement
stops what it stopped, and every attempt's decisions and withheld resources are in the audit trail,
written with the attempt's record (no audit, no "delivered").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.audit.checkpoint import sequence
from gateway.audit.errors import AuditUnavailable
from gateway.audit.log import AuditLog
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.notify.outbox import Notice
from gateway.notify.subscriber import SUBSCRIBER_EXT
from gateway.notify.topics import NEW_PLACEMENT_TASK, PLACEMENT_STATUS, REFERRAL_ESCALATION
from gateway.notify.worker import app_deliverer
from gateway.placement.workflow_types import ManualClock
from gateway.settings import Settings
from gateway.sharing.for_subscriber import SubscriberGuards
from policies.agreements import EXAMPLE_PATH, AgreementSet
from tests.conftest import bearer
from tests.notify.receiver import Receiver
from tests.notify.sharing_support import (
    FACILITY,
    deliver,
    events_by_subscription,
    gateway_app,
    pending,
    publish,
    subscribe,
    subscription,
)
from tests.sharing.conftest import as_
from tests.sharing.leakage import (
    CRISIS_TEAM,
    add_consent,
    police_safe,
    same_content,
    seed,
    stored_content,
)

Resource = dict[str, Any]
POLICE = "demo-amarillo-pd"
NOTICE = "urn:gateway:notice"


@pytest.fixture()
def app(db: Database, settings: Settings, keystore: KeyStore, clock: ManualClock) -> FastAPI:
    return gateway_app(db, settings, keystore, clock)


@pytest.fixture()
def client(app: FastAPI, receiver: Receiver) -> Iterator[TestClient]:
    receiver.start()
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def officer(client: TestClient, **claims: Any) -> dict[str, str]:
    return as_(client, "police_officer", POLICE, ["HLEGAL"], **claims)


def auditor(client: TestClient) -> dict[str, str]:
    return as_(client, "bha_auditor", "demo-tpc", ["HOPERAT"])


def keys_of(writer: dict[tuple[str, str], str], rtype: str) -> list[str]:
    return [rid for (t, rid) in writer if t == rtype]


def condition(client: TestClient, writer: dict[tuple[str, str], str], code: str) -> Resource:
    for rid in keys_of(writer, "Condition"):
        doc = stored_content(client, "Condition", rid)
        if doc["code"]["coding"][0]["code"] == code:
            return doc
    raise AssertionError(f"no Condition {code} was seeded")


def audit_rows(client: TestClient, **params: str) -> list[Resource]:
    sequence(client.app.state.db)  # what the background sequencer does every second
    response = client.get("/audit/events", params=params, headers=auditor(client))
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


@pytest.mark.parametrize(
    ("role", "agency", "purposes", "topic", "policy"),
    [
        ("bha_auditor", "demo-tpc", ["HOPERAT"], PLACEMENT_STATUS, "oversight.no-clinical-content"),
        ("gateway_admin", "demo-tpc", ["HOPERAT"], NEW_PLACEMENT_TASK, "oversight.no-clinical-"),
        ("program_reader", "demo-tpc", ["HOPERAT"], PLACEMENT_STATUS, "oversight.no-clinical-"),
        ("police_officer", POLICE, ["HLEGAL"], REFERRAL_ESCALATION, "police.never-sensitive"),
        ("police_officer", POLICE, ["TREAT"], PLACEMENT_STATUS, "default-deny"),
    ],
)
def test_a_topic_the_rules_never_show_cannot_be_subscribed_to(
    client: TestClient,
    receiver: Receiver,
    role: str,
    agency: str,
    purposes: list[str],
    topic: str,
    policy: str,
) -> None:
    headers = as_(client, role, agency, purposes)
    body = subscription(topic, receiver.url)
    for path in ("/notify/subscriptions", "/fhir/Subscription"):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 403, response.text
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        text = outcome["issue"][0]["diagnostics"]
        assert f"a subscription to {topic} refused by policy" in text and policy in text, text
    listed = client.get("/notify/subscriptions", headers=auditor(client)).json()
    assert listed["subscriptions"] == []  # nothing was stored


def test_topics_the_rules_can_show_are_subscribed_to_and_the_subscriber_is_the_token(
    client: TestClient, receiver: Receiver
) -> None:
    forged = subscription(PLACEMENT_STATUS, receiver.url)
    forged["extension"] = [
        {
            "url": SUBSCRIBER_EXT,
            "extension": [
                {"url": "client", "valueString": "someone-else"},
                {"url": "role", "valueCode": "crisis_clinician"},
            ],
        }
    ]
    headers = officer(client, **{"X-BTG-Reason": "trying to keep emergency access"})
    token = bearer(
        client.app,
        role="police_officer",
        agency=POLICE,
        purposes=["HLEGAL", "BTG"],
        user="officer.lee",
        client_id="pd-console",
    )
    response = client.post("/notify/subscriptions", json=forged, headers={**headers, **token})
    assert response.status_code == 201, response.text
    [stored] = [e for e in response.json()["extension"] if e["url"] == SUBSCRIBER_EXT]
    assert stored["extension"] == [
        {"url": "client", "valueString": "pd-console"},
        {"url": "role", "valueCode": "police_officer"},
        {"url": "user", "valueString": "officer.lee"},
        {
            "url": "purpose",
            "valueCoding": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "HLEGAL",
            },
        },
    ]  # never break-the-glass
    facility = as_(client, "facility_intake", FACILITY, ["TREAT"])
    assert subscribe(client, facility, NEW_PLACEMENT_TASK, receiver.url)


def test_full_resource_leaves_out_what_the_subscriber_may_not_see(
    client: TestClient, receiver: Receiver, clock: ManualClock
) -> None:
    patient, writer = seed(client)
    sid = subscribe(client, officer(client), PLACEMENT_STATUS, receiver.url)
    person = stored_content(client, "Patient", patient)
    depressed = condition(client, writer, "F32.9")
    visit = stored_content(client, "Encounter", keys_of(writer, "Encounter")[0])
    context = (depressed, visit)
    publish(
        client.app,
        clock.now(),
        [Notice(PLACEMENT_STATUS, POLICE, person, (person, *context), context)],
    )
    deliver(client.app, clock.now())
    [event] = events_by_subscription(receiver)[sid]
    assert event.focus == f"Patient/{patient}"
    assert event.context == (f"Encounter/{visit['id']}",)
    assert set(event.resources) == {f"Patient/{patient}", f"Encounter/{visit['id']}"}
    assert f"Condition/{depressed['id']}" not in event.body
    assert police_safe(event.body) == []
    # each resource exactly as a read of it shows the same officer
    for ref, shown in event.resources.items():
        read = client.get(f"/fhir/{ref}", headers=officer(client))
        assert read.status_code == 200 and same_content(shown, read.json()), ref
    assert "birthDate" in event.resources[f"Patient/{patient}"]  # the law-enforcement view
    assert "reasonCode" not in event.resources[f"Encounter/{visit['id']}"]  # F32.9 is no injury


def test_id_only_leaves_out_references_the_subscriber_may_not_read(
    client: TestClient, receiver: Receiver, clock: ManualClock
) -> None:
    patient, writer = seed(client)
    sid = subscribe(client, officer(client), PLACEMENT_STATUS, receiver.url, "id-only")
    person = stored_content(client, "Patient", patient)
    depressed = condition(client, writer, "F32.9")
    visit = stored_content(client, "Encounter", keys_of(writer, "Encounter")[0])
    context = (depressed, visit)
    publish(
        client.app,
        clock.now(),
        [Notice(PLACEMENT_STATUS, POLICE, person, (person, *context), context)],
    )
    deliver(client.app, clock.now())
    [event] = events_by_subscription(receiver)[sid]
    assert (event.focus, event.context, event.resources) == (
        f"Patient/{patient}",
        (f"Encounter/{visit['id']}",),
        {},
    )


def test_an_event_whose_focus_is_withheld_arrives_empty_and_in_order(
    client: TestClient, receiver: Receiver, clock: ManualClock
) -> None:
    patient, writer = seed(client)
    sid = subscribe(client, officer(client), PLACEMENT_STATUS, receiver.url)
    hiv = condition(client, writer, "B20")
    person = stored_content(client, "Patient", patient)
    notices = [
        Notice(PLACEMENT_STATUS, POLICE, hiv, (hiv, person), (person,)),
        Notice(PLACEMENT_STATUS, POLICE, person, (person,)),
    ]
    publish(client.app, clock.now(), notices)
    deliver(client.app, clock.now())
    first, second = events_by_subscription(receiver)[sid]
    assert (first.number, second.number) == (1, 2)
    assert first.empty  # not even the Patient the event had as context
    assert hiv["id"] not in first.body and patient not in first.body
    assert second.focus == f"Patient/{patient}"
    listed = client.get(f"/notify/deliveries?subscription={sid}", headers=officer(client)).json()
    assert [d["status"] for d in listed["deliveries"]] == ["delivered"] * 3
    # the delivery log does not name the withheld focus either (oversight roles see it)
    assert [d["focus"] for d in listed["deliveries"]] == [None, None, f"Patient/{patient}"]
    logged = client.get(f"/notify/deliveries?subscription={sid}", headers=auditor(client)).json()
    assert logged["deliveries"][1]["focus"] == f"Condition/{hiv['id']}"


def test_a_part2_disclosure_carries_the_notice(
    client: TestClient, receiver: Receiver, clock: ManualClock
) -> None:
    patient, writer = seed(client)
    add_consent(client, patient, "part2-for-crisis-team", writer)
    clinician = as_(client, "crisis_clinician", CRISIS_TEAM, ["TREAT"])
    sid = subscribe(client, clinician, PLACEMENT_STATUS, receiver.url)
    sud = condition(client, writer, "F11.20")
    publish(client.app, clock.now(), [Notice(PLACEMENT_STATUS, CRISIS_TEAM, sud, (sud,))])
    deliver(client.app, clock.now())
    [event] = events_by_subscription(receiver)[sid]
    shown = event.resources[f"Condition/{sud['id']}"]
    assert [t["code"] for t in shown["meta"]["tag"] if t["system"] == NOTICE] == ["42CFR2.32"]
    read = client.get(f"/fhir/Condition/{sud['id']}", headers=clinician).json()
    assert shown == read


def test_every_attempt_is_audited_with_its_decisions_and_what_was_withheld(
    client: TestClient, receiver: Receiver, clock: ManualClock
) -> None:
    patient, writer = seed(client)
    token = bearer(
        client.app, role="police_officer", agency=POLICE, purposes=["HLEGAL"], client_id="pd-hook"
    )
    sid = subscribe(client, {**officer(client), **token}, PLACEMENT_STATUS, receiver.url)
    deliver(client.app, clock.now())  # the handshake
    person = stored_content(client, "Patient", patient)
    depressed = condition(client, writer, "F32.9")
    publish(
        client.app,
        clock.now(),
        [Notice(PLACEMENT_STATUS, POLICE, person, (person, depressed), (depressed,))],
    )
    receiver.status = 503
    deliver(client.app, clock.now())  # one failed attempt, decided and audited too
    receiver.status = 200
    deliver(client.app, clock.now() + 60)
    rows = [r for r in audit_rows(client, agent="pd-hook") if r["kind"].startswith("110")]
    exports = [r for r in rows if r["kind"].startswith("110106")]
    withheld = [r for r in rows if r["kind"].startswith("110113")]
    assert [r["outcome"] for r in exports] == ["4", "0"]  # the failed attempt, then the delivery
    assert [r["disclosure"] for r in exports] == [False, True]  # HLEGAL: accounted for
    assert all(r["patients"] == [f"Patient/{patient}"] for r in exports)
    assert all(f"Patient/{patient}" in r["what"] for r in exports)
    assert [r["outcome"] for r in withheld] == ["8", "8"]
    assert all(f"Condition/{depressed['id']}" in r["what"] for r in withheld)
    assert "Leakcheck" not in str(rows)
    accounting = client.get(
        "/audit/accounting", params={"patient": f"Patient/{patient}"}, headers=auditor(client)
    ).json()
    assert [d["recipient"] for d in accounting["disclosures"] if d["recipient"] == POLICE] == [
        POLICE
    ]
    events = client.get(
        f"/fhir/AuditEvent?entity=Condition/{depressed['id']}&_count=50",
        headers={**auditor(client), "Accept": "application/fhir+json"},
    ).json()
    alerts = [e["resource"] for e in events.get("entry", [])]
    assert alerts, events
    policies = {p for e in alerts for a in e["agent"] for p in a.get("policy", [])}
    assert any("police.never-sensitive" in p for p in policies), policies
    assert pending(client.app, sid) == 0


def test_a_delivery_whose_audit_fails_is_not_marked_delivered_and_is_sent_again(
    client: TestClient, receiver: Receiver, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient, _ = seed(client)
    sid = subscribe(client, officer(client), PLACEMENT_STATUS, receiver.url)
    deliver(client.app, clock.now())  # the handshake
    person = stored_content(client, "Patient", patient)
    publish(client.app, clock.now(), [Notice(PLACEMENT_STATUS, POLICE, person, (person,))])

    def broken(self: AuditLog, session: Any, event: dict[str, Any]) -> str:
        raise AuditUnavailable("the audit trail cannot be written")

    monkeypatch.setattr(AuditLog, "append", broken)
    deliverer = app_deliverer(client.app, timeout=5)
    with pytest.raises(AuditUnavailable):
        deliverer.run_once(clock.now())
    monkeypatch.undo()
    assert pending(client.app, sid) == 1
    deliver(client.app, clock.now())
    events = [g for g in receiver.got if g.kind == "event-notification"]
    assert len(events) == 2 and events[0].event_id == events[1].event_id  # the same message again
    assert pending(client.app, sid) == 0
    exports = [r for r in audit_rows(client, agent="test-client") if r["kind"].startswith("110106")]
    assert len(exports) == 1


def test_a_disabled_client_receives_nothing_more(
    client: TestClient, receiver: Receiver, clock: ManualClock
) -> None:
    patient, _ = seed(client)
    admin = as_(client, "gateway_admin", "demo-tpc", ["HOPERAT"])
    registered = {
        "client_id": "pd-records",
        "agency": POLICE,
        "role": "police_rms",
        "scope": "system/*.cruds",
        "jwks_url": "https://records.example.org/jwks.json",
        "purposes": ["HLEGAL"],
    }
    assert client.post("/admin/clients", json=registered, headers=admin).status_code == 201
    token = bearer(
        client.app, role="police_rms", agency=POLICE, purposes=["HLEGAL"], client_id="pd-records"
    )
    sid = subscribe(client, {**officer(client), **token}, PLACEMENT_STATUS, receiver.url)
    person = stored_content(client, "Patient", patient)
    publish(client.app, clock.now(), [Notice(PLACEMENT_STATUS, POLICE, person, (person,))] * 2)
    first_pass = app_deliverer(client.app, timeout=5, batch=2)
    assert first_pass.run_once(clock.now()).delivered == 2  # the handshake and the first event
    first_pass.client.close()
    response = client.patch("/admin/clients/pd-records", json={"enabled": False}, headers=admin)
    assert response.status_code == 200, response.text
    deliver(client.app, clock.now())
    first, second = events_by_subscription(receiver)[sid]
    assert first.focus == f"Patient/{patient}" and second.empty
    [alert] = [r for r in audit_rows(client, agent="pd-records") if r["kind"].startswith("110113")]
    assert alert["outcome"] == "8" and f"Patient/{patient}" in alert["what"]


def test_an_agreement_withdrawn_before_delivery_takes_effect(
    client: TestClient, receiver: Receiver, clock: ManualClock, tmp_path: Path
) -> None:
    patient, _ = seed(client)
    sid = subscribe(client, officer(client), PLACEMENT_STATUS, receiver.url)
    person = stored_content(client, "Patient", patient)
    publish(client.app, clock.now(), [Notice(PLACEMENT_STATUS, POLICE, person, (person,))])
    # the partnership withdrew its agreements and the gateway restarted with them
    withdrawn = tmp_path / "withdrawn.toml"
    withdrawn.write_text(EXAMPLE_PATH.read_text().split("[[agreement]]", 1)[0], encoding="utf-8")
    deliver(client.app, clock.now(), guards=SubscriberGuards(AgreementSet.load(withdrawn)))
    [event] = events_by_subscription(receiver)[sid]
    assert event.empty
    # the same event under the agreements is the law-enforcement view of the patient
    publish(client.app, clock.now(), [Notice(PLACEMENT_STATUS, POLICE, person, (person,))])
    deliver(client.app, clock.now())
    assert events_by_subscription(receiver)[sid][1].focus == f"Patient/{patient}"
