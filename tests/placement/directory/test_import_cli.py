"""``gateway facilities import``: what it loads, idempotence, edits it keeps, errors."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.db.tables import ResourceRow, ResourceVersionRow
from gateway.fhir.service import ResourceService
from gateway.placement import directory, directory_write
from gateway.placement.facilities_cli import register
from tests.placement.directory.helpers import FHIR_BASE, HIFLD_CSV

COLUMNS = ["X", "Y", "OBJECTID", "ID", "NAME", "ADDRESS", "CITY", "STATE", "ZIP", "TYPE", "STATUS"]
COLUMNS += ["LATITUDE", "LONGITUDE", "BEDS"]
# fmt: off
ROWS = [
    ("0079979106", "THE PAVILIION", "AMARILLO", "TX", "PSYCHIATRIC", "OPEN", "35.2", "-101.9", "106"),
    ("0000373110", "LAUREATE", "TULSA", "OK", "PSYCHIATRIC", "OPEN", "36.0", "-95.9", "-999"),
    ("0000179602", "OCEANS ABILENE", "ABILENE", "TX", "PSYCHIATRIC", "OPEN", "32.4", "-99.7", "92"),
    ("0000000001", "OLD STATE HOSPITAL", "AUSTIN", "TX", "PSYCHIATRIC", "CLOSED", "30.3", "-97.7", "10"),
    ("0000000002", "GENERAL HOSPITAL", "AUSTIN", "TX", "GENERAL ACUTE CARE", "OPEN", "30.3", "-97.7", "10"),
    ("0000000003", "NOWHERE", "AUSTIN", "TX", "PSYCHIATRIC", "OPEN", "", "", "10"),
]
# fmt: on


def write_csv(path: Path, rows: list[tuple[str, ...]] = ROWS, columns: list[str] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:  # with a BOM, as HIFLD
        out = csv.writer(handle)
        out.writerow(columns)
        for hid, name, city, state, kind, status, lat, lon, beds in rows:
            values = {"ID": hid, "NAME": name, "CITY": city, "STATE": state, "TYPE": kind}
            values |= {"STATUS": status, "LATITUDE": lat, "LONGITUDE": lon, "BEDS": beds}
            values |= {"ADDRESS": "1 MAIN ST", "ZIP": "79106"}
            out.writerow([values.get(c, "") for c in columns])
    return path


def run(database_url: str, *args: str) -> tuple[int, str]:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Test root (keeps ``facilities`` a sub-command)."""

    result = CliRunner().invoke(
        app, ["facilities", "import", *args, "--database-url", database_url, "--no-progress"]
    )
    return result.exit_code, result.output


def counts(db: Database) -> tuple[int, int]:
    with db.unit_of_work() as session:
        live = session.execute(select(func.count()).select_from(ResourceRow)).scalar_one()
        versions = session.execute(
            select(func.count()).select_from(ResourceVersionRow)
        ).scalar_one()
    return int(live), int(versions)


def test_import_loads_open_psychiatric_hospitals_and_is_idempotent(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "hospitals.csv")
    code, output = run(database_url, str(path))
    assert code == 0, output
    assert "3 open psychiatric facilities imported" in output
    assert "1 no usable coordinates" in output and "1 not open" in output
    assert counts(db) == (9, 9)
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        unit = orjson.loads(
            svc.read("HealthcareService", "hifld-0000373110-adult-psych").content or "{}"
        )
        location = orjson.loads(svc.read("Location", "hifld-0079979106").content or "{}")
        assert Registry(session).repo.agency("hifld-0079979106").kind == "facility"  # type: ignore[union-attr]
    assert "comment" not in unit  # BEDS -999 is unknown, not a count
    assert directory.read_criteria(unit).bed_types == ("AdultPsychiatric",)
    assert location["position"] == {"latitude": 35.2, "longitude": -101.9}
    assert location["meta"]["source"] == "urn:gateway:agency:hifld-0079979106"  # the facility's
    assert unit["meta"]["source"] == "urn:gateway:agency:hifld-0000373110"
    code, output = run(database_url, str(path))
    assert code == 0 and "0 written" in output
    assert counts(db) == (9, 9)  # nothing new: not one version


def test_reimport_keeps_what_facilities_maintain(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "hospitals.csv")
    assert run(database_url, str(path))[0] == 0
    unit_id = "hifld-0079979106-adult-psych"
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        unit = orjson.loads(svc.read("HealthcareService", unit_id).content or "{}")
        svc.update(
            "HealthcareService",
            unit_id,
            directory_write.apply_criteria(unit, {"payers": ["medicaid"]}),
        )
        org = orjson.loads(svc.read("Organization", "hifld-0079979106").content or "{}")
        svc.update(
            "Organization", org["id"], {**org, "telecom": [{"system": "phone", "value": "806-1"}]}
        )
    renamed = [("0079979106", "THE PAVILION", *ROWS[0][2:])]
    assert run(database_url, str(write_csv(tmp_path / "renamed.csv", renamed)))[0] == 0
    with db.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        unit = orjson.loads(svc.read("HealthcareService", unit_id).content or "{}")
        org = orjson.loads(svc.read("Organization", "hifld-0079979106").content or "{}")
    assert directory.read_criteria(unit).payers == {"medicaid"}
    assert org["name"] == "THE PAVILION" and org["telecom"][0]["value"] == "806-1"


def test_state_filter(db: Database, database_url: str, tmp_path: Path) -> None:
    code, output = run(database_url, str(write_csv(tmp_path / "h.csv")), "--state", "ok")
    assert code == 0 and "1 open psychiatric facilities imported" in output
    assert "3 other state" in output


@pytest.mark.skipif(not HIFLD_CSV.is_file(), reason="the national HIFLD list is not there")
def test_import_of_the_real_file(db: Database, database_url: str) -> None:
    code, output = run(database_url, str(HIFLD_CSV), "--state", "VT", "--state", "RI")
    assert code == 0, output
    assert "6 open psychiatric facilities imported" in output
    with db.unit_of_work() as session:
        unit = orjson.loads(
            ResourceService(session, FHIR_BASE)
            .read("HealthcareService", "hifld-0000902920-adult-psych")
            .content
            or "{}"
        )
    assert unit["comment"].startswith("495 licensed beds")


def test_errors_are_one_line_and_exit_2(db: Database, database_url: str, tmp_path: Path) -> None:
    code, output = run(database_url, str(tmp_path / "missing.csv"))
    assert code == 2 and "error:" in output and "is not a file" in output
    bad = write_csv(tmp_path / "bad.csv", ROWS, [c for c in COLUMNS if c != "TYPE"])
    code, output = run(database_url, str(bad))
    assert code == 2 and "no TYPE column" in output
    code, output = run(f"sqlite:///{tmp_path / 'empty.db'}", str(write_csv(tmp_path / "h.csv")))
    assert code == 2 and "error:" in output and "Traceback" not in output
