"""Codes, extensions and the Task shapes of the placement workflow.

The request is a ``ServiceRequest`` (level of care from the bed-type code system) and a parent
``Task`` (``intent=order``, ``code=fulfill``, ``focus`` → the ServiceRequest); each facility asked
gets a child ``Task`` (``partOf`` → the parent, ``owner`` → the facility Organization, ``input``
``unit`` → the HealthcareService asked). See STANDARDS.md, "Referral and placement workflow".
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from gateway.placement.transitions import DECLINE_REASONS, PHASE_TASK, Phase

Resource = dict[str, Any]

TASK_CODE_SYSTEM = "http://hl7.org/fhir/CodeSystem/task-code"
# What a placement ServiceRequest.code is coded in (the same systems as gateway/placement/profiles.py:
# bed types, EDXL-HAVE / HAvBED based, under their current and legacy URLs, and levels of care).
BED_TYPE_SYSTEM = "https://crisis-exchange.example/fhir/CodeSystem/bed-type"
LEGACY_BED_TYPE_SYSTEM = "urn:crisis-exchange:bed-type"
LEVEL_OF_CARE_SYSTEM = "https://crisis-exchange.example/fhir/CodeSystem/level-of-care"
CARE_SYSTEMS = (BED_TYPE_SYSTEM, LEGACY_BED_TYPE_SYSTEM, LEVEL_OF_CARE_SYSTEM)
PLACEMENT_SYSTEM = "urn:crisis-exchange:placement"  # Task.input / Task.output types
BUSINESS_STATUS_SYSTEM = "urn:crisis-exchange:placement-business-status"
DECLINE_SYSTEM = "urn:crisis-exchange:placement-decline-reason"
CLOSE_REASON_SYSTEM = "urn:crisis-exchange:placement-close-reason"
HOLD_EXPIRES_EXT = "urn:crisis-exchange:extension:involuntary-hold-expires"  # valueDateTime
RISK_SUMMARY_EXT = "urn:crisis-exchange:extension:risk-summary"  # valueString

INPUT_UNIT = "unit"  # child Task.input: the HealthcareService asked
OUTPUT_BED = "reserved-bed"  # child/parent Task.output: the bed (Location or label)
OUTPUT_UNIT = "reserved-unit"  # parent Task.output: the HealthcareService that accepted
OUTPUT_TASK = "accepted-task"  # parent Task.output: the accepted child Task


def iso(ts: float) -> str:
    """Epoch seconds as a FHIR instant (UTC, milliseconds)."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def concept(
    system: str, code: str, display: str | None = None, text: str | None = None
) -> Resource:
    coding: Resource = {"system": system, "code": code}
    if display:
        coding["display"] = display
    out: Resource = {"coding": [coding]}
    if text or display:
        out["text"] = text or display
    return out


def ref(rtype: str, rid: str) -> Resource:
    return {"reference": f"{rtype}/{rid}"}


def ref_id(value: Any, rtype: str) -> str | None:
    """The id in a ``{"reference": "Type/id"}`` (relative or absolute URL), if it names ``rtype``."""
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        return None
    parts = value["reference"].split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == rtype:
        return parts[-1]
    return None


def code_in(value: Any, system: str) -> str | None:
    """The first code from ``system`` in a CodeableConcept."""
    if not isinstance(value, dict):
        return None
    for coding in value.get("coding") or []:
        if isinstance(coding, dict) and coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def level_of_care(service_request: Resource) -> str | None:
    """The bed type (or level of care) a placement ServiceRequest asks for."""
    for system in CARE_SYSTEMS:
        found = code_in(service_request.get("code"), system)
        if found is not None:
            return found
    return None


def business_code(task: Resource) -> str | None:
    value = task.get("businessStatus")
    return code_in(value, BUSINESS_STATUS_SYSTEM) if value else None


def typed(items: Any, code: str) -> list[Resource]:
    """The Task.input/Task.output entries whose type is ``code`` in the placement system."""
    return [
        item
        for item in items or []
        if isinstance(item, dict) and code_in(item.get("type"), PLACEMENT_SYSTEM) == code
    ]


def extension_value(resource: Resource, url: str) -> Any:
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            for key, value in ext.items():
                if key.startswith("value"):
                    return value
    return None


