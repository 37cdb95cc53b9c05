"""Checks of the notification leakage matrix (``tests/sharing/test_leakage_notify.py``): who
subscribes how, which event is which, and what each subscriber received compared with the matrix
oracle of ``tests/sharing/leakage.py``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from gateway.auth.schemas import Caller as TokenCaller
from gateway.notify.outbox import Notice
from gateway.notify.topics import PLACEMENT_STATUS
from gateway.placement.workflow_codes import BED_TYPE_SYSTEM
from policies.model import Principal
from policies.pipeline import evaluate, request_for
from policies.redaction import apply_obligations
from tests.notify.receiver import Receiver
from tests.notify.sharing_support import (
    FACILITY,
    Event,
    events_by_subscription,
    listed_focus,
    subscribe_beneath_the_api,
    subscription,
)
from tests.sharing.leakage import (
    Caller,
    Oracle,
    police_safe,
    purpose_of_caller,
    same_content,
)

POLICE_ROLES = ("police_officer", "cit_officer", "police_rms")
OVERSIGHT = ("bha_auditor", "gateway_admin")
SECRETS = ("Leakcheck", "Rowan", "1991-04-02")
# (subscriber, (type, id)) -> what the rules show it of that resource, None when withheld
Expected = Callable[[Caller, tuple[str, str]], dict[str, Any] | None]


def name(caller: Caller) -> str:
    return f"{caller.role}/{caller.agency}/{'+'.join(caller.purposes)}"


def subscribe_all(
    client: TestClient,
    oracle: Oracle,
    callers: tuple[Caller, ...],
    topic: str,
    url: str,
    now: float,
) -> dict[Caller, str]:
    """Each caller subscribes through the API. A caller the API refuses (the rules could never show
    it the topic) is also one the oracle shows none of the seeded records; it is then subscribed
    beneath the API, as a subscription made before the check existed, so delivery is tested too."""
    out: dict[Caller, str] = {}
    for caller in callers:
        response = client.post(
            "/notify/subscriptions",
            json=subscription(topic, url),
            headers=caller.headers(client),
        )
        if response.status_code == 403:
            body = response.json()["issue"][0]["diagnostics"]
            assert "refused by policy" in body, body
            shown = [key for key in oracle.stored if oracle.shown(caller, key, "read")]
            assert shown == [], f"{name(caller)} was refused a subscription but may see {shown}"
            auth = _as_token_caller(caller)
            out[caller] = subscribe_beneath_the_api(client.app, auth, topic, url, now)
            continue
        assert response.status_code == 201, (name(caller), response.text)
        out[caller] = str(response.json()["id"])
    return out


def _as_token_caller(caller: Caller) -> TokenCaller:
    return TokenCaller(
        client_id="test-client", agency=caller.agency, role=caller.role, purposes=caller.purposes
    )


def check_events(
    caller: Caller,
    events: list[Event],
    numbered: dict[int, str],
    expected: Expected,
) -> list[str]:
    """Compare what ``caller`` received with ``expected(caller, key)``; return the problems."""
    problems: list[str] = []
    who = name(caller)
    if sorted(e.number for e in events) != sorted(numbered):
        problems.append(f"{who}: received events {sorted(e.number for e in events)}")
    for event in events:
        if caller.role in POLICE_ROLES and police_safe(event.body):
            problems.append(f"{who}: police received {police_safe(event.body)}")
        focus = numbered.get(event.number)
        if focus is None:
            continue
        key = (focus.split("/")[0], focus.split("/")[1])
        want = expected(caller, key)
        if want is None:
            if not event.empty:
                problems.append(f"{who}: {focus} is withheld but the event was not empty")
            continue
        if event.focus != focus or set(event.resources) != {focus}:
            problems.append(
                f"{who}: {focus} allowed, got focus {event.focus} {list(event.resources)}"
            )
            continue
        if not same_content(event.resources[focus], want):
            problems.append(f"{who}: {focus} differs from what the rules give")
    return problems


def seeded_notices(oracle: Oracle, agencies: set[str]) -> list[Notice]:
    """One event per seeded resource for each agency: the resource is the focus and the payload,
    in :func:`numbered` order."""
    notices = []
    for agency in sorted(agencies):
        for key in sorted(oracle.stored):
            resource = oracle.stored[key]
            notices.append(Notice(PLACEMENT_STATUS, agency, resource, (resource,)))
    return notices


def numbered(oracle: Oracle) -> dict[int, str]:
    """Event number -> focus of the events :func:`seeded_notices` raised for a new subscription."""
    return {i: f"{t}/{rid}" for i, (t, rid) in enumerate(sorted(oracle.stored), start=1)}


def check_listed(
    client: TestClient, caller: Caller, sid: str, events: dict[int, str], oracle: Oracle
) -> list[str]:
    """``GET /notify/deliveries`` names an event's focus only to whom the rules let read it (and
    to oversight roles, whose delivery log names what the audit trail names)."""
    problems = []
    for number, focus in listed_focus(client, caller.headers(client), sid).items():
        key = events[number].split("/")
        readable = oracle.shown(caller, (key[0], key[1]), "read") is not None
        want = events[number] if readable or caller.role in OVERSIGHT else None
        if focus != want:
            problems.append(f"{name(caller)}: deliveries list event {number} as {focus}")
    return problems


class PlacementOracle(Oracle):
    """The matrix oracle plus the placement this test opened: the hospital asked :data:`FACILITY`
    to take the patient (the facility is linked to the patient by the Task addressed to it, and
    has or has not accepted)."""

    accepted = False

    def shown(self, caller: Caller, key: tuple[str, str], action: str) -> dict[str, Any] | None:
        if caller.agency != FACILITY:
            return super().shown(caller, key, action)
        resource = self.stored[key]
        principal = Principal(
            client_id="test-client",
            agency=caller.agency,
            agency_kind="facility",
            role=caller.role,
            purposes=caller.purposes,
        )
        request = request_for(
            principal,
            action,
            resource,
            purpose=purpose_of_caller(caller),
            owning_agency=self.writer[key],
            relations=frozenset({"placement"}),
            addressed_to_principal_facility=True,
            accepted=self.accepted,
            patient=self.patient,
            at=datetime.now(UTC),
        )
        return apply_obligations(
            resource, evaluate(request, resource, self.consents, self.agreements)
        )


def placement_request(patient: str, coverage: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": BED_TYPE_SYSTEM, "code": "AdultPsychiatric"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "insurance": [{"reference": f"Coverage/{coverage}"}],
        "reasonCode": [
            {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F32.9"}]}
        ],
        "note": [{"text": "Rowan Leakcheck, brought in by police, low mood for weeks."}],
    }


def check_asked(
    caller: Caller, event: Event, oracle: PlacementOracle, child: str, sr: str
) -> list[str]:
    """Before acceptance: the facility's Task as the rules show it, less the patient reference the
    workflow leaves off; the request reduced to the minimum necessary, only if the rules allow it."""
    who, problems = name(caller), []
    task = oracle.shown(caller, ("Task", child), "read")
    if task is None:
        return [] if event.empty else [f"{who}: Task/{child} withheld, the event was not empty"]
    got = event.resources.get(f"Task/{child}")
    want = {k: v for k, v in task.items() if k != "for"}
    if event.focus != f"Task/{child}" or got is None or not same_content(got, want):
        problems.append(f"{who}: the asked Task differs from what the rules give")
    reduced = event.resources.get(f"ServiceRequest/{sr}")
    if oracle.shown(caller, ("ServiceRequest", sr), "read") is None:
        if reduced is not None or f"ServiceRequest/{sr}" in event.context:
            problems.append(f"{who}: a withheld ServiceRequest was sent")
        return problems
    if reduced is None:
        return [*problems, f"{who}: the reduced ServiceRequest is missing"]
    text = event.body
    leaked = [s for s in (*SECRETS, f"Patient/{oracle.patient}", "F32.9") if s in text]
    if leaked or "REDACTED" not in str(reduced["meta"]["security"]):
        problems.append(f"{who}: the request was not the minimum necessary ({leaked})")
    return problems


def check_packet(
    caller: Caller, event: Event, oracle: PlacementOracle, packet: list[tuple[str, str]]
) -> list[str]:
    """After acceptance: each resource of the packet exactly as the rules show it, or left out."""
    who, problems = name(caller), []
    if oracle.shown(caller, packet[0], "read") is None:
        return [] if event.empty else [f"{who}: the Task is withheld, the event was not empty"]
    for key in packet:
        ref = f"{key[0]}/{key[1]}"
        want = oracle.shown(caller, key, "read")
        got = event.resources.get(ref)
        if want is None:
            if got is not None or ref in event.context:
                problems.append(f"{who}: withheld {ref} was sent")
        elif got is None or not same_content(got, want):
            problems.append(f"{who}: {ref} differs from what the rules give")
    return problems


def assert_as_decided_now(
    client: TestClient,
    receiver: Receiver,
    subs: dict[Caller, str],
    at_event: Oracle,
    now: Oracle,
) -> None:
    received = events_by_subscription(receiver)
    problems: list[str] = []
    changed = 0
    events_of = numbered(at_event)
    for caller, sid in subs.items():
        expected = lambda c, k: now.shown(c, k, "read")  # noqa: E731
        problems += check_events(caller, received.get(sid, []), events_of, expected)
        changed += sum(
            1
            for key in now.stored
            if key in at_event.stored
            and (at_event.shown(caller, key, "read") is None)
            != (now.shown(caller, key, "read") is None)
        )
    assert problems == []
    assert changed  # the change between event and delivery mattered to some subscriber
