"""Tampering with the stored log, the way someone with database access would (triggers bypassed),
is caught by ``gateway audit verify``, which names the first bad index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from typer.testing import CliRunner

from gateway.audit import verify as verify_module
from gateway.audit.canonical import leaf_bytes
from gateway.audit.checkpoint import checkpoint
from gateway.audit.cli import audit as audit_cli
from gateway.audit.errors import TamperDetected
from gateway.audit.log import AuditLog
from gateway.audit.merkle import leaf_hash
from gateway.audit.notes import Checkpoint, NoteSigner
from gateway.audit.report import Report
from gateway.audit.verify import verify_log
from gateway.db.session import Database
from gateway.settings import Settings
from tests.audit.conftest import fill
from tests.audit.support import tamper


@pytest.fixture()
def log20(db: Database, audit_log: AuditLog) -> AuditLog:
    """20 events with checkpoints at 8 and 20, then 3 more (sequenced, not yet checkpointed)."""
    assert audit_log.signer is not None
    fill(db, audit_log, 8)
    checkpoint(db, audit_log.signer)
    fill(db, audit_log, 12, start=8)
    checkpoint(db, audit_log.signer)
    fill(db, audit_log, 3, start=20)
    from gateway.audit.checkpoint import sequence

    assert sequence(db) == 23
    return audit_log


def run(db: Database, log: AuditLog, **kw: object) -> Report:
    assert log.signer is not None
    return verify_log(db, log.signer.verifier, **kw)  # type: ignore[arg-type]


def body_of(db: Database, index: int) -> bytes:
    with db.unit_of_work() as session:
        row = session.execute(text("SELECT body FROM audit_leaf WHERE idx = :i"), {"i": index})
        return bytes(row.scalar_one())


def rewrite(db: Database, index: int, change: Callable[[bytes], bytes], *, rehash: bool) -> None:
    body = change(body_of(db, index))
    params: dict[str, object] = {"b": body, "i": index}
    sql = "UPDATE audit_leaf SET body = :b"
    if rehash:
        sql += ", leaf_hash = :h"
        params["h"] = leaf_hash(leaf_bytes(body, index))
    tamper(db, sql + " WHERE idx = :i", **params)


def rename(body: bytes) -> bytes:
    return body.replace(b"dr.smith", b"dr.other")


def test_an_untouched_log_verifies(db: Database, log20: AuditLog) -> None:
    report = run(db, log20, deep=True)
    assert report.ok, report.summary()
    assert (report.entries, report.checkpoints) == (23, 2)
    assert "audit log OK" in report.summary()


def test_verification_in_parallel_pieces_agrees(
    db: Database, log20: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify_module, "_MIN_BLOCK", 4)
    assert run(db, log20, jobs=3).ok
    rewrite(db, 13, rename, rehash=False)
    assert run(db, log20, jobs=3).first_bad_index == 13


def test_a_changed_event_is_named(db: Database, log20: AuditLog) -> None:
    rewrite(db, 5, rename, rehash=False)
    report = run(db, log20)
    assert not report.ok
    assert report.first_bad_index == 5
    assert "first bad index: 5" in report.summary()


def test_a_changed_event_with_a_recomputed_hash_is_named(db: Database, log20: AuditLog) -> None:
    rewrite(db, 11, rename, rehash=True)
    report = run(db, log20)
    assert report.first_bad_index == 11
    assert any(p.checkpoint == 20 for p in report.problems)


def test_a_changed_event_after_the_last_checkpoint_is_named(db: Database, log20: AuditLog) -> None:
    rewrite(db, 21, rename, rehash=False)
    assert run(db, log20).first_bad_index == 21


def test_a_deleted_event_is_named(db: Database, log20: AuditLog) -> None:
    tamper(db, "DELETE FROM audit_leaf WHERE idx = 7")
    assert run(db, log20).first_bad_index == 7


def test_a_deleted_event_with_the_rest_renumbered_is_named(db: Database, log20: AuditLog) -> None:
    tamper(db, "DELETE FROM audit_leaf WHERE idx = 7")
    tamper(db, "UPDATE audit_leaf SET idx = -idx WHERE idx > 7")
    tamper(db, "UPDATE audit_leaf SET idx = -idx - 1 WHERE idx < 0")
    assert run(db, log20).first_bad_index == 7


def test_an_inserted_event_is_named(db: Database, log20: AuditLog) -> None:
    forged = rename(body_of(db, 2)).replace(b'"id":"', b'"id":"f')
    tamper(db, "UPDATE audit_leaf SET idx = -idx WHERE idx >= 6")
    tamper(db, "UPDATE audit_leaf SET idx = -idx + 1 WHERE idx < 0")
    tamper(
        db,
        "INSERT INTO audit_leaf (idx, event_id, recorded, body, leaf_hash, kind, action, outcome,"
        " disclosure) VALUES (6, 'forged', 0, :b, :h, 'rest/read', 'R', '0', false)",
        b=forged,
        h=leaf_hash(leaf_bytes(forged, 6)),
    )
    assert run(db, log20).first_bad_index == 6


def test_reordered_events_are_named(db: Database, log20: AuditLog) -> None:
    tamper(db, "UPDATE audit_leaf SET idx = -1 WHERE idx = 3")
    tamper(db, "UPDATE audit_leaf SET idx = 3 WHERE idx = 9")
    tamper(db, "UPDATE audit_leaf SET idx = 9 WHERE idx = -1")
    assert run(db, log20).first_bad_index == 3


def test_a_truncated_log_is_named(db: Database, log20: AuditLog) -> None:
    tamper(db, "DELETE FROM audit_leaf WHERE idx >= 15")
    report = run(db, log20)
    assert report.first_bad_index == 15
    assert any("missing" in p.message for p in report.problems)


def test_a_checkpoint_with_an_altered_root_is_caught(db: Database, log20: AuditLog) -> None:
    with db.unit_of_work() as session:
        note = session.execute(text("SELECT note FROM audit_checkpoint WHERE size = 8")).scalar()
    lines = note.split("\n")
    lines[2] = "A" * 43 + "="
    tamper(db, "UPDATE audit_checkpoint SET note = :n WHERE size = 8", n="\n".join(lines))
    report = run(db, log20)
    assert not report.ok
    assert [p.checkpoint for p in report.problems] == [8]
    assert "forged" in report.summary()


def test_a_checkpoint_signed_by_another_key_is_caught(db: Database, log20: AuditLog) -> None:
    assert log20.signer is not None
    impostor = NoteSigner(log20.signer.name, Ed25519PrivateKey.generate())
    note = impostor.sign(Checkpoint(impostor.name, 12, b"\x00" * 32).text())
    tamper(
        db,
        "INSERT INTO audit_checkpoint (size, root, note, created_at) VALUES (12, :r, :n, 0)",
        r=b"\x00" * 32,
        n=note,
    )
    report = run(db, log20)
    assert [p.checkpoint for p in report.problems] == [12]


def test_a_checkpoint_row_disagreeing_with_its_note_is_caught(
    db: Database, log20: AuditLog
) -> None:
    tamper(db, "UPDATE audit_checkpoint SET size = 19 WHERE size = 20")
    assert [p.checkpoint for p in run(db, log20).problems] == [19]


def test_a_rewritten_tree_node_breaks_consistency(db: Database, log20: AuditLog) -> None:
    tamper(db, "UPDATE audit_node SET hash = :h WHERE level = 3 AND idx = 1", h=b"\x01" * 32)
    report = run(db, log20)
    assert any("not consistent" in p.message for p in report.problems)


def test_an_edited_search_column_is_caught_by_the_deep_check(db: Database, log20: AuditLog) -> None:
    tamper(db, "DELETE FROM audit_patient WHERE seq = (SELECT seq FROM audit_leaf WHERE idx = 4)")
    tamper(db, "UPDATE audit_leaf SET agency = 'elsewhere' WHERE idx = 9")
    assert run(db, log20).ok  # the Merkle tree itself is intact
    report = run(db, log20, deep=True)
    assert [p.index for p in report.problems] == [4, 9]
    assert "patients" in report.problems[0].message and "agency" in report.problems[1].message


def test_the_checkpointer_refuses_to_sign_over_tampering(db: Database, log20: AuditLog) -> None:
    assert log20.signer is not None
    rewrite(db, 21, rename, rehash=False)
    with pytest.raises(TamperDetected) as caught:
        checkpoint(db, log20.signer)
    assert caught.value.index == 21


def test_the_command_exits_non_zero_and_names_the_index(
    db: Database, log20: AuditLog, settings: Settings, key_dir: Path
) -> None:
    env = {"GATEWAY_DATABASE_URL": db.url, "GATEWAY_KEY_DIR": str(key_dir)}
    ok = CliRunner().invoke(audit_cli, ["verify"], env=env)
    assert ok.exit_code == 0, ok.output
    tamper(db, "DELETE FROM audit_leaf WHERE idx = 17")
    bad = CliRunner().invoke(audit_cli, ["verify"], env=env)
    assert bad.exit_code == 1
    assert "first bad index: 17" in bad.output
