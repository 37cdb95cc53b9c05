"""The demo's program reader: registered with the other demo people, printed on start, and able to
read the program dashboard and nothing about a person."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from gateway.auth.demo import DEMO_PASSWORD, register_demo
from gateway.auth.passwords import verify_password
from gateway.auth.registry import Registry
from gateway.demo import register_agencies
from tests.conftest import bearer


def test_the_demo_has_a_program_reader_who_reads_the_dashboard_only(
    api: TestClient, tmp_path: Path
) -> None:
    state = api.app.state  # type: ignore[attr-defined]
    with state.db.unit_of_work() as session:
        register_agencies(session)
        lines = register_demo(session, tmp_path / "keys", tmp_path / "demo-keys", "http://demo")
        user = Registry(session).repo.user("command.reyes")
        assert user is not None and user.demo
        role, agency, password_hash = user.role, user.agency_id, user.password_hash
    assert role == "program_reader"
    assert verify_password(password_hash, DEMO_PASSWORD)
    assert any("command.reyes" in line and "program_reader" in line for line in lines)
    token = bearer(
        api.app, role=role, agency=agency, user="command.reyes", purposes=["HOPERAT"], scope=""
    )
    got = api.get("/outcomes/dashboard?from=2025-01&to=2025-03", headers=token)
    assert got.status_code == 200, got.text
    assert api.get("/fhir/Patient", headers=token).status_code == 403
