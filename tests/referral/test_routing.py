"""Routing and hours: team hours (overnight slots, closures, time zones), eligibility in the
directory of services, the triage organisation, and referrals nobody can take."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement import profiles as p
from gateway.placement.workflow_types import ManualClock
from gateway.referral.directory import team_of
from gateway.referral.setup import install
from gateway.referral.types import ReferralConfig
from gateway.settings import Settings
from tests.referral.support import (
    BASE,
    CHICAGO,
    CLINIC,
    CRISIS,
    HOSPITAL,
    OTHER,
    as_agency,
    refer,
    service,
)


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=CHICAGO).timestamp()


def test_hours_overnight_slots_closures_and_zones() -> None:
    night = team_of(
        service(
            "night",
            "o",
            "peer-support",
            [
                {
                    "daysOfWeek": ["fri"],
                    "availableStartTime": "22:00:00",
                    "availableEndTime": "06:00:00",
                }
            ],
            notAvailable=[
                {
                    "description": "training",
                    "during": {
                        "start": "2026-12-04T22:00:00-06:00",
                        "end": "2026-12-05T02:00:00-06:00",
                    },
                }
            ],
        ),
        "UTC",
    )
    assert night is not None
    assert night.on_duty(at(2026, 11, 27, 23, 0))  # Friday night
    assert night.on_duty(at(2026, 11, 28, 3, 0))  # past midnight, same slot
    assert not night.on_duty(at(2026, 11, 28, 7, 0))
    assert night.next_on_duty(at(2026, 11, 28, 7, 0)) == at(2026, 12, 4, 22, 0) + 4 * 3600
    # (the next Friday's first four hours are a closure: duty starts at 02:00)
    always = team_of(service("always", "o", "peer-support"), "UTC")
    assert always is not None and always.on_duty(at(2026, 11, 29, 4, 0))


@pytest.fixture()
def triage_client(
    seeded: Database, settings: Settings, keystore: KeyStore, clock: ManualClock
) -> Iterator[TestClient]:
    app = create_app(settings, db=seeded, keys=keystore, background_workers=False)
    install(app, config=ReferralConfig(triage_org=OTHER), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_eligibility_picks_the_team_the_person_qualifies_for(
    app_client: TestClient, seeded: Database
) -> None:
    with seeded.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        women_only = service("svc-peer-w", CLINIC, "peer-support")
        women_only["extension"].append({"url": p.SEX_ACCEPTED, "valueCode": "female"})
        men_only = service("svc-peer-m", CRISIS, "peer-support")
        men_only["extension"].append({"url": p.SEX_ACCEPTED, "valueCode": "male"})
        for doc in (men_only, women_only):
            svc.update("HealthcareService", doc["id"], doc)
    task = refer(app_client, stype="peer-support")  # pat-1 is female
    assert task["owner"] == {"reference": "HealthcareService/svc-peer-w"}


def test_nobody_offering_the_service_leaves_it_unrouted_and_says_so(
    app_client: TestClient,
) -> None:
    task = refer(app_client, stype="housing-social")
    assert "owner" not in task
    assert task["businessStatus"]["coding"][0]["code"] == "unrouted"
    assert "No receiving organisation" in task["note"][0]["text"]


def test_the_triage_organisation_takes_what_no_rule_routes(triage_client: TestClient) -> None:
    task = refer(triage_client, stype="housing-social")
    assert task["owner"] == {"reference": f"Organization/{OTHER}"}
    queue = triage_client.get(
        "/referrals/queue", headers=as_agency(triage_client, OTHER, role="bha_system")
    ).json()
    assert queue["items"][0]["routed_by"] == "triage"


def test_the_triage_hub_forwards_to_the_right_organisation(triage_client: TestClient) -> None:
    task = refer(triage_client, stype="housing-social")
    hub = as_agency(triage_client, OTHER, role="bha_system")

    def forward(headers: dict[str, str], to: object) -> object:
        return triage_client.post(
            f"/referrals/{task['id']}/$forward", json={"to": to}, headers=headers
        )

    by_referrer = forward(as_agency(triage_client, HOSPITAL), f"Organization/{CLINIC}")
    assert by_referrer.status_code == 409
    unknown = forward(hub, "Organization/nobody")
    assert unknown.status_code == 400 and unknown.json()["issue"][0]["expression"] == ["to"]
    missing = triage_client.post(f"/referrals/{task['id']}/$forward", json={}, headers=hub)
    assert missing.status_code == 400
    moved = forward(hub, f"Organization/{CLINIC}")
    assert moved.status_code == 200, moved.text
    assert moved.json()["owner"] == {"reference": f"Organization/{CLINIC}"}
    assert moved.json()["status"] == "requested"
    assert triage_client.get("/referrals/queue", headers=hub).json()["items"] == []
    clinic = as_agency(triage_client, CLINIC)
    item = triage_client.get("/referrals/queue", headers=clinic).json()["items"][0]
    assert item["routed_by"] == "forwarded" and item["task"]["id"] == task["id"]
    # The hub no longer takes part; the new receiver answers as usual and cannot forward after.
    assert triage_client.get(f"/referrals/{task['id']}", headers=hub).status_code == 403
    accept = triage_client.post(f"/referrals/{task['id']}/$accept", json={}, headers=clinic)
    assert accept.status_code == 200
    assert forward(clinic, f"Organization/{CRISIS}").status_code == 409
