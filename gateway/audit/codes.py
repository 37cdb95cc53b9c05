"""Code systems and codes the audit events use (IHE BALP 1.1 on FHIR R4, DICOM PS3.15 / DCM).

BALP (profiles.ihe.net/ITI/BALP) fixes the agent and entity patterns per RESTful interaction; DICOM's
controlled terminology (``DCM``) supplies the non-REST event types: 110113 Security Alert (with
110127 Emergency Override Started, 110129 Security Configuration, 110136 Security Roles Changed,
110137 User Security Attributes Changed), 110114 User Authentication (110122 Login, 110123 Logout),
110106 Export and 110107 Import, and the agent roles 110150 Application, 110152 Destination Role ID,
110153 Source Role ID.
"""

from __future__ import annotations

from typing import Any

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
NETWORK_TYPE = "http://hl7.org/fhir/network-type"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
BALP_ENTITY = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
BALP_USER_AGENT = "https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes"
BALP_AUTHZ = "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType"
IHE_EVENT = "urn:ihe:event-type-code"

# The gateway's own identifier systems (no dots, so search paths can filter on them).
CLIENT_SYSTEM = "urn:gateway:client"
USER_SYSTEM = "urn:gateway:user"
ROLE_SYSTEM = "urn:gateway:role"
POLICY_PREFIX = "urn:gateway:policy:"

ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
    # BALP Query: a search is an Execute of the query (action E).
    "search": "E",
    "search-type": "E",
    "search-system": "E",
    "capabilities": "E",
    "transaction": "E",
    "batch": "E",
    "operation": "E",
}
# BALP Read: data flows server → client, so the client is the Destination (110152) and the server
# the Source (110153). For Query, Create and Update the request flows client → server and the roles
# swap; BALP Delete names the client 110150 Application and the server the custodian.
READ_INTERACTIONS = frozenset(
    {"read", "vread", "history-instance", "history-type", "history-system"}
)
WRITE_INTERACTIONS = frozenset({"create", "update", "patch", "delete"})

# 45 CFR 164.528(a)(1)(i): disclosures for treatment, payment and health care operations are not
# accounted; everything else that leaves the gateway for another party is (164.512(f) law
# enforcement, 164.512(j) threat, public health, oversight...).
TPO_PURPOSES = frozenset({"TREAT", "ETREAT", "BTG", "HPAYMT", "HOPERAT", "CAREMGT"})

OUTCOME_SUCCESS, OUTCOME_MINOR, OUTCOME_SERIOUS, OUTCOME_MAJOR = "0", "4", "8", "12"


def coding(system: str, code: str) -> dict[str, Any]:
    """A Coding. Displays are left out: the code is what counts, and every byte of an event is
    stored, hashed and re-hashed by every verification."""
    return {"system": system, "code": code}


def concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [coding(system, code)]}


def outcome_for_status(status: int) -> str:
    """AuditEvent.outcome for an HTTP status: 0 success, 4 refused or invalid request (minor),
    8 authorization refused (serious), 12 server failure (major)."""
    if status < 400:
        return OUTCOME_SUCCESS
    if status in (401, 403):
        return OUTCOME_SERIOUS
    if status < 500:
        return OUTCOME_MINOR
    return OUTCOME_MAJOR


def is_accountable(purpose: str | None) -> bool:
    """Whether a successful release for this purpose of use is a disclosure to account for."""
    return purpose is not None and purpose not in TPO_PURPOSES
