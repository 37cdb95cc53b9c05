"""Same push twice → the same transaction; same ids from two agencies never collide; a corrected
resource → the same id with new content."""

from __future__ import annotations

from typing import Any

import orjson

from adapters.base import SourceInfo
from adapters.fhir import FhirAdapter
from tests.adapters.fhir.samples import all_ids_transaction
from tests.adapters.kit import SOURCE

ADAPTER = FhirAdapter()


def urls(data: dict[str, Any], source: SourceInfo = SOURCE) -> dict[str, dict[str, Any]]:
    [record] = ADAPTER.parse(orjson.dumps(data), "application/fhir+json")
    bundle = ADAPTER.to_fhir(record, source).bundle
    return {e["request"]["url"]: e["resource"] for e in bundle["entry"]}


def test_resending_changes_nothing() -> None:
    assert urls(all_ids_transaction()) == urls(all_ids_transaction())


def test_two_agencies_with_the_same_ids_do_not_collide() -> None:
    other = SourceInfo(agency="other-hospital", client_id="c9")
    assert not urls(all_ids_transaction()).keys() & urls(all_ids_transaction(), other).keys()


def test_a_correction_updates_the_same_resources() -> None:
    corrected = all_ids_transaction()
    corrected["timestamp"] = "2024-04-06T00:00:00Z"
    corrected["entry"][0]["resource"]["birthDate"] = "1979-08-31"
    first, second = urls(all_ids_transaction()), urls(corrected)
    assert first.keys() == second.keys()
    changed = sorted(u.split("/")[0] for u in first if first[u] != second[u])
    assert changed == ["Patient", "Provenance"]
