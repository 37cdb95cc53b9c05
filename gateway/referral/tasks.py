"""The Task shapes of a referral (FHIR Workflow; Gravity SDOH / BSeR referral patterns).

The referral Task: ``intent=order``, ``code=fulfill``, ``focus`` → the ServiceRequest, ``for`` → the
patient, ``requester`` → the referring Organization, ``owner`` → the team queue (HealthcareService)
or the receiving Organization, ``restriction.period.end`` → the answer deadline, ``businessStatus``
for what ``status`` cannot say (awaiting-shift, unrouted, overdue, booked, the outcome).
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.placement.workflow_codes import TASK_CODE_SYSTEM, concept, iso, ref
from gateway.referral import codes
from gateway.referral.routing import Route

Resource = dict[str, Any]

BUSINESS: dict[str, str] = {
    "awaiting-shift": "Waiting for the team's next shift",
    "shift-started": "Flagged at the start of the team's shift",
    "unrouted": "No receiving organisation found",
    "overdue": "No answer within the urgency's time limit; escalated to the supervisor",
    "booked": "Appointment booked",
    **codes.OUTCOMES,
}


def business(code: str) -> Resource:
    return concept(codes.BUSINESS_STATUS_SYSTEM, code, BUSINESS[code])


def io(code: str, display: str, **value: Any) -> Resource:
    """A Task.input / Task.output entry of type ``code``."""
    return {"type": concept(codes.REFERRAL_SYSTEM, code, display), **value}


def owner_of(route: Route) -> Resource | None:
    if route.team:
        return ref("HealthcareService", route.team)
    if route.receiver:
        return ref("Organization", route.receiver)
    return None


def referral_task(
    base: Resource | None,
    sr: Resource,
    referrer: str,
    route: Route,
    respond_by: float,
    now: float,
    part2: tuple[str, str] | None = None,
) -> Resource:
    """The referral Task (the sender's own fields kept when it sent one)."""
    task: Resource = copy.deepcopy(base) if base else {"resourceType": "Task"}
    task.update(
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "code": concept(TASK_CODE_SYSTEM, "fulfill", "Fulfill the focal request"),
            "focus": ref("ServiceRequest", sr["id"]),
            "requester": ref("Organization", referrer),
            "lastModified": iso(now),
            "restriction": {"period": {"end": iso(respond_by)}},
        }
    )
    task.setdefault("authoredOn", sr.get("authoredOn") or iso(now))
    for key, to in (("subject", "for"), ("encounter", "encounter"), ("priority", "priority")):
        if sr.get(key) is not None:
            task[to] = copy.deepcopy(sr[key])
    for key in ("businessStatus", "statusReason", "output", "partOf", "owner"):
        task.pop(key, None)
    owner = owner_of(route)
    if owner is not None:
        task["owner"] = owner
    if route.receiver is None:
        task["businessStatus"] = business("unrouted")
    elif route.visible_at > now:
        task["businessStatus"] = business("awaiting-shift")
    inputs = [i for i in task.get("input") or [] if not _ours(i)]
    if route.team and route.receiver:
        inputs.append(
            io(codes.INPUT_TEAM, "team queue", valueReference=ref("Organization", route.receiver))
        )
    if part2 is not None:
        consent_id, notice = part2
        inputs.append(
            io(
                codes.INPUT_CONSENT,
                "42 CFR Part 2 consent",
                valueReference=ref("Consent", consent_id),
            )
        )
        inputs.append(io(codes.INPUT_NOTICE, "42 CFR 2.32 notice", valueString=notice))
    if inputs:
        task["input"] = inputs
    else:
        task.pop("input", None)
    return task


def _ours(item: Any) -> bool:
    codings = ((item or {}).get("type") or {}).get("coding") or []
    return any(c.get("system") == codes.REFERRAL_SYSTEM for c in codings if isinstance(c, dict))


def add_note(task: Resource, text: str, now: float) -> None:
    task.setdefault("note", []).append({"time": iso(now), "text": text})
