"""Test helpers for the placement workflow: facilities, a simple candidate finder, requests."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement.workflow_beds import set_free_beds
from gateway.placement.workflow_codes import BED_TYPE_SYSTEM, HOLD_EXPIRES_EXT, RISK_SUMMARY_EXT
from gateway.placement.workflow_types import Candidate, Criteria, PlacementContext
from gateway.placement.workflow_updates import PlacementWorkflow

Resource = dict[str, Any]
BASE = "http://testserver/fhir"
ORIGIN = (35.2220, -101.8313)  # Amarillo, TX
REQUESTER = "hosp-a"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


@dataclass(frozen=True)
class Facility:
    org_id: str
    unit_id: str
    lat: float
    lon: float
    level: str = "AdultPsychiatric"


def km_to_lat(km: float) -> float:
    return km / 111.195


def facility_at(name: str, km_north: float, level: str = "AdultPsychiatric") -> Facility:
    return Facility(
        f"org-{name}", f"unit-{name}", ORIGIN[0] + km_to_lat(km_north), ORIGIN[1], level
    )


# Five facilities due north of the origin, nearest first.
FACILITIES = tuple(
    facility_at(n, km) for n, km in (("f1", 10), ("f2", 30), ("f3", 80), ("f4", 150), ("f5", 300))
)


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def finder(
    facilities: tuple[Facility, ...] | list[Facility], stale: frozenset[str] = frozenset()
) -> Callable[..., list[Candidate]]:
    """A candidate finder over ``facilities``: same level of care, within ``max_km``, nearest first."""

    def find(
        session: Session, criteria: Criteria, n: int, max_km: float, exclude: frozenset[str]
    ) -> list[Candidate]:
        out = []
        for f in facilities:
            if f.unit_id in exclude or f.level != criteria.level_of_care:
                continue
            km = haversine(criteria.near, (f.lat, f.lon)) if criteria.near else 0.0
            if km <= max_km:
                out.append(Candidate(f.unit_id, f.org_id, round(km, 3), f.unit_id in stale))
        out.sort(key=lambda c: (c.distance_km or 0.0, c.unit_id))
        return out[:n]

    return find


def seed(db: Database, facilities: tuple[Facility, ...] | list[Facility], beds: int = 2) -> None:
    """Organizations, Locations and HealthcareServices for the facilities; bed counters set."""
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        for org in {f.org_id for f in facilities} | {REQUESTER}:
            svc.update(
                "Organization", org, {"resourceType": "Organization", "id": org, "name": org}
            )
        for f in facilities:
            svc.update(
                "Location",
                f.unit_id,
                {
                    "resourceType": "Location",
                    "id": f.unit_id,
                    "name": f.unit_id,
                    "position": {"latitude": f.lat, "longitude": f.lon},
                    "managingOrganization": {"reference": f"Organization/{f.org_id}"},
                },
            )
            bed_id = f"bed-{f.unit_id}-1"
            svc.update(
                "Location",
                bed_id,
                {
                    "resourceType": "Location",
                    "id": bed_id,
                    "name": "Bed 1",
                    "physicalType": {"coding": [{"code": "bd"}]},
                    "partOf": {"reference": f"Location/{f.unit_id}"},
                },
            )
            svc.update(
                "HealthcareService",
                f.unit_id,
                {
                    "resourceType": "HealthcareService",
                    "id": f.unit_id,
                    "providedBy": {"reference": f"Organization/{f.org_id}"},
                    "location": [{"reference": f"Location/{f.unit_id}"}],
                    "type": [{"coding": [{"system": BED_TYPE_SYSTEM, "code": f.level}]}],
                },
            )
            if beds >= 0:
                set_free_beds(session, f.unit_id, f.org_id, beds, 0.0)


def patient(
    db: Database, pid: str = "pat-1", gender: str = "female", born: str = "1990-06-01"
) -> str:
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        svc.update(
            "Patient",
            pid,
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": "Testperson", "given": ["Riley"]}],
                "gender": gender,
                "birthDate": born,
                "identifier": [{"system": "urn:test:mrn", "value": "MRN-12345"}],
            },
        )
        svc.update(
            "Coverage",
            f"cov-{pid}",
            {
                "resourceType": "Coverage",
                "id": f"cov-{pid}",
                "status": "active",
                "beneficiary": {"reference": f"Patient/{pid}"},
                "payor": [{"display": "Texas Medicaid"}],
            },
        )
    return pid


def service_request(
    pid: str = "pat-1",
    level: str = "AdultPsychiatric",
    hold_expires: str | None = None,
    reasons: tuple[str, ...] = ("F20.9",),
) -> Resource:
    sr: Resource = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": BED_TYPE_SYSTEM, "code": level}]},
        "subject": {"reference": f"Patient/{pid}"},
        "insurance": [{"reference": f"Coverage/cov-{pid}"}],
        "reasonCode": [{"coding": [{"system": ICD10CM, "code": c}]} for c in reasons],
        "note": [{"text": "Patient Riley Testperson, MRN-12345, says voices tell her to run."}],
        "extension": [{"url": RISK_SUMMARY_EXT, "valueString": "danger to self; elopement risk"}],
    }
    if hold_expires:
        sr["extension"].append({"url": HOLD_EXPIRES_EXT, "valueDateTime": hold_expires})
    return sr


def caller(agency: str, role: str = "hospital_ehr") -> Caller:
    # an agency system's token carries its purpose of use (notifications are decided for it)
    return Caller.with_scope(
        f"{agency}-client", "system/*.cruds", agency=agency, role=role, purposes=("TREAT",)
    )


def run(db: Database, ctx: PlacementContext, step: Callable[[PlacementWorkflow], Any]) -> Any:
    """Run one workflow step in its own unit of work."""
    with db.unit_of_work() as session:
        return step(PlacementWorkflow(session, ctx))


def read(db: Database, rtype: str, rid: str) -> Resource:
    with db.unit_of_work() as session:
        stored = ResourceService(session, BASE).read(rtype, rid)
    doc: Resource = orjson.loads(stored.content or "{}")
    return doc


def subscribe(
    db: Database,
    agency: str,
    topic: str,
    endpoint: str = "http://127.0.0.1:9/hook",
    content: str = "full-resource",
    now: float = 0.0,
) -> tuple[str, str]:
    """A rest-hook subscription for ``agency`` (returns its id and signing secret)."""
    from gateway.notify.subscriptions import create_subscription
    from gateway.notify.topics import PAYLOAD_CONTENT, canonical

    body = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "test",
        "criteria": canonical(topic),
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
        },
    }
    with db.unit_of_work() as session:
        stored, secret = create_subscription(
            ResourceService(session, BASE), caller(agency), body, now=now, https_only=False
        )
    return stored.rid, secret


def messages(db: Database, sid: str) -> list[Resource]:
    """The outbox Bundles queued for a subscription, in order."""
    from sqlalchemy import select

    from gateway.db.tables_placement import NotifyOutboxRow

    with db.unit_of_work() as session:
        rows = session.execute(
            select(NotifyOutboxRow.payload)
            .where(NotifyOutboxRow.subscription_id == sid)
            .order_by(NotifyOutboxRow.seq)
        ).scalars()
        return [orjson.loads(r) for r in rows]


def event_focus(bundle: Resource) -> str | None:
    """The focus reference (Type/id) of a notification Bundle's event, None for handshakes."""
    params = bundle["entry"][0]["resource"]["parameter"]
    for p in params:
        if p["name"] == "notification-event":
            for part in p["part"]:
                if part["name"] == "focus":
                    return "/".join(part["valueReference"]["reference"].split("/")[-2:])
    return None


# Ten facilities within 50 km, for the concurrency tests (every one is asked at once).
CROWD = tuple(facility_at(f"c{i:02d}", 3 + 4 * i) for i in range(10))
