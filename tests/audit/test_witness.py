"""A witness remembers what the log said and catches it being rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import text

from gateway.audit.checkpoint import checkpoint
from gateway.audit.log import AuditLog
from gateway.audit.notes import Checkpoint, NoteSigner
from gateway.audit.witness import ForkDetected, WitnessUnavailable, observe
from gateway.db.session import Database
from tests.audit.conftest import clinician_ctx, fill
from tests.audit.support import tamper
from tests.conftest import bearer


@pytest.fixture()
def token(client: TestClient) -> str:
    return bearer(client.app, role="hospital_ehr")["Authorization"].split(" ", 1)[1]


def sign(db: Database, log: AuditLog) -> None:
    assert log.signer is not None
    checkpoint(db, log.signer)


def test_the_witness_follows_a_growing_log(
    client: TestClient, db: Database, audit_log: AuditLog, token: str, tmp_path: Path
) -> None:
    assert audit_log.signer is not None
    vkey = audit_log.signer.verifier.vkey
    state = tmp_path / "witness.json"
    fill(db, audit_log, 3)
    sign(db, audit_log)
    with pytest.raises(WitnessUnavailable):
        observe(client, "http://testserver", state, token=token)  # no pinned key yet
    first = observe(client, "http://testserver", state, vkey=vkey, token=token)
    assert (first.previous, first.size, first.grew) == (0, 3, True)
    again = observe(client, "http://testserver", state, token=token)
    assert (again.size, again.grew) == (3, False)
    fill(db, audit_log, 4, start=3)
    sign(db, audit_log)
    grown = observe(client, "http://testserver", state, token=token)
    assert (grown.previous, grown.size) == (3, 7)
    saved = json.loads(state.read_text())
    assert saved["size"] == 7 and saved["vkey"] == vkey
    assert [h["size"] for h in saved["history"]] == [3, 7]
    assert saved["note"].startswith("testserver/audit\n7\n")


def test_a_rewritten_history_is_a_fork(
    client: TestClient, db: Database, audit_log: AuditLog, token: str, tmp_path: Path
) -> None:
    """Someone with the database and the signing key replaces the log with another one."""
    assert audit_log.signer is not None
    state = tmp_path / "witness.json"
    fill(db, audit_log, 5)
    sign(db, audit_log)
    observe(client, "http://testserver", state, vkey=audit_log.signer.verifier.vkey, token=token)
    for table in ("audit_patient", "audit_node", "audit_checkpoint", "audit_leaf"):
        tamper(db, f"DELETE FROM {table}")
    with db.unit_of_work() as session:
        session.execute(text("DELETE FROM fhir_resource WHERE rtype = 'AuditEvent'"))
    for i in range(8):  # a different history, longer than the one the witness saw
        with db.unit_of_work() as session:
            ctx = clinician_ctx(user=f"someone-{i}")
            audit_log.append(session, audit_log.events.rest(ctx, "read", patients=["Patient/x"]))
    sign(db, audit_log)
    with pytest.raises(ForkDetected, match="not consistent"):
        observe(client, "http://testserver", state, token=token)
    assert json.loads(state.read_text())["size"] == 5  # the witness keeps what it saw


def test_a_second_root_for_the_same_size_or_a_shrinking_log_is_a_fork(
    client: TestClient, db: Database, audit_log: AuditLog, token: str, tmp_path: Path
) -> None:
    assert audit_log.signer is not None
    state = tmp_path / "witness.json"
    fill(db, audit_log, 4)
    sign(db, audit_log)
    observe(client, "http://testserver", state, vkey=audit_log.signer.verifier.vkey, token=token)
    signer: NoteSigner = audit_log.signer
    for size, message in ((4, "two different roots"), (2, "shrank")):
        note = signer.sign(Checkpoint(signer.name, size, b"\x07" * 32).text())
        tamper(
            db,
            "INSERT INTO audit_checkpoint (size, root, note, created_at) VALUES (:s, :r, :n, 0)",
            s=size + 1000,
            r=b"\x07" * 32,
            n=note,
        )
        with pytest.raises(ForkDetected, match=message):
            observe(client, "http://testserver", state, token=token)
        tamper(db, "DELETE FROM audit_checkpoint WHERE size = :s", s=size + 1000)


def test_a_checkpoint_not_signed_by_the_pinned_key_is_refused(
    client: TestClient, db: Database, audit_log: AuditLog, token: str, tmp_path: Path
) -> None:
    fill(db, audit_log, 2)
    sign(db, audit_log)
    other = NoteSigner("testserver/audit", Ed25519PrivateKey.generate())
    with pytest.raises(ForkDetected, match="does not verify"):
        observe(client, "http://testserver", tmp_path / "w.json", vkey=other.verifier.vkey,
                token=token)  # fmt: skip
