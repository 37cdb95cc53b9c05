"""Programs chosen with ``program=`` (their own target and time zone), ``gateway outcomes report``
giving the same numbers as the API, and the ``program_reader`` role held to aggregates by the
sharing policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.cli import app as cli
from gateway.db.session import Database
from gateway.settings import Settings
from policies.matrix import DATA_CLASSES, rows
from tests.conftest import BASE_URL, bearer
from tests.outcomes.conftest import TARGET
from tests.outcomes.test_api import QUARTER, dashboard, reader
from tests.outcomes.test_rules import PROGRAMS

runner = CliRunner()


def test_each_program_has_its_own_target_and_months(
    api: TestClient,
    database: Database,
    database_url: str,
    key_dir: Any,
    keystore: KeyStore,
    tmp_path: Path,
) -> None:
    path = tmp_path / "programs.toml"
    path.write_text(PROGRAMS, encoding="utf-8")
    settings = Settings(
        database_url=database_url, base_url=BASE_URL, key_dir=key_dir, programs_file=path
    )
    app = create_app(settings, db=database, keys=keystore, background_workers=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        default = dashboard(client)
        amarillo = dashboard(client, f"{QUARTER}&program=amarillo")
    assert default["program"]["id"] == "co-responders"
    assert default["figures"]["peopleServed"]["target"]["perYear"] == 60
    assert amarillo["program"]["timezone"] == "America/Chicago"
    assert amarillo["period"]["from"] == "2025-01-01T00:00:00-06:00"
    assert amarillo["figures"]["peopleServed"]["target"]["perYear"] == 191
    assert amarillo["figures"]["peopleServed"]["total"]["count"] == 24


def test_a_broken_programs_file_is_a_503_that_names_the_setting(
    database: Database, database_url: str, key_dir: Any, keystore: KeyStore, tmp_path: Path
) -> None:
    path = tmp_path / "programs.toml"
    path.write_text("[programs.a]\npeople_served_target = -3\n", encoding="utf-8")
    settings = Settings(
        database_url=database_url, base_url=BASE_URL, key_dir=key_dir, programs_file=path
    )
    app = create_app(settings, db=database, keys=keystore, background_workers=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        got = client.get(f"/outcomes/dashboard?{QUARTER}", headers=reader(client))
    assert got.status_code == 503
    assert "GATEWAY_PROGRAMS_FILE" in got.json()["issue"][0]["diagnostics"]


@pytest.fixture()
def environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, key_dir: Any, tmp_path: Path
) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    monkeypatch.setenv("GATEWAY_KEY_DIR", str(key_dir))
    monkeypatch.setenv("GATEWAY_BASE_URL", BASE_URL)
    monkeypatch.setenv("GATEWAY_PEOPLE_SERVED_TARGET", str(TARGET))
    monkeypatch.delenv("GATEWAY_PROGRAMS_FILE", raising=False)


def test_the_report_command_prints_what_the_api_serves(api: TestClient, environment: None) -> None:
    served = dashboard(api)
    result = runner.invoke(cli, ["outcomes", "report", "--from", "2025-01", "--to", "2025-03"])
    assert result.exit_code == 0, result.output
    printed = orjson.loads(result.stdout)
    for body in (printed, served):  # the moment each was made differs
        del body["figures"]["staleCensusShare"]["now"]["at"]
    assert printed["figures"] == served["figures"]
    assert printed["suppression"] == served["suppression"]
    as_csv = runner.invoke(
        cli, ["outcomes", "report", "--from", "2025-01", "--to", "2025-03", "--csv"]
    )
    assert as_csv.exit_code == 0, as_csv.output
    web = api.get(f"/outcomes/dashboard?{QUARTER}&_format=csv", headers=reader(api))
    assert as_csv.stdout == web.text
    auditor = bearer(api.app, role="bha_auditor", agency="audit-office", purposes=["HOPERAT"])
    events = api.get("/audit/events?agent=gateway-cli", headers=auditor).json()["events"]
    exports = [e for e in events if "program dashboard" in e["what"]]
    assert len(exports) >= 2 and all("command line" in e["what"] for e in exports)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "2025-13"], "from must be a date"),
        (["--program", "nowhere"], "no program 'nowhere'"),
    ],
)
def test_the_report_command_refuses_bad_options(
    environment: None, args: list[str], says: str
) -> None:
    result = runner.invoke(cli, ["outcomes", "report", *args])
    assert result.exit_code == 2
    assert says in result.output


def test_program_readers_may_see_aggregate_reports_and_nothing_about_a_person() -> None:
    allowed = {r.data_class for r in rows(roles=("program_reader",)) if r.allowed}
    # The facility directory is shared reference data every role sees; nothing else but reports.
    assert allowed == {"aggregate-report", "directory"}
    assert set(DATA_CLASSES) - allowed  # every patient data class refused
    purposes = {
        r.purpose
        for r in rows(roles=("program_reader",))
        if r.allowed and r.data_class == "aggregate-report"
    }
    assert purposes == {"HOPERAT"}
    check = runner.invoke(cli, ["policy", "check"])
    assert check.exit_code == 0, check.output
