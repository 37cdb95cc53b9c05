"""Load a :mod:`tests.outcomes.scenario` through the gateway's real doors: police records and HL7 v2
messages through ``POST /ingest/{adapter}``, placement requests through ``/placement`` and referrals
through ``/referrals`` (times from the workflows' manual clock)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from fastapi.testclient import TestClient

from adapters.police_rms.generate import generate
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement.workflow_types import ManualClock
from tests.conftest import BASE_URL, bearer
from tests.outcomes.scenario import Call, Person, Scenario, Visit
from tests.placement.workflow.support import ORIGIN, service_request
from tests.referral.support import referral_request, service

POLICE = "amarillo-pd"
HOSPITAL = "hosp-a"
NEAR = f"{ORIGIN[0]},{ORIGIN[1]}"
ER7 = {"Content-Type": "x-application/hl7-v2+er7"}
CLINIC = "tpc-bha"
CRISIS_TEAM = "amarillo-crisis-team"
REFERRER_ROLES = {HOSPITAL: "hospital_ehr", POLICE: "police_rms"}
TEAMS = {
    "outpatient-psychiatry": "svc-opd",
    "case-management": "svc-cm",
    "crisis-follow-up": "svc-mct",
}
RECEIVER_ROLES = {CLINIC: "bha_system", CRISIS_TEAM: "crisis_team_system"}


def _t(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def police_record(base: dict[str, Any], call: Call, person: Person) -> dict[str, Any]:
    """A generated record given the scenario's person, times and officers."""
    rec = dict(base)
    rec.pop("transport", None)
    rec.pop("cleared_at", None)
    rec["incident_number"] = call.number
    rec["reported_at"] = _t(call.reported)
    rec["dispatched_at"] = _t(call.dispatched)
    rec["on_scene_at"] = _t(call.reported + call.on_scene_after)
    if call.cleared is not None:
        rec["cleared_at"] = _t(call.cleared)
    rec["updated_at"] = _t(call.reported + (call.cleared_after or call.on_scene_after))
    subject: dict[str, Any] = {
        "role": "subject",
        "name": {"family": person.family, "given": [person.given]},
        "birth_date": person.birth,
        "sex": person.sex,
        "phone": f"+1 {person.phone[:3]} {person.phone[3:6]} {person.phone[6:]}",
    }
    if call.person_id:
        subject["person_id"] = f"MNI-{person.key}"
    rec["persons"] = [subject]
    rec["officers"] = [
        {"badge": f"{call.number}-{n}", "primary": n == 0} for n in range(call.officers)
    ]
    return rec


def hl7_visit(visit: Visit, person: Person, control: int, event: str = "A04") -> bytes:
    """An ADT^A04 (registration) for the visit, or the ADT^A11 that cancels it."""
    when = visit.admitted.strftime("%Y%m%d%H%M%S") + "+0000"
    pv1 = (
        ["PV1", "1", visit.patient_class, "ED^^^HOSPA"] + [""] * 15 + [f"{visit.number}^^^HOSPA^VN"]
    )
    pv1 += [""] * 24 + [when]
    segments = [
        f"MSH|^~\\&|EDSYS|HOSPA|GATEWAY|GW|{when}||ADT^{event}^ADT_A01|MSG{control:05d}|P|2.5.1",
        f"EVN|{event}|{when}",
        f"PID|1||MRN-{person.key}^^^HOSPA^MR||{person.family}^{person.given}||"
        f"{person.birth.replace('-', '')}|{person.sex[0].upper()}|||||{person.phone}^PRN^PH",
        "|".join(pv1),
    ]
    return ("\r".join(segments) + "\r").encode()


def load_police(client: TestClient, scenario: Scenario) -> None:
    records = [
        police_record(base, call, scenario.people[call.person])
        for base, call in zip(generate(2025, len(scenario.calls)), scenario.calls, strict=True)
    ]
    headers = {
        "Content-Type": "application/json",
        **bearer(client.app, agency=POLICE, role="police_rms", purposes=["HLEGAL"]),
    }
    response = client.post(
        "/ingest/police-rms", content=orjson.dumps({"records": records}), headers=headers
    )
    assert response.status_code in (200, 201), response.text
    statuses = [e["response"]["status"] for e in response.json().get("entry", [])]
    assert all(s.startswith("20") for s in statuses), statuses


