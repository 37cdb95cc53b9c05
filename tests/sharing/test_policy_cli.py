"""``gateway policy check|matrix|explain`` evaluate the real engine."""

from __future__ import annotations

import csv
import io

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from policies.labelling import label
from tests.auth.conftest import register
from tests.support.smart import public_jwks, rsa_key

runner = CliRunner()


def test_check_validates_policies_and_agreements() -> None:
    result = runner.invoke(app, ["policy", "check"])
    assert result.exit_code == 0, result.output
    assert "policies valid against the schema" in result.output


def test_matrix_never_shows_police_sensitive_classes() -> None:
    result = runner.invoke(app, ["policy", "matrix", "--csv", "--role", "police_officer"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows
    police = [r for r in rows if r["role"] == "police_officer"]
    assert {r["role"] for r in rows} == {"police_officer"}
    assert police
    sensitive = {"mental-health", "sud", "psychotherapy-note", "hiv", "diagnosis"}
    leaks = [r for r in police if r["data_class"] in sensitive and r["allowed"] == "True"]
    assert leaks == []


@pytest.fixture()
def stored_condition(db: Database, settings: object) -> str:
    with db.unit_of_work() as session:
        svc = ResourceService(session, "http://testserver/fhir", labeller=label)
        patient = svc.create(
            "Patient",
            {
                "resourceType": "Patient",
                "meta": {"source": "urn:gateway:agency:demo-panhandle-regional"},
            },
        )
        condition = svc.create(
            "Condition",
            {
                "resourceType": "Condition",
                "meta": {"source": "urn:gateway:agency:demo-panhandle-regional"},
                "subject": {"reference": f"Patient/{patient.rid}"},
                "code": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F20.9"}]
                },
            },
        )
    return condition.rid


def test_explain_names_the_deciding_policy(
    db: Database, database_url: str, stored_condition: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(db, "apd-rms", public_jwks(rsa_key()), role="police_rms", purposes=["HLEGAL"])
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    result = runner.invoke(
        app,
        ["policy", "explain", "--client", "apd-rms", "--resource", f"Condition/{stored_condition}"],
    )
    assert result.exit_code == 0, result.output
    assert "DENY" in result.output
    assert "police.never-sensitive" in result.output
    missing = runner.invoke(
        app, ["policy", "explain", "--client", "apd-rms", "--resource", "Condition/nope"]
    )
    assert missing.exit_code == 2
