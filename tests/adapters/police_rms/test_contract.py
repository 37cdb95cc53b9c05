"""The shared adapter contract, for police-rms."""

from __future__ import annotations

from typing import ClassVar

import orjson

from adapters.base import Adapter
from adapters.police_rms import PoliceRmsAdapter
from adapters.police_rms.generate import generate
from tests.adapters.kit import AdapterContract
from tests.adapters.police_rms.samples import GOLDEN, full_record, minimal_record

CSV = (
    b"incident_number,reported_at,cleared_at,call_type,location_latitude,location_longitude,"
    b"disposition,subject_family,subject_birth_date,officer1_badge,weapons\r\n"
    b"TPS-1,2024-03-05T14:02:11-05:00,2024-03-05T15:00:00-05:00,suicide_related,43.7,-79.4,"
    b"referred_crisis_team,Testperson,1980-01-02,1234,knife\r\n"
    b"TPS-2,2024-03-06T01:00:00Z,,overdose,43.7,-79.4,no_further_action,,,1235,\r\n"
)


def _json(value: object) -> bytes:
    return orjson.dumps(value)


def _without(field: str) -> bytes:
    rec = minimal_record()
    del rec[field]
    return _json(rec)


def _with(**changes: object) -> bytes:
    rec = minimal_record()
    rec.update(changes)
    return _json(rec)


class TestPoliceRmsContract(AdapterContract):
    adapter: ClassVar[Adapter] = PoliceRmsAdapter()
    golden_dir = GOLDEN
    good_inputs: ClassVar[list[tuple[bytes, str]]] = [
        ((GOLDEN / "full_call.in").read_bytes(), "application/json"),
        ((GOLDEN / "minimal_call.in").read_bytes(), "application/json"),
        (_json({"records": list(generate(7, 25))}), "application/json"),
        (CSV, "text/csv"),
        (CSV, "text/csv; charset=utf-8"),
    ]
    bad_inputs: ClassVar[list[tuple[bytes, str]]] = [
        (b"{", "application/json"),
        (b"[]", "application/json"),
        (b'"a string"', "application/json"),
        (b'{"records": []}', "application/json"),
        (b'{"records": [1]}', "application/json"),
        (b'{"records": [{}], "extra": 1}', "application/json"),
        (_without("incident_number"), "application/json"),
        (_without("persons"), "application/json"),
        (_with(call_type="shoplifting"), "application/json"),
        (_with(reported_at="2024-03-05 14:02"), "application/json"),
        (_with(reported_at="2024-02-30T10:00:00Z"), "application/json"),
        (_with(cleared_at="2024-03-01T00:00:00Z"), "application/json"),
        (_with(persons=[{"role": "witness"}]), "application/json"),
        (_with(persons=[{"role": "subject"}, {"role": "subject"}]), "application/json"),
        (_with(location={}), "application/json"),
        (_with(location={"latitude": 43.6}), "application/json"),
        (_with(location={"latitude": 91, "longitude": 0}), "application/json"),
        (_with(officers=[]), "application/json"),
        (_with(officers=[{"badge": "1"}, {"badge": "1"}]), "application/json"),
        (_with(narrative="x" * 20001), "application/json"),
        (_with(surprise=True), "application/json"),
        (_json(full_record() | {"disposition": ["arrest", "arrest"]}), "application/json"),
        (b"incident_number,colour\r\nTPS-1,red\r\n", "text/csv"),
        (b"reported_at\r\n2024-03-05T14:02:11Z\r\n", "text/csv"),
        (b"incident_number\r\n", "text/csv"),
        (CSV.replace(b"43.7,-79.4,referred", b"north,-79.4,referred"), "text/csv"),
        (CSV, "application/xml"),
        (b"\xff\xfe{}", "application/json"),
    ]


def test_registered_under_its_name() -> None:
    from adapters.registry import load_adapters

    assert isinstance(load_adapters()["police-rms"], PoliceRmsAdapter)
