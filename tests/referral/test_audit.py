"""Every referral step is audited: one AuditEvent per step naming the Task and the patient, and a
refused step is recorded with its failure outcome."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.db.session import Database
from gateway.db.tables_audit import AuditLeafRow, AuditPatientRow
from tests.referral.support import CLINIC, HOSPITAL, OTHER, as_agency, refer, step


def test_steps_and_refusals_are_in_the_audit_log(app_client: TestClient, seeded: Database) -> None:
    task = refer(app_client)
    assert step(app_client, task["id"], "$accept", CLINIC).status_code == 200
    assert step(app_client, task["id"], "$accept", OTHER).status_code == 403
    assert (
        app_client.get(
            f"/referrals/{task['id']}", headers=as_agency(app_client, HOSPITAL)
        ).status_code
        == 200
    )
    with seeded.unit_of_work() as session:
        rows = session.execute(select(AuditLeafRow)).scalars().all()
        patients = {(r.seq, r.patient) for r in session.execute(select(AuditPatientRow)).scalars()}
        about_task = [r for r in rows if task["id"].encode() in r.body]
        by_agency = {(r.agency, r.outcome) for r in about_task}
        assert (HOSPITAL, "0") in by_agency and (CLINIC, "0") in by_agency
        assert all(any(p == "Patient/pat-1" for s, p in patients if s == r.seq) for r in about_task)
        refused = [r for r in rows if r.agency == OTHER]
        assert refused and all(r.outcome != "0" for r in refused)


def test_a_step_taken_over_fhir_is_audited_with_the_task_and_patient(
    app_client: TestClient, seeded: Database
) -> None:
    task = refer(app_client)
    response = app_client.put(
        f"/fhir/Task/{task['id']}",
        json={**task, "status": "accepted"},
        headers={"Content-Type": "application/fhir+json", **as_agency(app_client, CLINIC)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"
    with seeded.unit_of_work() as session:
        rows = session.execute(select(AuditLeafRow)).scalars().all()
        mine = [r for r in rows if r.agency == CLINIC and task["id"].encode() in r.body]
        assert mine and mine[-1].action == "U" and mine[-1].outcome == "0"
        seqs = {r.seq for r in mine}
        patients = {
            p.patient for p in session.execute(select(AuditPatientRow)).scalars() if p.seq in seqs
        }
        assert patients == {"Patient/pat-1"}
