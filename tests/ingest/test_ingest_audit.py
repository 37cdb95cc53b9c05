"""Every ingested record leaves one AuditEvent (DCM 110107 Import) written in the record's own
transaction: stored, updated, resent or refused, over HTTP, MLLP and the bulk loader."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import text

from adapters.base import SourceInfo
from adapters.registry import load_adapters
from gateway.audit.errors import AuditUnavailable
from gateway.audit.events import AuditContext
from gateway.audit.log import REFUSED, AuditLog
from gateway.db.session import Database
from gateway.ingest.service import IngestService
from tests.adapters.police_rms.samples import full_record

FIXTURES = Path(__file__).parents[1] / "adapters" / "hl7v2" / "fixtures"
ER7 = {"Content-Type": "x-application/hl7-v2+er7"}
IMPORT = "110107"


def _imports(db: Database) -> list[dict[str, Any]]:
    with db.unit_of_work() as session:
        bodies = session.execute(text("SELECT body FROM audit_leaf ORDER BY seq")).scalars()
        events = [orjson.loads(bytes(b)) for b in bodies]
    return [e for e in events if e["type"]["code"] == IMPORT]


def _patients(event: dict[str, Any]) -> list[str]:
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if (e.get("role") or {}).get("code") == "1" and "what" in e
    ]


def _agent_ids(event: dict[str, Any]) -> set[str]:
    return {
        str((a.get("who") or {}).get("identifier", {}).get("value")) for a in event.get("agent", [])
    }


def test_each_http_record_is_audited_with_its_patient(client: TestClient, db: Database) -> None:
    message = (FIXTURES / "ADT-A01-01.hl7").read_bytes()
    assert client.post("/ingest/hl7v2", content=message, headers=ER7).status_code == 201
    assert client.post("/ingest/hl7v2", content=message, headers=ER7).status_code == 200
    events = _imports(db)
    assert len(events) == 2, "one event per message received, the resend included"
    first, again = events
    assert first["action"] == "C" and first["outcome"] == "0"
    patient_id = client.get("/fhir/Patient").json()["entry"][0]["resource"]["id"]
    assert _patients(first) == [f"Patient/{patient_id}"]
    assert first["outcomeDesc"] == "stored" and again["outcomeDesc"] == "unchanged"
    assert "test-client" in _agent_ids(first)
    written = [(e.get("what") or {}).get("reference") for e in first["entity"]]
    assert f"Patient/{patient_id}/_history/1" in written
    # Ids only: no name, birth date or address from PID in the event.
    body = orjson.dumps(first).decode()
    for value in ("EVERYMAN", "ADAM", "1988", "Hospital Lane"):
        assert value not in body


def test_a_refused_record_is_audited_without_its_content(client: TestClient, db: Database) -> None:
    record = full_record()
    record["persons"][0]["birth_date"] = "not-a-date"
    response = client.post(
        "/ingest/police-rms",
        content=orjson.dumps(record),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    (event,) = _imports(db)
    assert event["outcome"] == "4"
    assert event["outcomeDesc"].startswith("refused (")
    assert "not-a-date" not in orjson.dumps(event).decode()
    assert _patients(event) == []


def test_each_mllp_message_is_audited_with_sender_and_control_id(
    mllp: tuple[int, TestClient], db: Database
) -> None:
    mllp_port = mllp[0]
    message = (FIXTURES / "ADT-A01-01.hl7").read_bytes()
    with socket.create_connection(("127.0.0.1", mllp_port), timeout=30) as sock:
        sock.sendall(b"\x0b" + message + b"\x1c\x0d")
        ack = b""
        while not ack.endswith(b"\x1c\x0d"):
            ack += sock.recv(65536)
    assert b"MSA|AA|MSG00001" in ack
    (event,) = _imports(db)
    assert "ghh-ehr" in _agent_ids(event)
    request_ids = [
        e["what"]["identifier"]["value"]
        for e in event["entity"]
        if "identifier" in (e.get("what") or {})
    ]
    assert "MSG00001" in request_ids


class _BrokenLog(AuditLog):
    """An audit log whose store fails, as :meth:`AuditLog.append` reports any failure."""

    def append(self, session: Any, event: dict[str, Any]) -> str:
        raise AuditUnavailable(REFUSED)


def test_no_audit_no_data(db: Database, client: TestClient) -> None:
    """The event is in the record's transaction: when it cannot be written, nothing is stored."""
    log: AuditLog = client.app.state.audit  # type: ignore[attr-defined]
    service = IngestService(
        db, "http://testserver/fhir", load_adapters(), audit=_BrokenLog(log.events)
    )
    records = service.parse(
        "hl7v2", (FIXTURES / "ADT-A01-01.hl7").read_bytes(), ER7["Content-Type"]
    )
    ctx = AuditContext(client_id="ghh-ehr", agency="test-agency")
    result = service.store_record(
        "hl7v2", records[0], SourceInfo("test-agency", "ghh-ehr"), lambda *_: None, ctx
    )
    assert (result.outcome, result.status) == ("refused", 503)
    assert client.get("/fhir/Patient").json()["total"] == 0
    assert client.get("/fhir/Provenance").json()["total"] == 0
