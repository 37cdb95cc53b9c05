"""A read's event is durable before its response exists; on PostgreSQL the INSERT travels with the
read's COMMIT (one round trip) and leaves the pooled connection clean; fail closed either way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from gateway.audit.log import AuditLog, mark_read_only
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from tests.audit.conftest import clinician_ctx
from tests.audit.support import audit_down
from tests.conftest import bearer

HOSPITAL = "demo-panhandle-regional"
FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _committed(db: Database, kind: str) -> int:
    """Rows another connection sees: only what has been committed."""
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM audit_leaf WHERE kind = :k"), {"k": kind}
            ).scalar_one()
        )


@pytest.fixture()
def hospital(client: TestClient, db: Database) -> dict[str, str]:
    with db.unit_of_work() as session:
        Registry(session).add_agency(HOSPITAL, "hospital", "Panhandle Regional")
    return {**FHIR, **bearer(client.app, role="hospital_ehr", agency=HOSPITAL, purposes=["TREAT"])}


def test_each_read_and_search_is_committed_when_its_response_arrives(
    client: TestClient, db: Database, hospital: dict[str, str]
) -> None:
    made = client.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Okafor"}]},
        headers=hospital,
    )
    assert made.status_code == 201
    url = f"/fhir/Patient/{made.json()['id']}"
    for n in range(1, 4):
        assert client.get(url, headers=hospital).status_code == 200
        assert _committed(db, "rest/read") == n
    found = client.get("/fhir/Patient?family=Okafor", headers=hospital)
    assert found.json()["total"] == 1
    assert _committed(db, "rest/search-type") == 1
    # A write after the reads still commits with its data (same pool, same connections).
    again = client.put(url, json={**made.json(), "gender": "female"}, headers=hospital)
    assert again.status_code == 200
    assert _committed(db, "rest/update") == 1


def test_reads_and_searches_fail_closed(
    client: TestClient, db: Database, hospital: dict[str, str]
) -> None:
    made = client.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Nakamura"}]},
        headers=hospital,
    ).json()
    with audit_down(db):
        read = client.get(f"/fhir/Patient/{made['id']}", headers=hospital)
        search = client.get("/fhir/Patient?family=Nakamura", headers=hospital)
    for refused in (read, search):
        assert refused.status_code == 503
        assert refused.json()["issue"][0]["code"] == "transient"
        assert "Nakamura" not in refused.text and "Traceback" not in refused.text
    assert _committed(db, "rest/read") == 0
    assert client.get(f"/fhir/Patient/{made['id']}", headers=hospital).status_code == 200


@pytest.fixture()
def one_connection(database_url: str) -> Iterator[Database]:
    """A pool of one connection, so every unit of work below reuses the same one."""
    db = Database(database_url, pool_size=1)
    yield db
    db.dispose()


def test_the_connection_is_clean_after_a_read_commit(
    db: Database, one_connection: Database, audit_log: AuditLog
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the pipelined read commit is PostgreSQL's (SQLite appends in the transaction)")
    service_base = "http://testserver/fhir"
    with one_connection.unit_of_work() as session:
        rid = (
            ResourceService(session, service_base)
            .create("Patient", {"resourceType": "Patient"})
            .rid
        )
    ref = f"Patient/{rid}"
    event = audit_log.events.rest(clinician_ctx(), "read", resources=[ref], patients=[ref])
    with one_connection.unit_of_work() as session:
        ResourceService(session, service_base).read("Patient", rid)
        mark_read_only(session)
        audit_log.append(session, event)
        assert _committed(db, "rest/read") == 1  # durable before the unit of work even ends
        second = audit_log.events.rest(clinician_ctx(), "read", resources=[ref], patients=[ref])
        audit_log.append(session, second)  # a second event (break-the-glass) commits the same way
        assert _committed(db, "rest/read") == 2
    # The next unit of work on that connection is a normal transaction: rolled back on error.
    with pytest.raises(RuntimeError), one_connection.unit_of_work() as session:
        ResourceService(session, service_base).create("Patient", {"resourceType": "Patient"})
        audit_log.append(session, audit_log.events.rest(clinician_ctx(), "create"))
        raise RuntimeError("the write fails after its append")
    assert _committed(db, "rest/create") == 0
    with one_connection.unit_of_work() as session:
        patients = session.execute(
            text("SELECT count(*) FROM fhir_resource WHERE rtype = 'Patient'")
        ).scalar_one()
    assert patients == 1  # the first create only: the failed write left nothing
