"""Changes to agencies, clients, users and keys are audited, through the admin API and the CLI
(DCM 110113 with 110137 / 110129); a change that cannot be recorded does not happen."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.auth.cli import agencies, keys, users
from gateway.db.session import Database
from tests.audit.searching import CONFIG_CHANGES, USER_CHANGES, agents, search, targets
from tests.audit.support import audit_down
from tests.conftest import bearer
from tests.support.smart import ec_key, public_jwks

SECRET = "a long enough secret passphrase"


def _admin(app: FastAPI) -> dict[str, str]:
    return bearer(app, role="gateway_admin", user="root.admin", agency="tpc", purposes=["HOPERAT"])


def test_admin_api_changes_are_found_by_an_auditor(client: TestClient, app: FastAPI) -> None:
    admin = _admin(app)
    steps = [
        ("/admin/agencies", {"id": "tpc", "kind": "bha", "name": "Texas Panhandle Centers"}),
        (
            "/admin/clients",
            {
                "client_id": "tpc-ehr",
                "agency": "tpc",
                "role": "bha_system",
                "scope": "system/Patient.rs",
                "jwks": public_jwks(ec_key("k1")),
                "purposes": ["TREAT"],
            },
        ),
        (
            "/admin/users",
            {
                "username": "case.mgr",
                "agency": "tpc",
                "role": "bh_case_manager",
                "password": SECRET,
            },
        ),
    ]
    for url, body in steps:
        response = client.post(url, json=body, headers=admin)
        assert response.status_code == 201, response.text
    patched = client.patch(
        "/admin/users/case.mgr", json={"password": SECRET + "!", "enabled": False}, headers=admin
    )
    assert patched.status_code == 200
    off = client.patch("/admin/clients/tpc-ehr", json={"enabled": False}, headers=admin)
    assert off.status_code == 200

    created = search(client, app, f"{USER_CHANGES}&action=C&outcome=0")
    assert [targets(e) for e in created] == [
        {"urn:gateway:agency|tpc"},
        {"urn:gateway:client|tpc-ehr"},
        {"urn:gateway:user|case.mgr"},
    ]
    assert all({"test-client", "root.admin"} <= agents(e) for e in created)
    assert created[1]["outcomeDesc"] == "agency tpc, role bha_system, scope system/Patient.rs"
    updated = search(client, app, f"{USER_CHANGES}&action=U")
    assert [(targets(e), e["outcomeDesc"]) for e in updated] == [
        ({"urn:gateway:user|case.mgr"}, "password changed, disabled"),
        ({"urn:gateway:client|tpc-ehr"}, "disabled"),
    ]
    assert SECRET not in orjson.dumps(created + updated).decode()


def test_refused_admin_changes_are_recorded(client: TestClient, app: FastAPI) -> None:
    officer = bearer(app, role="police_officer", user="officer.j", agency="apd")
    body = {"id": "rogue", "kind": "police", "name": "Rogue PD"}
    assert client.post("/admin/agencies", json=body, headers=officer).status_code == 403
    admin = _admin(app)
    client.post("/admin/agencies", json={**body, "id": "apd"}, headers=admin)
    duplicate = client.post("/admin/agencies", json={**body, "id": "apd"}, headers=admin)
    assert duplicate.status_code == 409
    missing = client.patch("/admin/users/ghost", json={"enabled": True}, headers=admin)
    assert missing.status_code == 404

    refused = search(client, app, f"{USER_CHANGES}&outcome=4,8")
    assert [(targets(e), e["outcome"]) for e in refused] == [
        ({"urn:gateway:agency|(new)"}, "8"),
        ({"urn:gateway:agency|apd"}, "4"),
        ({"urn:gateway:user|ghost"}, "4"),
    ]
    assert "officer.j" in agents(refused[0])
    assert "role gateway_admin" in refused[0]["outcomeDesc"]


def test_an_admin_change_that_cannot_be_recorded_does_not_happen(
    client: TestClient, app: FastAPI, db: Database
) -> None:
    admin = _admin(app)
    with audit_down(db):
        response = client.post(
            "/admin/agencies", json={"id": "tpc", "kind": "bha", "name": "TPC"}, headers=admin
        )
    assert response.status_code == 503
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"
    assert client.get("/admin/agencies", headers=admin).json() == []


def _env(db: Database, key_dir: Path) -> dict[str, str]:
    return {
        "GATEWAY_DATABASE_URL": db.url,
        "GATEWAY_KEY_DIR": str(key_dir),
        "GATEWAY_BASE_URL": "http://testserver",
    }


def test_cli_changes_and_key_rotation_are_found_by_an_auditor(
    client: TestClient, app: FastAPI, db: Database, tmp_path: Path
) -> None:
    env = _env(db, tmp_path / "keys")
    runner = CliRunner()
    added = runner.invoke(
        agencies, ["add", "--id", "tpc", "--kind", "bha", "--name", "TPC"], env=env
    )
    assert added.exit_code == 0, added.output
    person = ["add", "--username", "ann", "--agency", "tpc", "--role", "bha_auditor"]
    assert runner.invoke(users, person, input=SECRET + "\n", env=env).exit_code == 0
    assert runner.invoke(users, ["disable", "--username", "ann"], env=env).exit_code == 0
    assert runner.invoke(users, ["disable", "--username", "nobody"], env=env).exit_code == 2
    rotated = runner.invoke(keys, ["rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    kid = rotated.output.split()[-1]

    changes = search(client, app, USER_CHANGES)
    assert [(targets(e), e["action"], e["outcome"]) for e in changes] == [
        ({"urn:gateway:agency|tpc"}, "C", "0"),
        ({"urn:gateway:user|ann"}, "C", "0"),
        ({"urn:gateway:user|ann"}, "U", "0"),
        ({"urn:gateway:user|nobody"}, "U", "4"),
    ]
    assert all("gateway-cli" in agents(e) for e in changes)
    assert any(a.startswith("os:") for a in agents(changes[0]))  # the operator's account
    (rotation,) = search(client, app, CONFIG_CHANGES)
    assert targets(rotation) == {f"urn:gateway:key|{kid}"}
    assert rotation["action"] == "C" and rotation["outcome"] == "0"
    assert SECRET not in orjson.dumps(changes).decode()


def test_a_key_rotation_that_cannot_be_recorded_is_withdrawn(db: Database, tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    env = _env(db, key_dir)
    first = CliRunner().invoke(keys, ["list"], env=env).output.split()
    with audit_down(db):
        refused = CliRunner().invoke(keys, ["rotate"], env=env)
    assert refused.exit_code == 1
    assert "could not be recorded in the audit log" in refused.output
    assert CliRunner().invoke(keys, ["list"], env=env).output.split() == first
    assert len(list(key_dir.glob("*.pem"))) == 1
