"""The shared adapter test kit: every adapter's tests subclass :class:`AdapterContract`.

A subclass sets ``adapter`` (an instance), ``good_inputs`` (payload, media type) pairs that must convert,
``bad_inputs`` that must be refused with a located :class:`~adapters.base.AdapterError`, and optionally
``golden_dir`` (``<name>.in`` / ``<name>.json`` pairs compared after normalising). The kit checks the
contract every adapter owes the gateway: valid R4 resources, ``meta.source``, a Provenance naming the
agency, the source record and the adapter version, stable output (idempotency), clean refusals.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import Adapter, AdapterError, Conversion, SourceInfo
from gateway.fhir.errors import FhirError
from gateway.fhir.model import validate

SOURCE = SourceInfo(agency="test-agency", client_id="test-client")


def convert_all(adapter: Adapter, payload: bytes, media_type: str) -> list[Conversion]:
    return [adapter.to_fhir(record, SOURCE) for record in adapter.parse(payload, media_type)]


def resources(conversion: Conversion) -> list[dict[str, Any]]:
    return [e["resource"] for e in conversion.bundle["entry"]]


class AdapterContract:
    adapter: ClassVar[Adapter]
    good_inputs: ClassVar[list[tuple[bytes, str]]] = []
    bad_inputs: ClassVar[list[tuple[bytes, str]]] = []
    golden_dir: ClassVar[Path | None] = None

    def test_declares_itself(self) -> None:
        assert isinstance(self.adapter, Adapter)
        assert self.adapter.name and self.adapter.version and self.adapter.media_types

    def test_good_inputs_become_valid_transaction_bundles(self) -> None:
        assert self.good_inputs, "an adapter's tests must name inputs that convert"
        for payload, media_type in self.good_inputs:
            for conversion in convert_all(self.adapter, payload, media_type):
                bundle = conversion.bundle
                assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
                assert bundle["entry"], "a conversion produces at least one resource"
                for entry in bundle["entry"]:
                    resource = entry["resource"]
                    try:
                        validate(resource)
                    except FhirError as exc:
                        pytest.fail(f"{resource['resourceType']} is not valid R4: {exc.outcome()}")
                    assert entry["request"]["method"] in ("PUT", "POST")

    def test_every_resource_names_its_source(self) -> None:
        for payload, media_type in self.good_inputs:
            for conversion in convert_all(self.adapter, payload, media_type):
                for resource in resources(conversion):
                    assert resource.get("meta", {}).get("source") == SOURCE.source_uri

    def test_bundle_carries_provenance(self) -> None:
        for payload, media_type in self.good_inputs:
            for conversion in convert_all(self.adapter, payload, media_type):
                provs = [r for r in resources(conversion) if r["resourceType"] == "Provenance"]
                assert len(provs) == 1, "exactly one Provenance per record"
                prov = provs[0]
                text = orjson.dumps(prov).decode()
                assert SOURCE.agency in text
                assert conversion.record_key in text, "Provenance names the source record id"
                assert self.adapter.version in text, "Provenance names the adapter version"
                others = {
                    f"{r['resourceType']}/{r['id']}"
                    for r in resources(conversion)
                    if r["resourceType"] != "Provenance"
                }
                targets = {t["reference"] for t in prov["target"]}
                assert others <= targets, "Provenance targets every resource of the record"

    def test_same_input_gives_the_same_bundle(self) -> None:
        for payload, media_type in self.good_inputs:
            first = [c.bundle for c in convert_all(self.adapter, payload, media_type)]
            second = [c.bundle for c in convert_all(self.adapter, payload, media_type)]
            assert first == second

    def test_bad_inputs_are_refused_with_a_location(self) -> None:
        assert self.bad_inputs, "an adapter's tests must name inputs it refuses"
        for payload, media_type in self.bad_inputs:
            with pytest.raises(AdapterError) as caught:
                convert_all(self.adapter, payload, media_type)
            assert caught.value.message
            assert str(caught.value)

    def test_empty_input_is_refused(self) -> None:
        with pytest.raises(AdapterError):
            convert_all(self.adapter, b"", self.adapter.media_types[0])

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(junk=st.binary(max_size=400))
    def test_arbitrary_bytes_only_give_clean_refusals(self, junk: bytes) -> None:
        for media_type in self.adapter.media_types:
            with contextlib.suppress(AdapterError):
                convert_all(self.adapter, junk, media_type)

    def test_golden_files(self) -> None:
        if self.golden_dir is None:
            pytest.skip("this adapter has no golden files")
        pairs = sorted(self.golden_dir.glob("*.in"))
        assert pairs, f"no golden inputs in {self.golden_dir}"
        for source in pairs:
            expected = orjson.loads(source.with_suffix(".json").read_bytes())
            got = [
                c.bundle
                for c in convert_all(self.adapter, source.read_bytes(), self.adapter.media_types[0])
            ]
            assert got == expected, f"golden mismatch for {source.name}"
