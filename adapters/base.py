"""The contract every agency adapter implements (pure: bytes in, FHIR R4 transaction Bundles out).

An adapter never touches the network, the database or the web framework. It splits a payload into
source records (:meth:`Adapter.parse`) and turns one record into one transaction Bundle
(:meth:`Adapter.to_fhir`). One record is all-or-nothing: the gateway stores the Bundle whole or not at
all, so a batch can keep its good records and report each bad one.

Idempotency is the adapter's job too: resources get ids derived from the sending agency and the source
record's own identifiers (see :func:`stable_id`), and are written with ``PUT``, so the same record sent
twice produces the same Bundle (the store then records no new version) and a corrected record produces a
new version of the same resources rather than duplicates.

Errors::

    AdapterError               a record or payload cannot be converted; says where (record, segment, field)
    └── UnsupportedMessage     a well-formed message of a type this adapter does not take
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the source input a problem is: the record, and within it the segment/field or path."""

    record: str | None = None
    segment: str | None = None
    field: str | None = None

    def describe(self) -> str:
        parts = [
            p for p in (self.record and f"record {self.record}", self.segment, self.field) if p
        ]
        return ", ".join(parts) if parts else "the input"


class AdapterError(ValueError):
    """The input cannot be converted. The message names what is wrong; it never quotes patient data."""

    code: ClassVar[str] = "invalid"

    def __init__(self, message: str, where: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where or Location()

    def __str__(self) -> str:
        return f"{self.where.describe()}: {self.message}"


class UnsupportedMessage(AdapterError):
    """A well-formed message of a type or event the adapter does not convert."""

    code: ClassVar[str] = "not-supported"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Who sent the input: the agency (becomes ``meta.source``) and the registered client."""

    agency: str
    client_id: str
    agency_uri: str = ""

    @property
    def source_uri(self) -> str:
        return self.agency_uri or f"urn:gateway:agency:{self.agency}"


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record of a payload: ``key`` identifies it at the sender (MSH-10, incident number, record id)."""

    key: str
    index: int
    data: Any


@dataclass(slots=True)
class Conversion:
    """The result for one record: a FHIR transaction Bundle, plus what was not mapped."""

    record_key: str
    bundle: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)


@runtime_checkable
class Adapter(Protocol):
    """One source format. Implementations are registered in the ``gateway.adapters`` entry-point group."""

    name: ClassVar[str]
    version: ClassVar[str]
    media_types: ClassVar[tuple[str, ...]]

    def parse(self, payload: bytes, media_type: str) -> list[SourceRecord]:
        """Split a payload into records; raise :class:`AdapterError` if it cannot be read at all."""
        ...

    def to_fhir(self, record: SourceRecord, source: SourceInfo) -> Conversion:
        """Convert one record; raise :class:`AdapterError` (located) if it cannot be converted."""
        ...


def stable_id(*parts: str) -> str:
    """A FHIR id derived from stable source identifiers (the same inputs always give the same id)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return digest[:40]


def put_entry(resource: dict[str, Any]) -> dict[str, Any]:
    """A transaction entry that creates or updates ``resource`` at its own id."""
    rtype, rid = resource["resourceType"], resource["id"]
    return {
        "fullUrl": f"urn:uuid:{_uuidish(rtype, rid)}",
        "resource": resource,
        "request": {"method": "PUT", "url": f"{rtype}/{rid}"},
    }


def _uuidish(rtype: str, rid: str) -> str:
    h = hashlib.sha256(f"{rtype}/{rid}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
