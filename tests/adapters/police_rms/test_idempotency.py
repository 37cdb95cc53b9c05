"""Same call twice → the same Bundle; a corrected call → the same ids with new content."""

from __future__ import annotations

from typing import Any

from adapters.base import SourceInfo, SourceRecord
from adapters.police_rms import PoliceRmsAdapter
from tests.adapters.kit import SOURCE
from tests.adapters.police_rms.samples import full_record

ADAPTER = PoliceRmsAdapter()


def bundle(rec: dict[str, Any], source: SourceInfo = SOURCE) -> dict[str, Any]:
    return ADAPTER.to_fhir(SourceRecord(rec["incident_number"], 0, rec), source).bundle


def by_url(b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["request"]["url"]: e["resource"] for e in b["entry"]}


def test_resending_gives_an_identical_bundle() -> None:
    assert bundle(full_record()) == bundle(full_record())


def test_every_entry_is_a_put_at_its_own_id() -> None:
    for entry in bundle(full_record())["entry"]:
        res = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}


def test_a_correction_updates_the_same_resources() -> None:
    original = full_record()
    corrected = full_record()
    corrected["updated_at"] = "2024-03-06T09:00:00-05:00"
    corrected["persons"][0]["birth_date"] = "1991-07-15"
    corrected["weapons"] = []
    corrected["follow_up"]["requested"] = False
    first, second = by_url(bundle(original)), by_url(bundle(corrected))
    assert first.keys() == second.keys(), "no resource appears or disappears"
    changed = {url.split("/")[0] for url in first if first[url] != second[url]}
    assert {"Patient", "Observation", "Flag", "ServiceRequest", "Provenance"} <= changed
    assert "Encounter" not in changed
    flag = next(r for u, r in second.items() if u.startswith("Flag/"))
    assert flag["status"] == "inactive"
    referral = next(r for u, r in second.items() if u.startswith("ServiceRequest/"))
    assert referral["status"] == "revoked"


def test_another_agency_with_the_same_incident_number_gets_other_ids() -> None:
    other = SourceInfo(agency="other-police", client_id="c2")
    ours, theirs = by_url(bundle(full_record())), by_url(bundle(full_record(), other))
    assert not ours.keys() & theirs.keys()
    assert all(r["meta"]["source"] == "urn:gateway:agency:other-police" for r in theirs.values())
