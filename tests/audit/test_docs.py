"""The verifier printed in docs/audit.md works against the API, as written."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from gateway.audit.checkpoint import checkpoint
from gateway.audit.log import AuditLog
from gateway.db.session import Database
from tests.audit.conftest import fill
from tests.conftest import bearer

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def documented_verifier() -> dict[str, Any]:
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    names: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOC), "exec"), names)
    return names


def test_the_documented_verifier_checks_an_event(
    client: TestClient, db: Database, audit_log: AuditLog
) -> None:
    verifier = documented_verifier()
    fill(db, audit_log, 11)
    assert audit_log.signer is not None
    checkpoint(db, audit_log.signer)
    anyone = bearer(client.app, role="hospital_ehr")
    auditor = bearer(client.app, role="bha_auditor", user="ann")
    vkey = client.get("/audit/checkpoint/key", headers=anyone).text
    size, root = verifier["open_checkpoint"](
        client.get("/audit/checkpoint", headers=anyone).text, vkey
    )
    entries = client.get(f"/audit/entries?start=0&end={size}", headers=auditor).content
    for index, entry in enumerate(entries.split(b"\n")[:-1]):
        assert entry.endswith(b',"index":%d}' % index)
        proof = client.get(f"/audit/proof/inclusion?index={index}&size={size}", headers=anyone)
        hashes = [base64.b64decode(h) for h in proof.json()["hashes"]]
        leaf = verifier["leaf_hash"](entry)
        assert verifier["verify_inclusion"](index, size, leaf, hashes, root)
        assert not verifier["verify_inclusion"](index, size, leaf, hashes, b"\x00" * 32)
