"""``/audit``: what an outsider fetches, checked with nothing but the documented formats, the
``cryptography`` package and an independent RFC 9162 transcription (tests/audit/rfc9162.py)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from gateway.audit.checkpoint import checkpoint
from gateway.audit.log import AuditLog
from gateway.db.session import Database
from tests.audit import rfc9162 as ref
from tests.audit.conftest import fill
from tests.conftest import bearer


def open_note(note: str, vkey: str) -> tuple[str, int, bytes]:
    """Verify a checkpoint note by hand: C2SP signed-note + tlog-checkpoint, Ed25519."""
    name, key_id_hex, key_b64 = vkey.strip().split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 0x01 and len(key) == 33
    key_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    assert key_id.hex() == key_id_hex
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    mine = [line for line in signatures.splitlines() if line.startswith(f"\u2014 {name} ")]
    assert len(mine) == 1
    blob = base64.b64decode(mine[0].split(" ")[2])
    assert blob[:4] == key_id
    Ed25519PublicKey.from_public_bytes(key[1:]).verify(blob[4:], text.encode())  # raises if bad
    origin, size, root = text.split("\n")[:3]
    assert origin == name
    return origin, int(size), base64.b64decode(root)


def test_checkpoints_verify_with_the_served_key(
    client: TestClient, db: Database, audit_log: AuditLog
) -> None:
    anyone = bearer(client.app, role="police_officer", purposes=["HLEGAL"])
    assert client.get("/audit/checkpoint", headers=anyone).status_code == 404
    fill(db, audit_log, 6)
    assert audit_log.signer is not None
    checkpoint(db, audit_log.signer)
    response = client.get("/audit/checkpoint", headers=anyone)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    vkey = client.get("/audit/checkpoint/key", headers=anyone).text
    origin, size, root = open_note(response.text, vkey)
    assert (origin, size) == ("testserver/audit", 6)
    assert len(root) == 32


def test_entries_and_proofs_verify_independently(
    client: TestClient, db: Database, audit_log: AuditLog
) -> None:
    assert audit_log.signer is not None
    fill(db, audit_log, 5)
    checkpoint(db, audit_log.signer)
    first_note = client.get("/audit/checkpoint", headers=bearer(client.app)).text
    fill(db, audit_log, 9, start=5)
    checkpoint(db, audit_log.signer)
    anyone = bearer(client.app, role="hospital_ehr")
    auditor = bearer(client.app, role="bha_auditor", user="ann")
    vkey = client.get("/audit/checkpoint/key", headers=anyone).text
    _, size, root = open_note(client.get("/audit/checkpoint", headers=anyone).text, vkey)
    _, first, first_root = open_note(first_note, vkey)
    assert (first, size) == (5, 14)

    raw = client.get(f"/audit/entries?start=0&end={size}", headers=auditor)
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/x-ndjson"
    leaves = raw.content.split(b"\n")[:-1]
    assert len(leaves) == size
    assert ref.mth(leaves) == root
    assert ref.mth(leaves[:first]) == first_root
    assert all(leaf.endswith(b',"index":%d}' % i) for i, leaf in enumerate(leaves))

    for index in range(size):
        got = client.get(f"/audit/proof/inclusion?index={index}&size={size}", headers=anyone)
        body = got.json()
        hashes = [base64.b64decode(h) for h in body["hashes"]]
        leaf = hashlib.sha256(b"\x00" + leaves[index]).digest()
        assert ref.verify_inclusion(index, size, leaf, hashes, root), index
        assert (body["index"], body["size"]) == (index, size)
    consistency = client.get(f"/audit/proof/consistency?from={first}&to={size}", headers=anyone)
    hashes = [base64.b64decode(h) for h in consistency.json()["hashes"]]
    assert ref.verify_consistency(first, size, first_root, root, hashes)
    # A proof for an older tree size, as a client holding an old receipt would ask.
    old = client.get(f"/audit/proof/inclusion?index=2&size={first}", headers=anyone).json()
    old_hashes = [base64.b64decode(h) for h in old["hashes"]]
    leaf2 = hashlib.sha256(b"\x00" + leaves[2]).digest()
    assert ref.verify_inclusion(2, first, leaf2, old_hashes, first_root)


def test_proofs_are_served_only_for_checkpointed_sizes(
    client: TestClient, db: Database, audit_log: AuditLog
) -> None:
    assert audit_log.signer is not None
    fill(db, audit_log, 4)
    checkpoint(db, audit_log.signer)
    fill(db, audit_log, 2, start=4)
    headers = bearer(client.app)
    late = client.get("/audit/proof/inclusion?index=4&size=6", headers=headers)
    assert late.status_code == 400
    assert "checkpoint" in late.json()["issue"][0]["diagnostics"]
    assert client.get("/audit/proof/inclusion?index=4&size=4", headers=headers).status_code == 400
    bad = client.get("/audit/proof/consistency?from=5&to=4", headers=headers)
    assert bad.status_code == 400


def test_who_may_read_what(client: TestClient, db: Database, audit_log: AuditLog) -> None:
    assert audit_log.signer is not None
    fill(db, audit_log, 3)
    checkpoint(db, audit_log.signer)
    assert client.get("/audit/checkpoint").status_code == 401
    assert client.get("/audit/proof/inclusion?index=0&size=3").status_code == 401
    officer = bearer(client.app, role="police_officer", purposes=["HLEGAL"])
    assert client.get("/audit/proof/inclusion?index=0&size=3", headers=officer).status_code == 200
    for path in ("/audit/entries?start=0&end=3", "/audit/events", "/audit/btg"):
        assert client.get(path, headers=officer).status_code == 403, path
    assert client.get("/audit/accounting?patient=Patient/p1", headers=officer).status_code == 403


def test_reading_the_entries_is_itself_audited(
    client: TestClient, db: Database, audit_log: AuditLog
) -> None:
    fill(db, audit_log, 3)
    assert audit_log.signer is not None
    checkpoint(db, audit_log.signer)
    auditor = bearer(client.app, role="bha_auditor", user="ann", agency="bha")
    assert client.get("/audit/entries?start=0&end=3", headers=auditor).status_code == 200
    events = client.get("/audit/events?agent=ann", headers=auditor).json()["events"]
    assert [e["kind"] for e in events] == ["110106"]
    assert events[0]["what"] == "audit log entries 0 to 2"
    too_many = client.get("/audit/entries?start=0&end=5000", headers=auditor)
    assert too_many.status_code == 400
