"""The leakage matrix over notifications: every subscriber receives exactly what the sharing rules
allow it, decided when the notification is sent (issue "Sharing rules": subscriptions are an access
path like any read).

Subscribers of every kind (police officers, CIT officers and the police records system; crisis
clinicians and systems, case managers, ED clinicians and hospital systems; facility intake users
and systems before and after their facility accepts; auditors and administrators) subscribe through
the API and a real webhook receiver gets what the delivery worker sends. The expected content is
the matrix oracle's (``tests/sharing/leakage.py``: the pure decision on the stored resource with the
relationships this test set up itself), never the gateway's own fact queries.

Two kinds of events: the outbox fed directly with one event per seeded resource of every data
class (any topic a workflow may raise in future goes through the same delivery decision), and a
real placement request opened through ``/placement``, answered by the facility. Police must never
receive a mental-health, substance-use, psychotherapy-note or HIV label or code in a notification,
whatever an oracle says.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.notify.topics import NEW_PLACEMENT_TASK, PLACEMENT_STATUS
from gateway.placement.workflow_types import ManualClock
from gateway.settings import Settings
from tests.notify.leakage_checks import (
    PlacementOracle,
    assert_as_decided_now,
    check_asked,
    check_events,
    check_listed,
    check_packet,
    name,
    numbered,
    placement_request,
    seeded_notices,
    subscribe_all,
)
from tests.notify.receiver import Receiver
from tests.notify.sharing_support import (
    FACILITY,
    ORIGIN,
    SUNRISE,
    deliver,
    events_by_subscription,
    gateway_app,
    publish,
    subscribe,
)
from tests.sharing.leakage import (
    CONSENTS,
    CRISIS_TEAM,
    HOSPITAL,
    Caller,
    Oracle,
    add_consent,
    seed,
    stored_content,
)

POLICE = "demo-amarillo-pd"
BHA = "demo-tpc"
SUBSCRIBERS = (
    Caller("police_officer", POLICE, ("HLEGAL",)),
    Caller("police_officer", POLICE, ("TREAT",)),
    Caller("cit_officer", POLICE, ("HLEGAL",)),
    Caller("cit_officer", POLICE, ("THREAT",)),
    Caller("police_rms", POLICE, ("HLEGAL", "THREAT")),
    Caller("crisis_clinician", CRISIS_TEAM, ("TREAT",)),
    Caller("crisis_clinician", CRISIS_TEAM, ("HPAYMT",)),
    Caller("crisis_team_system", CRISIS_TEAM, ("TREAT",)),
    Caller("bh_case_manager", BHA, ("TREAT",)),
    Caller("ed_clinician", HOSPITAL, ("TREAT",)),
    Caller("hospital_ehr", HOSPITAL, ("TREAT", "HOPERAT")),
    Caller("facility_intake", BHA, ("TREAT",)),
    Caller("facility_system", FACILITY, ("TREAT",)),
    Caller("bha_auditor", BHA, ("HOPERAT",)),
    Caller("gateway_admin", BHA, ("HOPERAT",)),
)
FACILITY_SUBSCRIBERS = (
    Caller("facility_intake", FACILITY, ("TREAT",)),
    Caller("facility_system", FACILITY, ("TREAT",)),
)


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).timestamp())


@pytest.fixture()
def app(db: Database, settings: Settings, keystore: KeyStore, clock: ManualClock) -> FastAPI:
    return gateway_app(db, settings, keystore, clock)


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.start()
    yield rec
    rec.stop()


@pytest.mark.parametrize("scenario", sorted(CONSENTS))
def test_every_subscriber_receives_exactly_what_the_rules_allow(
    client: TestClient, receiver: Receiver, clock: ManualClock, scenario: str
) -> None:
    patient, writer = seed(client)
    consents = add_consent(client, patient, scenario, writer)
    oracle = Oracle(client, patient, writer, consents)
    subs = subscribe_all(client, oracle, SUBSCRIBERS, PLACEMENT_STATUS, receiver.url, clock.now())
    publish(client.app, clock.now(), seeded_notices(oracle, {c.agency for c in SUBSCRIBERS}))
    deliver(client.app, clock.now())
    received = events_by_subscription(receiver)
    problems: list[str] = []
    shown_somewhere = withheld_somewhere = 0
    events_of = numbered(oracle)
    for caller, sid in subs.items():
        events = received.get(sid, [])
        problems += check_events(caller, events, events_of, lambda c, k: oracle.shown(c, k, "read"))
        problems += check_listed(client, caller, sid, events_of, oracle)
        shown_somewhere += sum(1 for e in events if not e.empty)
        withheld_somewhere += sum(1 for e in events if e.empty)
    assert problems == []
    assert withheld_somewhere  # the matrix exercises both outcomes (an opt-out withholds all)
    assert shown_somewhere or scenario == "opt-out"


@pytest.mark.parametrize("scenario", sorted(CONSENTS))
def test_a_facility_receives_the_minimum_before_it_accepts_and_the_packet_after(
    client: TestClient, receiver: Receiver, clock: ManualClock, scenario: str
) -> None:
    patient, writer = seed(client)
    consents = add_consent(client, patient, scenario, writer)
    coverage = next(rid for (rtype, rid) in writer if rtype == "Coverage")
    hospital = Caller("hospital_ehr", HOSPITAL, ("TREAT",)).headers(client)
    subs = {
        caller: subscribe(client, caller.headers(client), NEW_PLACEMENT_TASK, receiver.url)
        for caller in FACILITY_SUBSCRIBERS
    }
    opened = client.post(
        f"/placement/requests?near={ORIGIN[0]},{ORIGIN[1]}",
        json=placement_request(patient, coverage),
        headers=hospital,
    )
    assert opened.status_code == 201, opened.text
    sr, _parent, child = (e["resource"] for e in opened.json()["entry"])
    assert child["owner"]["reference"] == f"Organization/{SUNRISE.org_id}"
    writer[("ServiceRequest", sr["id"])] = HOSPITAL
    writer[("Task", child["id"])] = HOSPITAL  # the requester writes the Task it addresses
    before = PlacementOracle(client, patient, writer, consents)
    deliver(client.app, clock.now())
    problems: list[str] = []
    for caller, sid in subs.items():
        events = events_by_subscription(receiver).get(sid, [])
        assert [e.number for e in events] == [1], name(caller)
        problems += check_asked(caller, events[0], before, child["id"], sr["id"])
    accepted = client.post(
        f"/placement/tasks/{child['id']}/$accept",
        json={"bed": f"Location/bed-{SUNRISE.unit_id}-1"},
        headers=Caller("facility_system", FACILITY, ("TREAT",)).headers(client),
    )
    assert accepted.status_code == 200, accepted.text
    after = PlacementOracle(client, patient, writer, consents)
    after.accepted = True
    deliver(client.app, clock.now())
    packet = [("Task", child["id"]), ("ServiceRequest", sr["id"]), ("Patient", patient)]
    packet.append(("Coverage", coverage))
    for caller, sid in subs.items():
        events = events_by_subscription(receiver).get(sid, [])
        assert [e.number for e in events] == [1, 2], name(caller)
        problems += check_packet(caller, events[1], after, packet)
    assert problems == []


def test_a_consent_revoked_before_delivery_is_honoured(
    client: TestClient, receiver: Receiver, clock: ManualClock
) -> None:
    patient, writer = seed(client)
    [consent] = add_consent(client, patient, "part2-for-crisis-team", writer)
    at_event = Oracle(client, patient, writer, [consent])
    callers = tuple(c for c in SUBSCRIBERS if c.agency in (CRISIS_TEAM, HOSPITAL, POLICE))
    subs = subscribe_all(client, at_event, callers, PLACEMENT_STATUS, receiver.url, clock.now())
    publish(client.app, clock.now(), seeded_notices(at_event, {c.agency for c in callers}))
    revoked = {**consent, "status": "inactive"}
    hospital = Caller("hospital_ehr", HOSPITAL, ("TREAT",)).headers(client)
    response = client.put(f"/fhir/Consent/{consent['id']}", json=revoked, headers=hospital)
    assert response.status_code == 200, response.text
    now = Oracle(client, patient, writer, [stored_content(client, "Consent", consent["id"])])
    now.stored = at_event.stored  # the events carry the resources as they were then
    deliver(client.app, clock.now())
    assert_as_decided_now(client, receiver, subs, at_event, now)


def test_an_opt_out_added_before_delivery_is_honoured(
    client: TestClient, receiver: Receiver, clock: ManualClock
) -> None:
    patient, writer = seed(client)
    at_event = Oracle(client, patient, writer, [])
    subs = subscribe_all(client, at_event, SUBSCRIBERS, PLACEMENT_STATUS, receiver.url, clock.now())
    publish(client.app, clock.now(), seeded_notices(at_event, {c.agency for c in SUBSCRIBERS}))
    published = dict(writer)
    consents = add_consent(client, patient, "opt-out", writer)
    now = Oracle(client, patient, published, consents)
    deliver(client.app, clock.now())
    assert_as_decided_now(client, receiver, subs, at_event, now)
