"""Codes of the referral workflow: service types, urgencies, outcomes, reasons, and which incoming
ServiceRequests are referrals (Gravity SDOH / BSeR patterns; STANDARDS.md "Referral and placement
workflow").

A referral's service type is one of :data:`SERVICE_TYPES`, coded in :data:`SERVICE_TYPE_SYSTEM`
on ``ServiceRequest.code`` (and on ``HealthcareService.type`` in the directory of services).
Requests from other senders are recognised by the codes they already use: the police adapter's
``crisis-team-follow-up``, HL7 v2 table 0281 referral types (REF^I12 RF1-3), and SNOMED CT
3457005 "Patient referral" as a category.
"""

from __future__ import annotations

from typing import Any

from gateway.placement.workflow_codes import code_in

Resource = dict[str, Any]

CS_BASE = "https://crisis-exchange.example/fhir/CodeSystem"
SERVICE_TYPE_SYSTEM = f"{CS_BASE}/referral-service-type"
BUSINESS_STATUS_SYSTEM = f"{CS_BASE}/referral-business-status"
OUTCOME_SYSTEM = f"{CS_BASE}/referral-outcome"
REJECT_SYSTEM = f"{CS_BASE}/referral-reject-reason"
CANCEL_SYSTEM = f"{CS_BASE}/referral-cancel-reason"
REFERRAL_SYSTEM = f"{CS_BASE}/referral-task-io"  # Task.input / Task.output types
SNOMED = "http://snomed.info/sct"
PATIENT_REFERRAL = "3457005"
PATIENT_REFERRAL_CATEGORY = {
    "coding": [{"system": SNOMED, "code": PATIENT_REFERRAL, "display": "Patient referral"}]
}
V2_0281 = "http://terminology.hl7.org/CodeSystem/v2-0281"
POLICE_SERVICE = "urn:gateway:codesystem:police-referral"  # adapters/police_rms/codes.py
TIMEZONE_EXT = "http://hl7.org/fhir/StructureDefinition/timezone"  # valueCode, IANA zone
PART2_NOTICE_SYSTEM = "urn:gateway:notice"

SERVICE_TYPES: dict[str, str] = {
    "crisis-follow-up": "Crisis follow-up (mobile crisis team)",
    "outpatient-psychiatry": "Outpatient psychiatry",
    "case-management": "Case management",
    "sud-treatment": "Substance use disorder treatment",
    "peer-support": "Peer support",
    "housing-social": "Housing / social service",
}
# Other senders' codes → our service type.
FOREIGN_TYPES: dict[tuple[str, str], str] = {
    (POLICE_SERVICE, "crisis-team-follow-up"): "crisis-follow-up",
    (V2_0281, "Psy"): "outpatient-psychiatry",
}
# Code systems whose every code names a referral (HL7 v2 tables 0281 referral type and 0284
# referral category): a code without a mapping above is taken as the default type.
REFERRAL_SYSTEMS = (V2_0281, "http://terminology.hl7.org/CodeSystem/v2-0284")
# A referral whose type cannot be told is taken as case management (a person routes it on).
DEFAULT_TYPE = "case-management"

# request-priority → how long the receiver has to accept or reject (seconds).
URGENCIES = ("stat", "asap", "urgent", "routine")
RESPONSE_SECONDS: dict[str, float] = {
    "stat": 3600.0,
    "asap": 4 * 3600.0,
    "urgent": 24 * 3600.0,
    "routine": 72 * 3600.0,
}

OUTCOMES: dict[str, str] = {
    "seen": "Seen",
    "did-not-attend": "Did not attend",
    "declined-services": "Declined services",
}
REJECT_REASONS: dict[str, str] = {
    "no-capacity": "No capacity",
    "not-eligible": "Not eligible for this service",
    "out-of-area": "Outside the service area",
    "payer": "Payer not accepted",
    "wrong-service": "Another service fits better",
    "other": "Other",
}
CANCEL_REASONS: dict[str, str] = {
    "no-longer-needed": "No longer needed",
    "patient-declined": "Patient declined before acceptance",
    "sent-in-error": "Sent in error",
    "withdrawn": "Withdrawn by the sender",
    "other": "Other",
}

SUPERVISOR_ROLE = "supervisor"  # PractitionerRole.code of whom escalations are addressed to

INPUT_CONSENT = "part2-consent"
INPUT_NOTICE = "part2-redisclosure-notice"
INPUT_TEAM = "team-queue"
OUTPUT_APPOINTMENT = "appointment"
OUTPUT_OUTCOME = "outcome"


def service_type_of(sr: Resource) -> str | None:
    """Our service type for a ServiceRequest, None if it is not a referral we recognise."""
    code = sr.get("code")
    ours = code_in(code, SERVICE_TYPE_SYSTEM)
    if ours in SERVICE_TYPES:
        return ours
    for coding in (code or {}).get("coding") or []:
        if isinstance(coding, dict):
            found = FOREIGN_TYPES.get((str(coding.get("system")), str(coding.get("code"))))
            if found:
                return found
    concepts = [code, *(sr.get("category") or [])]
    if any(code_in(c, SNOMED) == PATIENT_REFERRAL for c in concepts):
        return DEFAULT_TYPE
    if any(code_in(c, system) for c in concepts for system in REFERRAL_SYSTEMS):
        return DEFAULT_TYPE
    return None


def is_referral(sr: Resource) -> bool:
    """A ServiceRequest the referral workflow takes: an order for a service type it knows."""
    return (
        sr.get("resourceType") == "ServiceRequest"
        and sr.get("intent") in ("order", "original-order", "plan", "proposal")
        and service_type_of(sr) is not None
    )


def urgency_of(resource: Resource) -> str:
    value = resource.get("priority")
    return str(value) if value in URGENCIES else "routine"


def coded(system: str, table: dict[str, str], code: str, text: str | None = None) -> Resource:
    """A CodeableConcept from one of the tables above (``text`` only when a person gave one)."""
    out: Resource = {"coding": [{"system": system, "code": code, "display": table[code]}]}
    if text:
        out["text"] = text
    return out
