"""Helpers for the HL7 v2 adapter tests: fixture loading, small messages built in place, conversion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapters.base import Conversion, SourceInfo
from adapters.hl7v2 import Hl7v2Adapter
from gateway.fhir.model import validate

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
SHARED = Path(__file__).parents[3].parent / "shared" / "data" / "hl7v2"
ER7 = "x-application/hl7-v2+er7"
AGENCY = SourceInfo(agency="test-agency", client_id="test-client")
ADAPTER = Hl7v2Adapter()


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def convert(payload: bytes | str, media_type: str = ER7) -> list[Conversion]:
    """Parse and convert every message of ``payload`` as agency ``test-agency``."""
    data = payload.encode() if isinstance(payload, str) else payload
    return [ADAPTER.to_fhir(r, AGENCY) for r in ADAPTER.parse(data, media_type)]


def one(payload: bytes | str) -> Conversion:
    (conversion,) = convert(payload)
    return conversion


def resources(conversion: Conversion, rtype: str | None = None) -> list[dict[str, Any]]:
    out = [e["resource"] for e in conversion.bundle["entry"]]
    return [r for r in out if rtype is None or r["resourceType"] == rtype]


def single(conversion: Conversion, rtype: str) -> dict[str, Any]:
    (found,) = resources(conversion, rtype)
    return found


def assert_valid_r4(resource: dict[str, Any]) -> None:
    """Validate with the gateway's own R4 validator."""
    validate(resource)


def message(*segments: str) -> str:
    """A message from segment lines, joined with carriage returns as HL7 v2 prescribes."""
    return "\r".join(segments) + "\r"


MSH = "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|GW|GW|20240301101500+0100||{type}|{key}|P|2.5.1"
PID = (
    "PID|1||PAT001^^^GHH&2.16.840.1.113883.19.5&ISO^MR~900123^^^SSA^SS||DOE^JANE^Q^JR^DR||"
    "19800214|F|||12 MAIN ST^APT 4^SPRINGFIELD^IL^62701^USA^H||(217)555-0100^PRN^PH|||M"
)
PV1 = (
    "PV1|1|E|ED^101^A^GHH||||1234^WELBY^MARCUS^^^DR^^^GHH&2.16.840.1.113883.19.5&ISO||||||||||||"
    "V100^^^GHH&2.16.840.1.113883.19.5&ISO^VN|||||||||||||||||||||||||20240301100000+0100"
)


def adt(event: str = "A01", key: str = "MSG1", *extra: str, pid: str = PID, pv1: str = PV1) -> str:
    """A small, valid ADT message for ``event``; ``extra`` segments go after PV1."""
    head = MSH.format(type=f"ADT^{event}^ADT_A01", key=key)
    return message(head, f"EVN|{event}|20240301101500+0100", pid, pv1, *extra)
