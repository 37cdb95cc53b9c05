"""Shared helpers: load facilities, build $match Parameters, tokens for a facility's users."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement.directory_hifld import read_hifld
from gateway.placement.facilities_cli import import_rows
from tests.conftest import BASE_URL, bearer

FHIR_BASE = f"{BASE_URL}/fhir"
DEMO_CSV = (
    Path(__file__).resolve().parents[3] / "gateway" / "demo_data" / "psychiatric_hospitals.csv"
)
# tests/placement/directory/helpers.py → parents[3] is the project root; shared/ sits beside it.
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
HIFLD_CSV = SHARED_DATA / "facilities" / "hifld_hospitals.csv"
EXAMPLES = SHARED_DATA / "fhir-examples"
FHIR = {"Content-Type": "application/fhir+json"}
AMARILLO = (35.2220, -101.8313)
PAVILION = "hifld-0079979106"  # THE PAVILIION, Amarillo (demo list)


def demo_rows(limit: int | None = None) -> list[dict[str, str]]:
    """Rows of the demo facility list (88 Texas-area psychiatric hospitals)."""
    with DEMO_CSV.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return rows[:limit] if limit else rows


def national_rows() -> list[dict[str, str]]:
    """Open psychiatric hospitals of the national HIFLD list (empty when the data is absent)."""
    if not HIFLD_CSV.is_file():
        return []
    return read_hifld(HIFLD_CSV)[0]


def load(db: Database, rows: list[dict[str, str]]) -> None:
    """Write the directory resources of ``rows`` (as the import does) in one transaction."""
    with db.unit_of_work() as session:
        import_rows(ResourceService(session, FHIR_BASE), rows)


def params(**values: Any) -> dict[str, Any]:
    """A $match Parameters resource; value types follow match_params.PARAMS."""
    kinds = {
        "age": "valueInteger",
        "count": "valueInteger",
        "latitude": "valueDecimal",
        "longitude": "valueDecimal",
        "maxDistance": "valueDecimal",
        "holdExpires": "valueDateTime",
        "birthDate": "valueDate",
        "reason": "valueCoding",
    }
    out = []
    for name, value in values.items():
        for one in value if isinstance(value, list) else [value]:
            key = "valueBoolean" if isinstance(one, bool) else kinds.get(name, "valueCode")
            if key == "valueCoding":
                one = {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": one}
            out.append({"name": name, key: one})
    return {"resourceType": "Parameters", "parameter": out}


def match(client: TestClient, **values: Any) -> dict[str, Any]:
    """POST $match and return the Bundle (fails the test on any error)."""
    response = client.post("/fhir/ServiceRequest/$match", json=params(**values), headers=FHIR)
    assert response.status_code == 200, response.text
    return response.json()


def hits(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def ext(search: dict[str, Any], name: str) -> Any:
    """The value of one match-* extension of an entry's search, None when absent."""
    for e in search.get("extension", []):
        if e["url"].endswith(f"/{name}"):
            return next(v for k, v in e.items() if k.startswith("value"))
    return None


def facility_headers(
    client: TestClient, org_id: str, role: str = "facility_intake"
) -> dict[str, str]:
    """A token for a user of the facility ``org_id`` (agency id = Organization id)."""
    return bearer(client.app, scope="user/*.cruds", role=role, agency=org_id)
