"""Placement end to end: a real gateway process (``gateway demo`` data, the real facility matcher,
its background workers), an EHR and a facility system with SMART Backend Services tokens, plain
FHIR only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.server import (
    SCOPE,
    Credentials,
    Gateway,
    _client_key,
    fetch_token,
    run_gateway,
    running_gateway,
)
from tests.support.databases import fresh_database

HOSPITAL = "demo-panhandle-regional"
PAVILION = "hifld-0079979106"  # the psychiatric hospital in Amarillo (demo directory)
FHIR = {"Content-Type": "application/fhir+json"}
BED_TYPE = "urn:crisis-exchange:bed-type"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"


def facility_token(gateway: Gateway, agency: str) -> str:
    """Register a facility system for ``agency`` (as an administrator would) and get its token."""
    from gateway.auth.registry import Registry
    from gateway.db.session import Database

    client_id = f"e2e-facility-{uuid.uuid4().hex[:8]}"
    key = _client_key()
    database = Database(gateway.database_url, pool_size=1)
    try:
        with database.unit_of_work() as session:
            Registry(session).add_client(
                client_id,
                agency,
                "facility_system",
                SCOPE,
                jwks={"keys": [key.as_dict(private=False)]},
            )
    finally:
        database.dispose()
    return fetch_token(Credentials(client_id, key, f"{gateway.base_url}/auth/token"))


@pytest.fixture(scope="module")
def demo_gateway(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir: Path = tmp_path_factory.mktemp(f"e2e-placement-{backend}")
    with fresh_database(backend, workdir) as url:
        loaded = run_gateway(["demo", "--no-serve", "--database-url", url], workdir, timeout=180)
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert "awaiting answers" in loaded.stdout
        with running_gateway(url, workdir, agency=HOSPITAL) as running:
            yield running


def send(http: httpx.Client, method: str, path: str, token: str, body: Any = None) -> Any:
    headers = {**FHIR, "Authorization": f"Bearer {token}"}
    content = None if body is None else orjson.dumps(body)
    return http.request(method, path, content=content, headers=headers)


def test_a_request_by_transaction_answered_by_a_facility_over_fhir(demo_gateway: Gateway) -> None:
    ehr = demo_gateway.headers["Authorization"].split(" ", 1)[1]
    pavilion = facility_token(demo_gateway, PAVILION)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b8a4c0e-2a4f-4c41-9a55-0f6d6f1e0a01",
                "resource": {
                    "resourceType": "ServiceRequest",
                    "status": "active",
                    "intent": "order",
                    "code": {"coding": [{"system": BED_TYPE, "code": "AdultPsychiatric"}]},
                    "subject": {"reference": "Patient/demo-patient-04"},
                    "requester": {"reference": f"Organization/{HOSPITAL}"},
                    "reasonCode": [
                        {
                            "coding": [
                                {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F32.9"}
                            ]
                        }
                    ],
                    "locationReference": [{"reference": f"Location/{PAVILION}"}],
                },
                "request": {"method": "POST", "url": "ServiceRequest"},
            },
            {
                "fullUrl": "urn:uuid:0b8a4c0e-2a4f-4c41-9a55-0f6d6f1e0a02",
                "resource": {
                    "resourceType": "Task",
                    "status": "requested",
                    "intent": "order",
                    "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
                    "focus": {"reference": "urn:uuid:0b8a4c0e-2a4f-4c41-9a55-0f6d6f1e0a01"},
                },
                "request": {"method": "POST", "url": "Task"},
            },
        ],
    }
    with httpx.Client(base_url=demo_gateway.base_url, timeout=30) as http:
        response = send(http, "POST", "/fhir", ehr, bundle)
        assert response.status_code == 200, response.text
        parent_id = response.json()["entry"][1]["response"]["location"].split("/")[1]
        kids = send(http, "GET", f"/fhir/Task?part-of=Task/{parent_id}", ehr).json()
        children = [e["resource"] for e in kids.get("entry", [])]
        mine = next(c for c in children if c["owner"]["reference"] == f"Organization/{PAVILION}")

        view = send(http, "GET", f"/placement/tasks/{mine['id']}", pavilion)
        assert view.status_code == 200, view.text
        assert "demo-patient-04" not in view.text  # the minimum necessary: no patient reference

        stored = send(http, "GET", f"/fhir/Task/{mine['id']}", ehr).json()
        accepted = {
            **stored,
            "status": "accepted",
            "output": [
                {
                    "type": {
                        "coding": [
                            {"system": "urn:crisis-exchange:placement", "code": "reserved-bed"}
                        ]
                    },
                    "valueString": "Bed 5",
                }
            ],
        }
        answer = send(http, "PUT", f"/fhir/Task/{mine['id']}", pavilion, accepted)
        assert answer.status_code == 200, answer.text
        parent = send(http, "GET", f"/fhir/Task/{parent_id}", ehr).json()
        assert parent["status"] == "accepted"
        assert parent["owner"]["reference"] == f"Organization/{PAVILION}"

        jump = {**parent, "status": "completed"}
        refused = send(http, "PUT", f"/fhir/Task/{parent_id}", ehr, jump)
        assert refused.status_code == 409 and refused.json()["resourceType"] == "OperationOutcome"
        gone = send(http, "DELETE", f"/fhir/Task/{parent_id}", ehr)
        assert gone.status_code == 409, gone.text
        packet = send(http, "GET", f"/placement/tasks/{mine['id']}", pavilion)
        assert packet.status_code == 200 and "Patient" in {
            e["resource"]["resourceType"] for e in packet.json()["entry"]
        }
