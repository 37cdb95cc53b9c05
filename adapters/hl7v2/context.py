"""What one conversion needs at hand: the message, the sender, stable ids, the resources made so far.

Identifier systems (the rule ``docs/adapters/hl7v2.md`` documents): an assigning authority (HD,
HL7 v2.5.1 §2.A.36) whose universal id is an ISO OID becomes ``urn:oid:<oid>``, a UUID
``urn:uuid:<uuid>``, a URI (HD.3 = ``URI``) itself. A bare namespace id (HD.1, HL7 table 0363) is only
meaningful at the sender, so it becomes ``urn:gateway:hl7v2:authority:<agency>:<namespace>``,
percent-encoded: two hospitals that both call their record numbers ``MR`` never share a system.
Coding systems (HL7 table 0396) map to their FHIR URIs; HL7 tables (``HL7nnnn``) to
``http://terminology.hl7.org/CodeSystem/v2-nnnn``; local ones to
``urn:gateway:hl7v2:codesystem:<agency>:<name>``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from adapters.base import AdapterError, Location, SourceInfo, stable_id
from adapters.hl7v2.dates import Timestamp, parse_timestamp
from adapters.hl7v2.er7 import Message, Rep, Segment

Resource = dict[str, Any]

_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+", re.ASCII)
_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", re.ASCII)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", re.ASCII)
# What a code from an HL7 table looks like; anything else in a table-coded field is free text.
_TABLE_CODE = re.compile(r"[A-Za-z0-9._/+-]{1,20}", re.ASCII)
_HL7_TABLE = re.compile(r"HL7([0-9]{3,4})", re.ASCII | re.IGNORECASE)

CODE_SYSTEMS = {
    "LN": "http://loinc.org",
    "LOINC": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "SNOMED": "http://snomed.info/sct",
    "SNOMEDCT": "http://snomed.info/sct",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "I9": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9CDX": "http://hl7.org/fhir/sid/icd-9-cm",
    "ICD9CM": "http://hl7.org/fhir/sid/icd-9-cm",
    "C4": "http://www.ama-assn.org/go/cpt",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "CVX": "http://hl7.org/fhir/sid/cvx",
    "UCUM": "http://unitsofmeasure.org",
    "ISO3166_1": "urn:iso:std:iso:3166",
    "ISO3166-1": "urn:iso:std:iso:3166",
}


def hl7_table(number: str) -> str:
    """The FHIR code system of HL7 v2 table ``number`` (terminology.hl7.org naming)."""
    return f"http://terminology.hl7.org/CodeSystem/v2-{number.zfill(4)}"


class Context:
    """State of one message's conversion; every mapper takes it first."""

    def __init__(self, message: Message, source: SourceInfo, adapter: str) -> None:
        self.msg = message
        self.source = source
        self.adapter = adapter
        self.key = message.key
        msh = message.msh
        self.code = msh.text(9, 1).upper()
        self.event = msh.text(9, 2).upper()
        self.resources: dict[tuple[str, str], Resource] = {}
        self.offset = 0
        self.sent = self.timestamp(msh, 7, required=True)
        if self.sent is not None and self.sent.offset is not None:
            self.offset = self.sent.offset

    # --- errors -------------------------------------------------------------------------------

    def error(self, message: str, seg: Segment | None = None, n: int | None = None) -> AdapterError:
        """A located refusal: record (MSH-10), segment, field. The message never quotes a value."""
        return AdapterError(
            message,
            Location(
                record=self.key,
                segment=seg.label if seg else None,
                field=f"{seg.name}-{n}" if seg and n else None,
            ),
        )

    def require(self, name: str) -> Segment:
        """The first ``name`` segment; refuse the message (located at that segment) if it has none."""
        seg = self.msg.first(name)
        if seg is None:
            raise AdapterError(
                f"{self.code}^{self.event} needs a {name} segment",
                Location(record=self.key, segment=name),
            )
        return seg

    # --- resources ----------------------------------------------------------------------------

    def id(self, rtype: str, *parts: str) -> str:
        """A stable id for a ``rtype`` resource from the agency and the source's own identifiers."""
        return stable_id(self.source.agency, rtype, *parts)

    def add(self, resource: Resource) -> dict[str, str]:
        """Keep ``resource`` for the Bundle (the first one made wins a clash of ids); return a reference."""
        resource["meta"] = {"source": self.source.source_uri}
        key = (resource["resourceType"], resource["id"])
        self.resources.setdefault(key, resource)
        return {"reference": f"{key[0]}/{key[1]}"}

    def has(self, rtype: str, rid: str) -> bool:
        """Whether this message already produced the resource ``rtype/rid``."""
        return (rtype, rid) in self.resources

    # --- dates --------------------------------------------------------------------------------

    def timestamp(self, seg: Segment, n: int, required: bool = False) -> Timestamp | None:
        """Field ``n`` (first component) as a checked time stamp; refuse one that is not a real time."""
        return self.parse_time(seg, n, seg.text(n), required)

    def parse_time(
        self, seg: Segment, n: int, text: str, required: bool = False
    ) -> Timestamp | None:
        """``text`` (from field ``n``) as a checked HL7 DTM (HL7 v2.5.1 §2.A.22); located refusal."""
        if not text:
            if required:
                raise self.error(f"{seg.name}-{n} (date/time) is required", seg, n)
            return None
        try:
            return parse_timestamp(text)
        except ValueError:
            raise self.error(
                f"{seg.name}-{n} is not a valid HL7 date/time (YYYY[MM[DD[HH[MM[SS]]]]][+/-ZZZZ])",
                seg,
                n,
            ) from None

    def date_time(self, seg: Segment, n: int, text: str | None = None) -> str | None:
        """FHIR ``dateTime`` from field ``n`` (or from ``text`` found inside it)."""
        ts = self.parse_time(seg, n, seg.text(n) if text is None else text)
        return ts.date_time(self.offset) if ts else None

    def sent_time(self) -> str:
        """MSH-7, the time the message was sent, as a FHIR ``dateTime``."""
        return self.sent.date_time(self.offset) if self.sent else ""

    def date(self, seg: Segment, n: int, text: str | None = None) -> str | None:
        """FHIR ``date`` from field ``n`` (or from ``text`` found inside it)."""
        ts = self.parse_time(seg, n, seg.text(n) if text is None else text)
        return ts.date() if ts else None

    def period(self, seg: Segment, n: int, start: str, end: str) -> dict[str, str] | None:
        """A FHIR Period from two HL7 times found in field ``n`` (e.g. CX.7/CX.8, XPN.12/XPN.13)."""
        out = {
            k: v
            for k, v in (
                ("start", self.date_time(seg, n, start)),
                ("end", self.date_time(seg, n, end)),
            )
            if v
        }
        return out or None

    # --- systems ------------------------------------------------------------------------------

    def authority(self, namespace: str, universal: str = "", kind: str = "") -> str | None:
        """An assigning authority (HD: namespace, universal id, its type) as an identifier system."""
        if universal:
            if _OID.fullmatch(universal):
                return f"urn:oid:{universal}"
            if _UUID.fullmatch(universal):
                return f"urn:uuid:{universal.lower()}"
            if kind.upper() == "URI" and _URI.fullmatch(universal):
                return universal
        if namespace and _OID.fullmatch(namespace):
            return f"urn:oid:{namespace}"
        name = namespace or universal
        if not name:
            return None
        return f"urn:gateway:hl7v2:authority:{self._local(name)}"

    def hd_system(self, hd: Rep) -> str | None:
        """An HD (HL7 v2.5.1 §2.A.36: namespace, universal id, type) as an identifier system."""
        return self.authority(hd.c(1), hd.c(2), hd.c(3))

    def code_system(self, name: str) -> str:
        """A coding system name (HL7 table 0396, ``HL7nnnn``, or local) as a FHIR system URI."""
        upper = name.upper()
        if upper in CODE_SYSTEMS:
            return CODE_SYSTEMS[upper]
        table = _HL7_TABLE.fullmatch(name)
        if table:
            return hl7_table(table.group(1))
        return f"urn:gateway:hl7v2:codesystem:{self._local(name)}"

    def _local(self, name: str) -> str:
        return f"{quote(self.source.agency, safe='')}:{quote(name, safe='')}"

    def concept(self, rep: Rep | None, table: str | None = None) -> dict[str, Any] | None:
        """CWE/CE/CNE (HL7 v2.5.1 §2.A.13) as a CodeableConcept.

        Each code triplet (1-3, 4-6, 10-12) with a coding system becomes a coding; ``table`` is the
        HL7 table to assume when the sender names none (if the value looks like a table code). A
        code with no system at all is kept as text rather than given a system it may not have.
        """
        if rep is None:
            return None
        codings: list[dict[str, str]] = []
        for ci, di, si in ((1, 2, 3), (4, 5, 6), (10, 11, 12)):
            code = " ".join(rep.c(ci).split())
            if not code:
                continue
            name = rep.c(si)
            if name:
                system = self.code_system(name)
            elif table and _TABLE_CODE.fullmatch(code):
                system = hl7_table(table)
            else:
                continue
            coding = {"system": system, "code": code}
            if rep.c(di):
                coding["display"] = rep.c(di)
            codings.append(coding)
        out: dict[str, Any] = {}
        if codings:
            out["coding"] = codings
        text = rep.c(9) or rep.c(2) or ("" if codings else rep.c(1))
        if text:
            out["text"] = text
        return out or None

    def code_key(self, concept: dict[str, Any] | None) -> tuple[str, str]:
        """The (system, code) that identifies a concept, for stable ids; its text when uncoded."""
        if not concept:
            return ("", "")
        if concept.get("coding"):
            first = concept["coding"][0]
            return (first["system"], first["code"])
        return ("text", str(concept.get("text", "")).casefold())
