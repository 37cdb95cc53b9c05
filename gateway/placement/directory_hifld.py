"""The HIFLD "Hospitals" layer as directory resources: Organization, Location, default unit.

Ids follow ``gateway/demo.py`` so the demo and an import agree: ``hifld-<ID>`` for the Organization
and the Location, ``hifld-<ID>-adult-psych`` for the default adult psychiatric HealthcareService.
Only ``TYPE = PSYCHIATRIC`` and ``STATUS = OPEN`` rows with usable coordinates are taken; ``BEDS``
of ``-999`` means unknown. The file is UTF-8 with a byte-order mark. Each resource's ``meta.source``
names the facility's own agency (id = the Organization id): the facility owns its directory entries,
which is what the sharing rules' "own agency" test reads.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path
from typing import Any

from gateway.placement import profiles as p
from gateway.sharing.profile import agency_uri

HIFLD_SYSTEM = "urn:hifld:hospital"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
SNOMED = "http://snomed.info/sct"
REQUIRED = ("ID", "NAME", "TYPE", "STATUS", "STATE", "LATITUDE", "LONGITUDE")

Resource = dict[str, Any]


class BadFile(ValueError):
    """The file is not a HIFLD hospitals CSV (says which column is missing)."""


def _concept(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def _coordinates(row: dict[str, str]) -> tuple[float, float] | None:
    try:
        lat, lon = float(row["LATITUDE"]), float(row["LONGITUDE"])
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def read_hifld(
    path: Path, states: set[str] | None = None
) -> tuple[list[dict[str, str]], Counter[str]]:
    """Open psychiatric hospitals of the file (optionally only some states), and why others were left."""
    skipped: Counter[str] = Counter()
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise BadFile(
                f"{path.name} is not a HIFLD hospitals file: no {', '.join(missing)} column"
            )
        for row in reader:
            if row["TYPE"].strip() != "PSYCHIATRIC":
                skipped["not psychiatric"] += 1
            elif row["STATUS"].strip() != "OPEN":
                skipped["not open"] += 1
            elif states and row["STATE"].strip().upper() not in states:
                skipped["other state"] += 1
            elif _coordinates(row) is None:
                skipped["no usable coordinates"] += 1
            elif not row["ID"].strip().isalnum():
                skipped["unusable ID"] += 1
            else:
                rows.append(row)
    return rows, skipped


def licensed_beds(row: dict[str, str]) -> int | None:
    """BEDS as a number; None for HIFLD's -999 (unknown) or anything unreadable."""
    try:
        beds = int(float(row.get("BEDS", "") or "-999"))
    except ValueError:
        return None
    return beds if beds >= 0 else None


def facility_resources(row: dict[str, str]) -> tuple[Resource, Resource, Resource]:
    """Organization, Location and default adult psychiatric unit for one HIFLD row."""
    hid = row["ID"].strip()
    rid = f"hifld-{hid}"
    name = row["NAME"].strip()
    lat, lon = _coordinates(row) or (0.0, 0.0)
    address = {
        "use": "work",
        "type": "physical",
        "line": [row.get("ADDRESS", "").strip()],
        "city": row.get("CITY", "").strip(),
        "state": row["STATE"].strip(),
        "postalCode": row.get("ZIP", "").strip(),
        "country": "US",
    }
    address = {k: v for k, v in address.items() if v not in ("", [""])}
    identifier = [{"system": HIFLD_SYSTEM, "value": hid}]
    meta = {"source": agency_uri(rid)}
    org_ref = {"reference": f"Organization/{rid}", "display": name}
    org = {
        "resourceType": "Organization",
        "id": rid,
        "meta": meta,
        "identifier": identifier,
        "active": True,
        "type": [_concept(f"{TERMINOLOGY}/organization-type", "prov", "Healthcare Provider")],
        "name": name,
        "address": [address],
    }
    location = {
        "resourceType": "Location",
        "id": rid,
        "meta": meta,
        "identifier": identifier,
        "status": "active",
        "name": name,
        "mode": "instance",
        "type": [_concept(f"{TERMINOLOGY}/v3-RoleCode", "HOSP", "Hospital")],
        "address": address,
        "physicalType": _concept(f"{TERMINOLOGY}/location-physical-type", "bu", "Building"),
        "position": {"longitude": lon, "latitude": lat},
        "managingOrganization": org_ref,
    }
    unit: Resource = {
        "resourceType": "HealthcareService",
        "id": f"{rid}-adult-psych",
        "meta": meta,
        "active": True,
        "providedBy": org_ref,
        "type": [_concept(p.BED_TYPE_SYSTEM, "AdultPsychiatric", p.BED_TYPES["AdultPsychiatric"])],
        "specialty": [_concept(SNOMED, "394587001", "Psychiatry")],
        "location": [{"reference": f"Location/{rid}", "display": name}],
        "name": f"{name} - adult psychiatric unit",
    }
    beds = licensed_beds(row)
    if beds is not None:
        unit["comment"] = f"{beds} licensed beds (HIFLD); live bed counts not reported yet"
    return org, location, unit