def with_phase(
    task: Resource, phase: Phase, now: float, reason: Resource | None = None
) -> Resource:
    """A copy of ``task`` showing ``phase`` (status, businessStatus, statusReason, lastModified)."""
    out = copy.deepcopy(task)
    status, business = PHASE_TASK[phase]
    out["status"] = status
    if business is None:
        out.pop("businessStatus", None)
    else:
        out["businessStatus"] = concept(
            BUSINESS_STATUS_SYSTEM, business, business.replace("-", " ")
        )
    if reason is not None:
        out["statusReason"] = reason
    elif phase not in (Phase.CANCELLED, Phase.FAILED):
        out.pop("statusReason", None)
    out["lastModified"] = iso(now)
    return out


def with_status(
    task: Resource, status: str, now: float, reason: Resource | None = None
) -> Resource:
    """A copy of a child Task with a new offer status (received, rejected, cancelled)."""
    out = copy.deepcopy(task)
    out["status"] = status
    out.pop("businessStatus", None)
    if reason is not None:
        out["statusReason"] = reason
    out["lastModified"] = iso(now)
    return out


def decline_reason(code: str, text: str | None = None) -> Resource:
    """Task.statusReason of a decline; ``text`` only when the facility gave one."""
    out: Resource = {
        "coding": [{"system": DECLINE_SYSTEM, "code": code, "display": DECLINE_REASONS[code]}]
    }
    if text:
        out["text"] = text
    return out


def close_reason(code: str, text: str | None = None) -> Resource:
    return concept(CLOSE_REASON_SYSTEM, code, code.replace("-", " "), text)


def parent_task(
    task: Resource | None,
    service_request: Resource,
    requester: str,
    now: float,
) -> Resource:
    """The parent Task for a ServiceRequest (the requester's own fields kept when it sent one)."""
    out: Resource = copy.deepcopy(task) if task else {"resourceType": "Task"}
    out.update(
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "code": concept(TASK_CODE_SYSTEM, "fulfill", "Fulfill the focal request"),
            "focus": ref("ServiceRequest", service_request["id"]),
            "requester": ref("Organization", requester),
            "lastModified": iso(now),
        }
    )
    out.setdefault("authoredOn", iso(now))
    for key in ("subject", "encounter", "priority"):
        value = service_request.get(key)
        if value is not None:
            out.setdefault("for" if key == "subject" else key, copy.deepcopy(value))
    for key in ("owner", "businessStatus", "statusReason", "output", "partOf"):
        out.pop(key, None)
    return out


def child_task(
    parent: Resource,
    org_id: str,
    unit_id: str,
    now: float,
    respond_by: float,
) -> Resource:
    """The child Task asking one facility unit."""
    task: Resource = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": parent["code"],
        "focus": parent["focus"],
        "partOf": [ref("Task", parent["id"])],
        "requester": parent["requester"],
        "owner": ref("Organization", org_id),
        "authoredOn": iso(now),
        "lastModified": iso(now),
        "restriction": {"period": {"end": iso(respond_by)}},
        "input": [
            {
                "type": concept(PLACEMENT_SYSTEM, INPUT_UNIT, "unit asked"),
                "valueReference": ref("HealthcareService", unit_id),
            }
        ],
    }
    for key in ("for", "priority"):
        if key in parent:
            task[key] = copy.deepcopy(parent[key])
    return task


def bed_output(bed: Any) -> Resource:
    """A Task.output naming the reserved bed: a Location reference or a label."""
    item: Resource = {"type": concept(PLACEMENT_SYSTEM, OUTPUT_BED, "reserved bed")}
    if isinstance(bed, dict):
        item["valueReference"] = bed
    elif isinstance(bed, str) and bed.startswith("Location/"):
        item["valueReference"] = {"reference": bed}
    else:
        item["valueString"] = str(bed)
    return item


def bed_of(output: Resource) -> str | None:
    """The bed an output names, as text (a Location reference or the label)."""
    if isinstance(output.get("valueReference"), dict):
        return output["valueReference"].get("reference") or output["valueReference"].get("display")
    value = output.get("valueString")
    return str(value) if value else None
