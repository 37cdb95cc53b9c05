"""``gateway audit checkpoint|verify|witness|key|grants`` as an operator runs them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from typer.testing import CliRunner

from gateway.audit.cli import audit as audit_cli
from gateway.audit.log import AuditLog
from gateway.db.session import Database
from tests.audit.conftest import fill
from tests.conftest import bearer


@pytest.fixture()
def env(db: Database, key_dir: Path) -> dict[str, str]:
    return {
        "GATEWAY_DATABASE_URL": db.url,
        "GATEWAY_KEY_DIR": str(key_dir),
        "GATEWAY_BASE_URL": "http://testserver",
    }


def test_checkpoint_then_verify(db: Database, audit_log: AuditLog, env: dict[str, str]) -> None:
    fill(db, audit_log, 5)
    signed = CliRunner().invoke(audit_cli, ["checkpoint"], env=env)
    assert signed.exit_code == 0, signed.output
    assert "checkpoint at size 5 signed" in signed.output
    assert "testserver/audit\n5\n" in signed.output
    unchanged = CliRunner().invoke(audit_cli, ["checkpoint"], env=env)
    assert "unchanged" in unchanged.output
    key = CliRunner().invoke(audit_cli, ["key"], env=env).output.strip()
    assert key.startswith("testserver/audit+")
    ok = CliRunner().invoke(audit_cli, ["verify", "--vkey", key, "--deep"], env=env)
    assert ok.exit_code == 0 and "audit log OK: 5 entries, 1 checkpoints" in ok.output
    bad_key = CliRunner().invoke(audit_cli, ["verify", "--vkey", "nonsense"], env=env)
    assert bad_key.exit_code == 2 and "error:" in bad_key.output


def test_witness_command(
    app: object,
    client: TestClient,
    db: Database,
    audit_log: AuditLog,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill(db, audit_log, 3)
    CliRunner().invoke(audit_cli, ["checkpoint"], env=env)
    assert audit_log.signer is not None
    vkey_file = tmp_path / "log.vkey"
    vkey_file.write_text(audit_log.signer.verifier.vkey)
    # The command's HTTP client talks to the test app instead of the network (a new one per run:
    # the command closes its client).
    monkeypatch.setattr(httpx, "Client", lambda **_kw: TestClient(client.app))
    token = bearer(client.app, role="hospital_ehr")["Authorization"].split(" ", 1)[1]
    args = ["witness", "--url", "http://testserver", "--state", str(tmp_path / "w.json")]
    first = CliRunner().invoke(audit_cli, [*args, "--vkey", str(vkey_file), "--token", token])
    assert first.exit_code == 0, first.output
    assert "grew from 0 to 3" in first.output
    again = CliRunner().invoke(audit_cli, args, env={"GATEWAY_AUDIT_TOKEN": token})
    assert again.exit_code == 0 and "still has 3" in again.output
    forged = CliRunner().invoke(audit_cli, [*args, "--vkey", "x+00000000+AAAA", "--token", token])
    assert forged.exit_code != 0


def test_grants_cover_every_table_the_migrations_create(db: Database) -> None:
    # In a fresh interpreter: what the grants name must not depend on what else was imported.
    code = "from gateway.audit.grants import grants_sql; print(grants_sql('gateway_app'))"
    printed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    granted = {
        name.strip()
        for names in re.findall(r" ON (.+?) (?:TO|FROM) ", printed)
        for name in names.split(",")
    }
    assert set(inspect(db.engine).get_table_names()) <= granted


def test_grants_for_a_runtime_role() -> None:
    result = CliRunner().invoke(audit_cli, ["grants", "--role", "gateway_app"])
    assert result.exit_code == 0
    assert "REVOKE UPDATE, DELETE, TRUNCATE ON audit_leaf" in result.output
    assert 'GRANT UPDATE (idx, leaf_hash) ON audit_leaf TO "gateway_app";' in result.output
