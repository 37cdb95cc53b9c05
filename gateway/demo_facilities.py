"""The demo's facility directory: open psychiatric hospitals of the HIFLD list as Organization,
Location and an adult psychiatric HealthcareService each (HIFLD, public domain)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from gateway.demo_records import BED_TYPE_SYSTEM, FACILITY_CSV, HIFLD_SYSTEM, SNOMED, TERMINOLOGY

Resource = dict[str, Any]


def ref(rtype: str, rid: str, display: str | None = None) -> Resource:
    ref: Resource = {"reference": f"{rtype}/{rid}"}
    if display:
        ref["display"] = display
    return ref


def concept(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def read_facilities(path: Path = FACILITY_CSV) -> list[dict[str, str]]:
    """The facility rows of the demo CSV (tolerates a byte-order mark like the HIFLD original)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def facility_resources(row: dict[str, str]) -> list[Resource]:
    """Organization, Location and adult psychiatric HealthcareService for one HIFLD hospital."""
    rid = f"hifld-{row['ID']}"
    name = row["NAME"].strip()
    address = {
        "use": "work",
        "type": "physical",
        "line": [row["ADDRESS"].strip()],
        "city": row["CITY"].strip(),
        "state": row["STATE"].strip(),
        "postalCode": row["ZIP"].strip(),
        "country": "US",
    }
    identifier = [{"system": HIFLD_SYSTEM, "value": row["ID"]}]
    org = {
        "resourceType": "Organization",
        "id": rid,
        "identifier": identifier,
        "active": True,
        "type": [concept(f"{TERMINOLOGY}/organization-type", "prov", "Healthcare Provider")],
        "name": name,
        "address": [address],
    }
    location = {
        "resourceType": "Location",
        "id": rid,
        "identifier": identifier,
        "status": "active",
        "name": name,
        "mode": "instance",
        "type": [concept(f"{TERMINOLOGY}/v3-RoleCode", "HOSP", "Hospital")],
        "address": address,
        "physicalType": concept(f"{TERMINOLOGY}/location-physical-type", "bu", "Building"),
        "position": {"longitude": float(row["LONGITUDE"]), "latitude": float(row["LATITUDE"])},
        "managingOrganization": ref("Organization", rid, name),
    }
    beds = row.get("BEDS", "").strip()
    service: Resource = {
        "resourceType": "HealthcareService",
        "id": f"{rid}-adult-psych",
        "active": True,
        "providedBy": ref("Organization", rid, name),
        "type": [concept(BED_TYPE_SYSTEM, "AdultPsychiatric", "Adult psychiatric inpatient")],
        "specialty": [concept(SNOMED, "394587001", "Psychiatry")],
        "location": [ref("Location", rid, name)],
        "name": f"{name} - adult psychiatric unit",
    }
    if beds:
        service["comment"] = f"{beds} licensed beds (HIFLD); live bed counts not reported yet"
    return [org, location, service]
