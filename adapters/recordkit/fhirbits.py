"""Small FHIR R4 building blocks shared by the adapters: codings, ``meta``, identifier systems, the
42 CFR Part 2 security labels and the per-record Provenance (R4 provenance.html)."""

from __future__ import annotations

from typing import Any

from adapters.base import SourceInfo, put_entry, transaction

Json = dict[str, Any]

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
AGENCY_SYSTEM = "urn:gateway:agency"

# STANDARDS.md (and policies/labelling.py) put 42CFRPart2 in the v3-ActUSPrivacyLaw code system.
# Current HL7 Terminology files the same concept under v3-ActCode (_ActPrivacyLaw), so readers of
# labels must accept both systems for it; writers here follow the project's standard.
PRIVACY_LAW = "http://terminology.hl7.org/CodeSystem/v3-ActUSPrivacyLaw"

# DS4P: a 42 CFR Part 2 record carries at least R, SUD, 42CFRPart2 and NORDSCLCDS (STANDARDS.md;
# 42 CFR 2.12 applicability, 2.32 prohibition on re-disclosure).
PART2_LABELS: tuple[Json, ...] = (
    {"system": CONFIDENTIALITY, "code": "R"},
    {"system": ACT_CODE, "code": "SUD"},
    {"system": PRIVACY_LAW, "code": "42CFRPart2"},
    {"system": ACT_CODE, "code": "NORDSCLCDS"},
)


def local_system(name: str) -> str:
    """The URI of one of the gateway's local code systems (used where no standard code exists)."""
    return f"urn:gateway:codesystem:{name}"


def agency_system(source: SourceInfo, kind: str) -> str:
    """The identifier system for the sending agency's own ``kind`` of identifier (incident, badge…)."""
    base = source.source_uri
    return f"{base}/{kind}" if base.startswith(("http://", "https://")) else f"{base}:{kind}"


def coding(system: str, code: str, display: str | None = None) -> Json:
    """A Coding (R4 datatypes.html#Coding); ``display`` only when known to be the official one."""
    out: Json = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> Json:
    """A CodeableConcept with one coding (and ``text`` when given)."""
    out: Json = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


def ref(resource: Json) -> Json:
    """A literal relative reference to a resource of the same Bundle."""
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def agency_ref(agency: str, display: str | None = None) -> Json:
    """A logical reference to an agency (an Organization known to the gateway by its agency key)."""
    return {
        "type": "Organization",
        "identifier": {"system": AGENCY_SYSTEM, "value": agency},
        "display": display or agency,
    }


def meta(
    source: SourceInfo, *, security: tuple[Json, ...] = (), tags: tuple[Json, ...] = ()
) -> Json:
    """``Resource.meta`` with ``source`` set to the sending agency (R4 resource.html#Meta)."""
    out: Json = {"source": source.source_uri}
    if security:
        out["security"] = [dict(c) for c in security]
    if tags:
        out["tag"] = [dict(c) for c in tags]
    return out


def name(data: Json | None) -> list[Json] | None:
    """A HumanName list from ``{"family", "given": [...], "text"}`` (R4 datatypes.html#HumanName)."""
    if not data:
        return None
    out: Json = {}
    if data.get("family"):
        out["family"] = data["family"]
    if data.get("given"):
        out["given"] = list(data["given"])
    if data.get("text"):
        out["text"] = data["text"]
    return [out] if out else None


def address(data: Json | None) -> Json | None:
    """An Address from the records' common address shape (R4 datatypes.html#Address)."""
    if not data:
        return None
    mapping = {"city": "city", "state": "state", "postal_code": "postalCode", "country": "country"}
    out: Json = {k2: data[k] for k, k2 in mapping.items() if data.get(k)}
    if data.get("line"):
        out["line"] = list(data["line"])
    return out or None


def provenance(
    source: SourceInfo,
    *,
    adapter: str,
    version: str,
    record_key: str,
    record_system: str,
    recorded: str,
    targets: list[Json],
    rid: str,
    occurred: Json | None = None,
    security: tuple[Json, ...] = (),
    target_refs: list[Json] | None = None,
) -> Json:
    """The one Provenance of a converted record (R4 provenance.html).

    ``recorded`` comes from the record itself, never the clock, so resending gives the same resource.
    The agency is the author; the adapter (name and version) is the assembler; the entity is the
    source record, named by its id at the sender. ``target_refs`` replaces the references made from
    ``targets`` (for resources that are POSTed and so have only a ``fullUrl``).
    """
    prov: Json = {
        "resourceType": "Provenance",
        "id": rid,
        "meta": meta(source, security=security),
        "target": target_refs if target_refs is not None else [ref(t) for t in targets],
        "recorded": recorded,
        "agent": [
            {
                "type": concept(PROVENANCE_AGENT, "author", "Author"),
                "who": agency_ref(source.agency),
            },
            {
                "type": concept(PROVENANCE_AGENT, "assembler", "Assembler"),
                "who": {"display": f"gateway adapter {adapter} {version}"},
            },
        ],
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": record_system, "value": record_key},
                    "display": f"{source.agency} record {record_key} ({adapter} {version})",
                },
            }
        ],
    }
    if occurred:
        prov["occurredPeriod"] = occurred
    return prov


def bundle(resources: list[Json], prov: Json) -> Json:
    """A transaction Bundle that PUTs every resource at its stable id, Provenance last."""
    return transaction([put_entry(r) for r in [*resources, prov]])


def period(start: str | None, end: str | None) -> Json | None:
    """A Period (R4 datatypes.html#Period) from whichever ends are known, or ``None``."""
    out = {k: v for k, v in (("start", start), ("end", end)) if v}
    return out or None
