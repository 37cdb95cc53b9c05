"""GET /referrals/metrics on generated referrals, checked against numbers worked out by hand,
including the 7-day follow-up measure; JSON and CSV; only oversight roles may read it."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.placement.workflow_codes import iso
from gateway.placement.workflow_types import ManualClock
from tests.referral.support import (
    CLINIC,
    CRISIS,
    HOSPITAL,
    add_patient,
    as_agency,
    refer,
    step,
)

H, D = 3600.0, 86400.0


def generate(client: TestClient, db: Database, clock: ManualClock) -> float:
    """Six people, one referral each; returns the time the numbers are read at (t0 + 10 days).

    p1 seen 2 days after the crisis; p2 seen after 9 days; p3 did not attend; p4 rejected (sent
    by the crisis team); p5 never answered (overdue); p6 referred 2 days before the reading, not
    seen yet (its 7-day window is still open, so the measure leaves it out).
    """
    t0 = clock.t
    for n in range(1, 7):
        add_patient(db, f"p{n}")

    def make(pid: str, agency: str = HOSPITAL, **kw: object) -> str:
        task = refer(
            client,
            agency,
            subject={"reference": f"Patient/{pid}"},
            authoredOn=iso(clock.t),
            **kw,
        )
        return str(task["id"])

    def answer(task: str, after: float, op: str = "$accept", **body: object) -> None:
        clock.t = t0 + after
        response = step(client, task, op, CLINIC, **body)
        assert response.status_code == 200, response.text

    tasks = {pid: make(pid) for pid in ("p1", "p2", "p5")}
    tasks["p3"] = make("p3", stype="case-management")
    tasks["p4"] = make("p4", CRISIS)
    answer(tasks["p1"], 1 * H)
    answer(tasks["p2"], 0.5 * H)
    answer(tasks["p3"], 2 * H)
    answer(tasks["p4"], 1 * H, "$reject", reason="no-capacity")
    answer(tasks["p1"], 3 * H, "$book", appointment={"start": iso(t0 + 2 * D)})
    answer(tasks["p2"], 3 * H, "$book", appointment={"start": iso(t0 + 9 * D)})
    answer(tasks["p3"], 3 * H, "$book", appointment={"start": iso(t0 + 3 * D)})
    answer(tasks["p1"], 2 * D + H, "$complete", outcome="seen")
    answer(tasks["p3"], 3 * D + H, "$complete", outcome="did-not-attend")
    answer(tasks["p2"], 9 * D + H, "$complete", outcome="seen")
    clock.t = t0 + 8 * D
    make("p6", priority="routine")
    return t0 + 10 * D


def test_numbers_match_a_hand_computed_expectation(
    app_client: TestClient, seeded: Database, clock: ManualClock
) -> None:
    clock.t = generate(app_client, seeded, clock)
    response = app_client.get(
        "/referrals/metrics", headers=as_agency(app_client, "tpc-bha", role="bha_auditor")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    overall = body["overall"]
    assert overall["referrals"] == 6
    assert (overall["accepted"], overall["rejected"], overall["completed"]) == (3, 1, 3)
    assert overall["seen"] == 2
    assert overall["overdue"] == 1  # p5 (urgent, 24 h); p6 is routine and 2 days old
    assert overall["acceptance_rate"] == 0.75  # 3 of 4 answered
    assert overall["completion_rate"] == 1.0  # 3 of 3 accepted
    assert overall["median_response_minutes"] == 60.0  # 30, 60, 60, 120
    assert overall["median_first_contact_hours"] == 132.0  # 48 h and 216 h
    # People whose 7-day window has closed or who were seen: p1..p5; only p1 within 7 days.
    assert overall["people"] == 5
    assert overall["people_seen_within_7_days"] == 1
    assert overall["seen_within_7_days_rate"] == 0.2
    assert body["by_type"]["case-management"]["referrals"] == 1
    assert body["by_type"]["outpatient-psychiatry"]["referrals"] == 5
    assert body["by_source_agency"][CRISIS]["rejected"] == 1
    assert body["by_source_agency"][HOSPITAL]["referrals"] == 5
    csv_response = app_client.get(
        "/referrals/metrics?format=csv",
        headers=as_agency(app_client, "tpc-bha", role="bha_auditor"),
    )
    assert csv_response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    first = rows[0]
    assert (first["group"], first["key"], first["referrals"]) == ("overall", "all", "6")
    assert first["seen_within_7_days_rate"] == "0.2"
    assert {r["key"] for r in rows if r["group"] == "source-agency"} == {HOSPITAL, CRISIS}


def test_metrics_are_for_oversight_roles_and_check_their_parameters(
    app_client: TestClient,
) -> None:
    denied = app_client.get("/referrals/metrics", headers=as_agency(app_client, HOSPITAL))
    assert denied.status_code == 403
    auditor = as_agency(app_client, "tpc-bha", role="bha_auditor")
    bad_date = app_client.get("/referrals/metrics?from=yesterday", headers=auditor)
    assert bad_date.status_code == 400 and bad_date.json()["issue"][0]["expression"] == ["from"]
    bad_format = app_client.get("/referrals/metrics?format=xml", headers=auditor)
    assert bad_format.status_code == 400
    empty = app_client.get("/referrals/metrics?from=2020-01-01&to=2020-01-31", headers=auditor)
    assert empty.json()["overall"]["referrals"] == 0
    assert empty.json()["overall"]["acceptance_rate"] is None
