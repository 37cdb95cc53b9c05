"""Auditors: the 45 CFR 164.528 accounting of disclosures, the break-the-glass queue, CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from gateway.audit.events import AuditContext
from gateway.audit.log import AuditLog
from gateway.db.session import Database
from tests.audit.conftest import clinician_ctx, police_ctx

NOW = datetime.now(UTC)


def read(
    db: Database, log: AuditLog, ctx: AuditContext, patient: str, *, days_ago: float = 1
) -> str:
    with db.unit_of_work() as session:
        event = log.events.rest(
            ctx,
            "read",
            resources=[patient],
            patients=[patient],
            recorded=NOW - timedelta(days=days_ago),
        )
        return log.append(session, event)


def test_the_accounting_lists_disclosures_to_police_and_not_treatment(
    client: TestClient, db: Database, audit_log: AuditLog, auditor: dict[str, str]
) -> None:
    police = read(db, audit_log, police_ctx(), "Patient/p1", days_ago=30)
    threat = read(db, audit_log, police_ctx(purposes=("THREAT",)), "Patient/p1", days_ago=2)
    read(db, audit_log, clinician_ctx(), "Patient/p1")  # treatment: not accounted
    read(db, audit_log, police_ctx(), "Patient/p2")  # someone else
    response = client.get("/audit/accounting?patient=Patient/p1", headers=auditor)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["patient"] == "Patient/p1"
    items = body["disclosures"]
    assert [d["event_id"] for d in items] == [police, threat]  # oldest first
    first = items[0]
    assert first["recipient"] == "amarillo-pd"
    assert first["recipient_agent"] == "officer.jones"
    assert first["what"] == "read Patient/p1"
    assert "164.512" in first["purpose"] and first["purpose_code"] == "HLEGAL"
    assert first["date"].startswith((NOW - timedelta(days=30)).strftime("%Y-%m-%d"))


def test_the_accounting_covers_six_years_at_most(
    client: TestClient, db: Database, audit_log: AuditLog, auditor: dict[str, str]
) -> None:
    read(db, audit_log, police_ctx(), "Patient/p1", days_ago=7 * 365)
    recent = read(db, audit_log, police_ctx(), "Patient/p1", days_ago=5 * 365)
    items = client.get("/audit/accounting?patient=Patient/p1", headers=auditor).json()
    assert [d["event_id"] for d in items["disclosures"]] == [recent]
    too_old = (NOW - timedelta(days=7 * 365)).strftime("%Y-%m-%d")
    refused = client.get(f"/audit/accounting?patient=Patient/p1&from={too_old}", headers=auditor)
    assert refused.status_code == 400
    assert "six years" in refused.json()["issue"][0]["diagnostics"]
    narrow = (NOW - timedelta(days=365)).strftime("%Y-%m-%d")
    shorter = client.get(f"/audit/accounting?patient=Patient/p1&from={narrow}", headers=auditor)
    assert shorter.json()["disclosures"] == []


def test_a_law_enforcement_suspension_withholds_those_disclosures(
    client: TestClient, db: Database, audit_log: AuditLog, auditor: dict[str, str]
) -> None:
    read(db, audit_log, police_ctx(), "Patient/p1")
    sheriff = read(db, audit_log, police_ctx(agency="potter-so", client_id="so-rms"), "Patient/p1")
    until = (NOW + timedelta(days=90)).strftime("%Y-%m-%d")
    created = client.post(
        "/audit/suspensions",
        headers=auditor,
        json={
            "patient": "Patient/p1",
            "recipient": "amarillo-pd",
            "until": until,
            "requested_by": "Det. Rivera, Amarillo PD",
            "statement": "written statement on file: disclosure would impede an investigation",
        },
    )
    assert created.status_code == 201, created.text
    items = client.get("/audit/accounting?patient=Patient/p1", headers=auditor).json()
    assert [d["event_id"] for d in items["disclosures"]] == [sheriff]
    assert "suspen" not in str(items).lower()  # the person is not told
    listed = client.get("/audit/suspensions?patient=Patient/p1", headers=auditor).json()
    assert listed["suspensions"][0]["recipient"] == "amarillo-pd"


def test_a_suspension_ends(
    client: TestClient, db: Database, audit_log: AuditLog, auditor: dict[str, str]
) -> None:
    police = read(db, audit_log, police_ctx(), "Patient/p1")
    from gateway.audit.repository import AuditRepository

    with db.unit_of_work() as session:  # one that ran out yesterday
        AuditRepository(session).insert_suspension(
            patient="Patient/p1",
            recipient="amarillo-pd",
            until=(NOW - timedelta(days=1)).timestamp(),
            requested_by="Det. Rivera",
            written=True,
            statement="",
            created_by="ann",
            created_at=(NOW - timedelta(days=60)).timestamp(),
        )
    items = client.get("/audit/accounting?patient=Patient/p1", headers=auditor).json()
    assert [d["event_id"] for d in items["disclosures"]] == [police]


def test_an_oral_suspension_lasts_thirty_days_at_most(
    client: TestClient, auditor: dict[str, str]
) -> None:
    body = {
        "patient": "Patient/p1",
        "recipient": "amarillo-pd",
        "until": (NOW + timedelta(days=45)).strftime("%Y-%m-%d"),
        "requested_by": "Det. Rivera (by telephone)",
        "written": False,
    }
    refused = client.post("/audit/suspensions", headers=auditor, json=body)
    assert refused.status_code == 400
    assert "30 days" in refused.json()["issue"][0]["diagnostics"]
    body["until"] = (NOW + timedelta(days=20)).strftime("%Y-%m-%d")
    assert client.post("/audit/suspensions", headers=auditor, json=body).status_code == 201


def test_the_accounting_exports_as_csv_and_is_itself_audited(
    client: TestClient, db: Database, audit_log: AuditLog, auditor: dict[str, str]
) -> None:
    police = read(db, audit_log, police_ctx(user="=HYPERLINK(1)"), "Patient/p1")
    response = client.get("/audit/accounting?patient=Patient/p1&_format=csv", headers=auditor)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["event_id"] for r in rows] == [police]
    assert rows[0]["recipient"] == "amarillo-pd"
    assert rows[0]["recipient_agent"] == "'=HYPERLINK(1)"  # never run as a formula
    audited = client.get("/audit/events?agent=ann.auditor", headers=auditor).json()["events"]
    assert audited[0]["what"] == "accounting of disclosures (1 disclosures)"


def test_break_the_glass_events_wait_for_review(
    client: TestClient, db: Database, audit_log: AuditLog, auditor: dict[str, str]
) -> None:
    with db.unit_of_work() as session:
        btg = audit_log.events.break_glass(
            clinician_ctx(purposes=("BTG",)), patients=["Patient/p1"], reason="unresponsive"
        )
        audit_log.append(session, btg)
    read(db, audit_log, clinician_ctx(), "Patient/p1")
    pending = client.get("/audit/btg", headers=auditor).json()["events"]
    assert [e["event_id"] for e in pending] == [btg["id"]]
    assert pending[0]["reason"] == "unresponsive"
    assert pending[0]["patients"] == ["Patient/p1"] and pending[0]["username"] == "dr.smith"
    review = client.post(
        f"/audit/btg/{btg['id']}/review", headers=auditor, json={"note": "justified: ED admit"}
    )
    assert review.status_code == 201
    assert client.get("/audit/btg", headers=auditor).json()["events"] == []
    done = client.get("/audit/btg?status=reviewed", headers=auditor).json()["events"]
    assert done[0]["reviewer"] == "ann.auditor" and done[0]["review_note"] == "justified: ED admit"
    again = client.post(f"/audit/btg/{btg['id']}/review", headers=auditor, json={"note": "x"})
    assert again.status_code == 409
    other = client.post("/audit/btg/not-an-event/review", headers=auditor, json={"note": "x"})
    assert other.status_code == 404
    exported = client.get("/audit/btg?status=all&_format=csv", headers=auditor)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["event_id"], r["reviewed"]) for r in rows] == [(btg["id"], "True")]


def test_audit_events_can_be_searched_and_exported(
    client: TestClient, db: Database, audit_log: AuditLog, auditor: dict[str, str]
) -> None:
    read(db, audit_log, police_ctx(), "Patient/p1", days_ago=3)
    read(db, audit_log, clinician_ctx(), "Patient/p1", days_ago=1)
    read(db, audit_log, clinician_ctx(), "Patient/p2", days_ago=1)
    search = client.get(
        "/audit/events?patient=Patient/p1&purpose=TREAT&action=R&outcome=0", headers=auditor
    ).json()["events"]
    assert [(e["agency"], e["patients"]) for e in search] == [("panhandle-er", ["Patient/p1"])]
    since = (NOW - timedelta(days=2)).strftime("%Y-%m-%d")
    assert len(client.get(f"/audit/events?from={since}&agency=panhandle-er", headers=auditor)
               .json()["events"]) == 2  # fmt: skip
    exported = client.get(
        "/audit/events?agency=amarillo-pd", headers={**auditor, "Accept": "text/csv"}
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["agency"], r["disclosure"], r["patients"]) for r in rows] == [
        ("amarillo-pd", "True", "Patient/p1")
    ]
