"""``gateway demo`` plays placements through the real workflow: what someone opening the demo finds,
over real HTTP, as the demo's own hospital, facility and auditor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.demo import load_demo
from gateway.demo_records import HOSPITAL
from gateway.settings import Settings
from tests.conftest import bearer
from tests.support.live import live_server

PAVILION = "hifld-0079979106"  # the demo's facility with an intake user


@pytest.fixture()
def demo(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[tuple[Any, str]]:
    summary = load_demo(settings)
    app = create_app(settings, db=db, keys=keystore, background_workers=False)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        http.headers["Accept"] = "application/json"
        yield (app, http), summary


def progress(app: Any, http: httpx.Client, task: str) -> dict[str, Any]:
    headers = bearer(app, agency=HOSPITAL, role="hospital_ehr", client_id="panhandle-ehr")
    response = http.get(f"/placement/requests/{task}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_demo_holds_placements_at_every_stage(demo: tuple[Any, str]) -> None:
    (app, http), summary = demo
    assert "admitted" in summary and "en route" in summary and "awaiting answers" in summary

    done = progress(app, http, "demo-placement-task-02")
    assert done["phase"] == "completed" and done["bed"]["state"] == "used"
    states = sorted(o["state"] for o in done["offers"])
    assert states == ["accepted", "cancelled", "rejected"]
    assert next(o for o in done["offers"] if o["state"] == "rejected")["reason"] == "no-bed"

    moving = progress(app, http, "demo-placement-task-03")
    assert moving["phase"] == "en-route" and moving["bed"]["state"] == "held"

    waiting = progress(app, http, "demo-placement-task-01")
    assert waiting["phase"] == "open"
    assert [o["state"] for o in waiting["offers"]] == ["requested"] * 3

    auditor = bearer(app, agency="demo-tpc", role="bha_auditor", purposes=["HOPERAT"])
    numbers = http.get("/placement/metrics", headers=auditor).json()
    assert (numbers["requests"], numbers["placements"], numbers["admitted"]) == (3, 2, 1)
    assert numbers["declinesByReason"] == {"no-bed": 1}
    assert numbers["timeToArrival"]["count"] == 1


def test_the_demo_facility_sees_its_waiting_request_reduced(demo: tuple[Any, str]) -> None:
    (app, http), _ = demo
    waiting = progress(app, http, "demo-placement-task-01")
    mine = next(o for o in waiting["offers"] if o["organization"] == PAVILION)
    intake = bearer(app, "user/*.cruds", agency=PAVILION, role="facility_intake")
    response = http.get(f"/placement/tasks/{mine['task']}", headers=intake)
    assert response.status_code == 200, response.text
    assert "Sample" not in response.text and "Avery" not in response.text  # patient 1's name
    kinds = [e["resource"]["resourceType"] for e in response.json()["entry"]]
    assert kinds == ["Task", "ServiceRequest"]
