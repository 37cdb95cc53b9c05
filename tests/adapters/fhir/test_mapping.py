"""What the fhir adapter does to a push (docs/adapters/fhir.md)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from adapters.base import AdapterError, SourceInfo, stable_id
from adapters.fhir import FhirAdapter
from tests.adapters.fhir.samples import SHARED, all_ids_transaction, single, transaction
from tests.adapters.kit import SOURCE, convert_all

ADAPTER = FhirAdapter()
FHIR_JSON = "application/fhir+json"


def convert(data: dict[str, Any], source: SourceInfo = SOURCE) -> dict[str, Any]:
    [conversion] = [
        ADAPTER.to_fhir(r, source) for r in ADAPTER.parse(orjson.dumps(data), FHIR_JSON)
    ]
    return conversion.bundle


def resources(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}


def test_ids_are_rehomed_per_agency() -> None:
    got = resources(convert(transaction()))
    assert got["Patient"]["id"] == stable_id(SOURCE.agency, "Patient", "pat-1043")
    assert got["Encounter"]["id"] == stable_id(SOURCE.agency, "Encounter", "enc-77120")


def test_references_follow_their_targets() -> None:
    got = resources(convert(transaction()))
    patient = f"Patient/{got['Patient']['id']}"
    assert got["Encounter"]["subject"] == {"reference": patient}, "urn:uuid of a PUT entry"
    assert got["Condition"]["subject"] == {"reference": patient}, "relative reference"
    assert got["Condition"]["encounter"] == {"reference": f"Encounter/{got['Encounter']['id']}"}
    org = stable_id(SOURCE.agency, "Organization", "hosp-main")
    assert got["Encounter"]["serviceProvider"] == {"reference": f"Organization/{org}"}, (
        "a resource sent earlier is found at its re-homed id"
    )


def test_single_resource_references() -> None:
    obs = resources(convert(single()))["Observation"]
    assert obs["subject"] == {
        "reference": f"Patient/{stable_id(SOURCE.agency, 'Patient', 'pat-1043')}"
    }, "a version-specific reference points at the resource"
    assert obs["hasMember"] == [
        {"reference": "https://other.example.org/fhir/Observation/remote-1"}
    ]
    assert obs["performer"] == [{"reference": "#p1"}]
    assert obs["contained"][0]["id"] == "p1"


def test_meta_source_is_the_agency_and_labels_are_kept() -> None:
    [conversion] = convert_all(ADAPTER, orjson.dumps(transaction()), FHIR_JSON)
    patient = resources(conversion.bundle)["Patient"]
    assert patient["meta"] == {
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}
        ],
        "source": SOURCE.source_uri,
    }
    assert conversion.unmapped == ["entry[0].resource.meta.source (replaced by the agency)"]


def test_resources_without_id_are_posted_with_their_conditions() -> None:
    bundle = convert(transaction())
    post = next(e for e in bundle["entry"] if e["request"]["method"] == "POST")
    assert post["request"] == {
        "method": "POST",
        "url": "Condition",
        "ifNoneExist": "identifier=http://hospital.example.org/dx|DX-1",
    }
    assert post["fullUrl"] == "urn:uuid:c0ffee00-1234-4abc-9def-000000000001"
    prov = resources(bundle)["Provenance"]
    assert {"reference": post["fullUrl"]} in prov["target"]


def test_a_single_resource_without_id_is_posted() -> None:
    obs = single()
    del obs["id"]
    [entry, prov] = convert(obs)["entry"]
    assert entry["request"] == {"method": "POST", "url": "Observation"}
    assert prov["resource"]["target"] == [{"reference": entry["fullUrl"]}]


def test_batch_and_collection_become_one_transaction() -> None:
    for kind in ("batch", "collection"):
        bundle = all_ids_transaction()
        bundle["type"] = kind
        out = convert(bundle)
        assert out["type"] == "transaction"
        assert [e["request"]["method"] for e in out["entry"]] == ["PUT"] * 4


def test_provenance_recorded_from_the_push() -> None:
    assert resources(convert(transaction()))["Provenance"]["recorded"] == "2024-04-05T09:12:44Z"
    bundle = transaction()
    del bundle["timestamp"]
    prov = resources(convert(bundle))["Provenance"]
    assert prov["recorded"] == "2024-04-05T09:10:00Z", "the latest meta.lastUpdated"
    assert prov["entity"][0]["what"]["identifier"] == {
        "system": "urn:oid:2.16.840.1.113883.3.9999.1",
        "value": "ADT-PUSH-7781",
    }
    prov = resources(convert(single()))["Provenance"]
    assert prov["recorded"] == "2024-04-05T10:01:02.123+02:00"


def test_record_keys() -> None:
    def key(data: dict[str, Any]) -> str:
        return ADAPTER.parse(orjson.dumps(data), FHIR_JSON)[0].key

    assert key(transaction()) == "ADT-PUSH-7781"
    bundle = transaction()
    del bundle["identifier"]
    assert key(bundle) == "push-20240405-0007"
    assert key(single()) == "Observation/obs-bp-5521"
    obs = single()
    del obs["id"]
    assert key(obs).startswith("sha256:") and key(obs) == key(obs)


def test_non_fhir_entries_are_located() -> None:
    bundle = all_ids_transaction()
    bundle["entry"].append(
        {"resource": {"hello": "world"}, "request": {"method": "POST", "url": "X"}}
    )
    with pytest.raises(AdapterError) as caught:
        convert_all(ADAPTER, orjson.dumps(bundle), FHIR_JSON)
    assert caught.value.where.field == "entry[3].resource"
    assert caught.value.where.record == "ADT-PUSH-7781"


@pytest.mark.skipif(
    not SHARED.exists(), reason="shared/data/fhir-examples is not beside the project"
)
def test_real_bed_census_bundles() -> None:
    beds = orjson.loads((SHARED / "Org-1067-beds.json").read_bytes())
    out = resources(convert(beds))
    location = next(
        e["resource"] for e in convert(beds)["entry"] if e["resource"]["resourceType"] == "Location"
    )
    part_of = stable_id(SOURCE.agency, "Location", "Loc-Org-1067")
    assert location["partOf"] == {"reference": f"Location/{part_of}"}
    assert out["Provenance"]["recorded"] == beds["timestamp"]
    groups = orjson.loads((SHARED / "Org-1067-groups.json").read_bytes())
    entries = convert(groups)["entry"]
    urls = [e["fullUrl"] for e in entries]
    assert len(set(urls)) == len(urls), "entries sharing one fullUrl still get their own"
    assert all(e["request"]["method"] == "POST" for e in entries[:-1])
