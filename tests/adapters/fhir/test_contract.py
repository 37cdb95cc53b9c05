"""The shared adapter contract, for fhir."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from adapters.base import Adapter
from adapters.fhir import FhirAdapter
from tests.adapters.fhir.samples import GOLDEN, SHARED, all_ids_transaction, single, transaction
from tests.adapters.kit import AdapterContract

FHIR_JSON = "application/fhir+json"


def _json(value: object) -> bytes:
    return orjson.dumps(value)


def _changed(path: tuple[Any, ...], value: Any, base: dict[str, Any] | None = None) -> bytes:
    bundle = base or transaction()
    node: Any = bundle
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return _json(bundle)


def _as(kind: str) -> dict[str, Any]:
    bundle = all_ids_transaction()
    bundle["type"] = kind
    if kind == "collection":
        for entry in bundle["entry"]:
            del entry["request"]
    return bundle


def _untimed() -> dict[str, Any]:
    bundle = transaction()
    del bundle["entry"][0]["resource"]["meta"]["lastUpdated"]
    return bundle


BEDS = SHARED / "Org-1067-beds.json"


class TestFhirContract(AdapterContract):
    adapter: ClassVar[Adapter] = FhirAdapter()
    golden_dir = GOLDEN
    good_inputs: ClassVar[list[tuple[bytes, str]]] = [
        ((GOLDEN / "single_resource.in").read_bytes(), FHIR_JSON),
        (_json(all_ids_transaction()), FHIR_JSON),
        (_json(_as("batch")), "application/json"),
        (_json(_as("collection")), "application/fhir+json; fhirVersion=4.0"),
        *([(BEDS.read_bytes(), FHIR_JSON)] if BEDS.exists() else []),
    ]
    bad_inputs: ClassVar[list[tuple[bytes, str]]] = [
        (b'{"name": "not FHIR"}', FHIR_JSON),
        (b'{"resourceType": "Spaceship"}', FHIR_JSON),
        (b'{"resourceType": 7}', FHIR_JSON),
        (b"[]", FHIR_JSON),
        (_changed(("type",), "searchset"), FHIR_JSON),
        (_changed(("type",), "document"), FHIR_JSON),
        (_changed(("entry",), []), FHIR_JSON),
        (_changed(("entry", 1), "entry"), FHIR_JSON),
        (_changed(("entry", 1, "resource"), {"patient": "x"}), FHIR_JSON),
        (
            _changed(("entry", 1, "resource"), {"resourceType": "Bundle", "type": "collection"}),
            FHIR_JSON,
        ),
        (_changed(("entry", 1, "request", "method"), "DELETE"), FHIR_JSON),
        (_changed(("entry", 1, "request", "method"), "PATCH"), FHIR_JSON),
        (_changed(("entry", 1, "request"), KeyError), FHIR_JSON),
        (_changed(("entry", 0, "request", "url"), "Patient?identifier=x|1"), FHIR_JSON),
        (_changed(("entry", 0, "request", "url"), "Patient/other"), FHIR_JSON),
        (_changed(("entry", 2, "request", "url"), "Observation"), FHIR_JSON),
        (_changed(("entry", 0, "resource", "id"), "no spaces allowed"), FHIR_JSON),
        (_changed(("entry", 0, "resource", "meta"), "meta"), FHIR_JSON),
        (_changed(("entry", 1, "resource", "subject", "reference"), "urn:uuid:nowhere"), FHIR_JSON),
        (_changed(("entry", 1), transaction()["entry"][0]), FHIR_JSON),
        (_changed(("timestamp",), KeyError, _untimed()), FHIR_JSON),
        (_changed(("timestamp",), "yesterday"), FHIR_JSON),
        (_json(single() | {"meta": {}}), FHIR_JSON),
        (_json(single()), "application/xml"),
    ]


def test_registered_under_its_name() -> None:
    from adapters.registry import load_adapters

    assert isinstance(load_adapters()["fhir"], FhirAdapter)