def load_hospital(client: TestClient, scenario: Scenario) -> dict[str, str]:
    """Ingest every visit; returns the hospital's Patient id of each person."""
    headers = {**ER7, **bearer(client.app, agency=HOSPITAL, role="hospital_ehr")}
    ids: dict[str, str] = {}
    cancels = [v for v in scenario.visits if v.cancelled]
    sent = [(v, "A04") for v in scenario.visits + scenario.outpatient] + [
        (v, "A11") for v in cancels
    ]
    for n, (visit, event) in enumerate(sent):
        message = hl7_visit(visit, scenario.people[visit.person], n, event)
        response = client.post("/ingest/hl7v2", content=message, headers=headers)
        assert response.status_code in (200, 201), response.text
        for entry in response.json()["entry"]:
            location = entry["response"].get("location", "")
            if location.startswith("Patient/"):
                ids[visit.person] = location.split("/")[1]
    return ids


def load_placements(
    client: TestClient, scenario: Scenario, clock: ManualClock, patients: dict[str, str]
) -> None:
    """Open each request at its time and answer it as the scenario says."""
    requester = bearer(client.app, agency=HOSPITAL, role="hospital_ehr")
    for p in scenario.placements:
        start = p.created.timestamp()
        clock.t = start
        sr = service_request(pid=patients[p.person])
        sr.pop("insurance")
        opened = client.post(f"/placement/requests?near={NEAR}", json=sr, headers=requester)
        assert opened.status_code == 201, opened.text
        children = {
            e["resource"]["owner"]["reference"].split("/")[1]: e["resource"]["id"]
            for e in opened.json()["entry"][2:]
        }
        assert sorted(children) == ["org-f1", "org-f2"], children
        answers: list[tuple[float, str, str, dict[str, Any]]] = []
        if p.f2_declines:
            answers.append((600.0, "org-f2", "$reject", {"reason": p.f2_declines}))
        if p.f1_declines:
            answers.append((1200.0, "org-f1", "$reject", {"reason": p.f1_declines}))
        if p.f1_accepts_after is not None:
            answers.append((p.f1_accepts_after, "org-f1", "$accept", {"bed": "bed 1"}))
        for after, org, op, body in sorted(answers, key=lambda a: a[0]):
            clock.t = start + after
            facility = bearer(client.app, agency=org, role="facility_system")
            done = client.post(
                f"/placement/tasks/{children[org]}/{op}", json=body, headers=facility
            )
            assert done.status_code == 200, done.text


def seed_referral_services(db: Database) -> None:
    """The services referrals are routed to: the authority's clinic and the mobile crisis team
    (no hours: always on duty, so every referral is visible when it is made)."""
    with db.unit_of_work() as session:
        svc = ResourceService(session, f"{BASE_URL}/fhir")
        for org in (CLINIC, CRISIS_TEAM, POLICE):
            svc.update(
                "Organization", org, {"resourceType": "Organization", "id": org, "name": org}
            )
        for stype, sid in TEAMS.items():
            org = CRISIS_TEAM if stype == "crisis-follow-up" else CLINIC
            svc.update("HealthcareService", sid, service(sid, org, stype))


def load_referrals(
    client: TestClient, scenario: Scenario, clock: ManualClock, patients: dict[str, str]
) -> None:
    """Make, answer, book and complete each referral through ``/referrals`` at its times."""
    for r in scenario.referrals:
        receiver = CRISIS_TEAM if r.service == "crisis-follow-up" else CLINIC
        clock.t = r.made.timestamp()
        request = referral_request(
            r.service,
            subject={"reference": f"Patient/{patients[r.person]}"},
            authoredOn=_t(r.made),
        )
        made = client.post(
            "/referrals",
            json=request,
            headers=bearer(client.app, agency=r.referrer, role=REFERRER_ROLES[r.referrer]),
        )
        assert made.status_code == 201, made.text
        task = made.json()["entry"][1]["resource"]
        assert task["owner"]["reference"] == f"HealthcareService/{TEAMS[r.service]}", task
        steps: list[tuple[float, str, dict[str, Any]]] = []
        if r.answer == "$reject":
            steps.append((r.made.timestamp() + 7200, "$reject", {"reason": "no-capacity"}))
        elif r.answer == "$accept":
            steps.append((r.made.timestamp() + 7200, "$accept", {}))
        if r.appointment is not None:
            start = r.appointment.timestamp()
            steps.append(
                (r.made.timestamp() + 7300, "$book", {"appointment": {"start": _t(r.appointment)}})
            )
            steps.append((start + 3600, "$complete", {"outcome": r.outcome}))
        receiving = bearer(client.app, agency=receiver, role=RECEIVER_ROLES[receiver])
        for moment, op, body in steps:
            clock.t = moment
            done = client.post(f"/referrals/{task['id']}/{op}", json=body, headers=receiving)
            assert done.status_code == 200, done.text
