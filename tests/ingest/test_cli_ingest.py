"""``gateway ingest ADAPTER FILE... --client-id ID``: bulk loads with a summary and an honest exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.db.session import Database
from tests.auth.conftest import register
from tests.support.smart import public_jwks, rsa_key

FIXTURES = Path(__file__).parents[1] / "adapters" / "hl7v2" / "fixtures"


@pytest.fixture()
def loader(db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    register(db, "bulk-ehr", public_jwks(rsa_key()), scope="system/*.cruds")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    return CliRunner()


def test_bulk_load_summarises_and_exits_zero(loader: CliRunner) -> None:
    files = [str(FIXTURES / "ADT-A01-01.hl7"), str(FIXTURES / "REF-I12-01.hl7")]
    result = loader.invoke(app, ["ingest", "hl7v2", *files, "--client-id", "bulk-ehr", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "stored 2, updated 0, unchanged 0, refused 0" in result.output
    again = loader.invoke(app, ["ingest", "hl7v2", *files, "--client-id", "bulk-ehr", "--quiet"])
    assert "stored 0, updated 0, unchanged 2, refused 0" in again.output


def test_refused_records_make_a_non_zero_exit(loader: CliRunner) -> None:
    files = [str(FIXTURES / "ADT-A01-01.hl7"), str(FIXTURES / "ORU-R01-RMGEAD.hl7")]
    result = loader.invoke(app, ["ingest", "hl7v2", *files, "--client-id", "bulk-ehr", "--quiet"])
    assert result.exit_code == 1
    assert "refused 1" in result.output
    assert "ORU" in result.output


def test_unknown_client_is_a_clear_error(loader: CliRunner) -> None:
    result = loader.invoke(
        app, ["ingest", "hl7v2", str(FIXTURES / "ADT-A01-01.hl7"), "--client-id", "nobody"]
    )
    assert result.exit_code == 2
    assert "not registered" in result.output
