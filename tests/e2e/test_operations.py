"""What an operator does with the command line: migrate, refuse to serve un-migrated, load the demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.db.migrate import check_migrated
from gateway.db.session import Database
from tests.e2e.server import free_port, run_gateway, running_gateway

pytestmark = pytest.mark.e2e

AMARILLO = "35.222|-101.831|25|km"
THE_PAVILION = "hifld-0079979106"  # the psychiatric hospital in Amarillo in the HIFLD list
TEST_DATA = "http://terminology.hl7.org/CodeSystem/v3-ActReason|HTEST"


def test_serve_refuses_an_unmigrated_database(empty_database: str, tmp_path: Path) -> None:
    result = run_gateway(
        ["serve", "--port", str(free_port()), "--database-url", empty_database], tmp_path
    )
    assert result.returncode != 0
    assert "gateway db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_twice(empty_database: str, tmp_path: Path) -> None:
    for _ in range(2):
        result = run_gateway(["db", "upgrade", "--database-url", empty_database], tmp_path)
        assert result.returncode == 0, result.stderr
        assert "latest revision" in result.stdout
    database = Database(empty_database, pool_size=1)
    try:
        check_migrated(database.engine)  # raises if the schema is not at head
    finally:
        database.dispose()


def test_demo_then_serve(empty_database: str, tmp_path: Path) -> None:
    loaded = run_gateway(["demo", "--no-serve", "--database-url", empty_database], tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "Patient" in loaded.stdout
    assert "starting" not in loaded.stdout  # --no-serve does not announce a server

    # The demo hospital's system: the sharing rules let it see the patients its hospital holds.
    hospital = "demo-panhandle-regional"
    with running_gateway(empty_database, tmp_path, hospital) as gateway, gateway.client() as api:
        patients = api.get("/Patient", params={"_tag": TEST_DATA, "_sort": "family"}).json()
        assert patients["total"] == 10
        families = [e["resource"]["name"][0]["family"] for e in patients["entry"]]
        assert families[0] == "Demo" and "Sample" in families

        nearby = api.get("/Location", params={"near": AMARILLO}).json()
        assert [e["resource"]["id"] for e in nearby.get("entry", [])] == [THE_PAVILION]

        placement = api.get(
            "/Task", params={"code": "fulfill", "status": "requested", "_include": "Task:focus"}
        ).json()
        # The demo's requests awaiting answers: each requested Task comes with the request it is
        # about (its focus), included once.
        tasks = [e["resource"] for e in placement["entry"] if e["search"]["mode"] == "match"]
        included = {
            e["resource"]["id"]
            for e in placement["entry"]
            if e["search"]["mode"] == "include"
            and e["resource"]["resourceType"] == "ServiceRequest"
        }
        assert tasks and all(t["status"] == "requested" for t in tasks)
        assert {t["focus"]["reference"].split("/")[1] for t in tasks} == included
