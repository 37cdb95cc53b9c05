"""What the call leaves behind for others: the officer-safety Flag (R4 flag.html), the follow-up
referral to the crisis team (servicerequest.html) and the officers' narrative (documentreference.html).
"""

from __future__ import annotations

import base64
from typing import Any

from adapters.police_rms import codes
from adapters.police_rms.incident import Call
from adapters.recordkit.fhirbits import coding, concept, meta, period, ref

Json = dict[str, Any]

SAFETY_FIELDS = ("weapons", "use_of_force", "injuries", "officer_safety_caution")

NARRATIVE_TAG: Json = coding(
    codes.CONTENT, "free-text-narrative", "Free-text narrative: restricted by the sharing rules"
)


def officer_safety_warranted(rec: Json) -> bool:
    """Weapons, use of force, an injured officer or an explicit caution warrant the flag."""
    return bool(
        rec.get("weapons")
        or rec.get("use_of_force")
        or any(i["to"] == "officer" for i in rec.get("injuries", []))
        or rec.get("officer_safety_caution")
    )


def officer_safety_flag(call: Call) -> Json | None:
    """An officer-safety Flag (category ``safety``) when the record says anything about weapons,
    force, injuries or cautions: ``active`` when warranted, ``inactive`` when the record now says
    there was none (so a correction withdraws an earlier flag)."""
    rec = call.record
    if not any(f in rec for f in SAFETY_FIELDS):
        return None
    return {
        "resourceType": "Flag",
        "id": call.rid("flag", "officer-safety"),
        "meta": meta(call.source),
        "status": "active" if officer_safety_warranted(rec) else "inactive",
        "category": [
            concept("http://terminology.hl7.org/CodeSystem/flag-category", "safety", "Safety")
        ],
        "code": concept(
            codes.FLAG_CODE,
            "officer-safety",
            "Officer safety",
            text="Officer safety: weapons or violence at a police contact",
        ),
        "subject": ref(call.subject),
        "period": {"start": rec["reported_at"]},
        "encounter": call.encounter_ref(),
        "author": ref(call.primary),
    }


def crisis_team_referral(call: Call) -> Json | None:
    """The follow-up requested from the crisis team: intent ``order``, category referral (SNOMED CT
    3457005), requester the primary officer. ``requested: false`` gives a ``revoked`` request so a
    correction withdraws an earlier referral."""
    rec = call.record
    follow = rec.get("follow_up")
    if follow is None:
        return None
    res: Json = {
        "resourceType": "ServiceRequest",
        "id": call.rid("referral", "crisis-team"),
        "meta": meta(call.source),
        "status": "active" if follow["requested"] else "revoked",
        "intent": "order",
        "category": [concept(codes.SNOMED, "3457005", "Patient referral")],
        "priority": follow.get("priority", "routine"),
        "code": concept(codes.SERVICE, "crisis-team-follow-up", "Follow-up by the crisis team"),
        "subject": ref(call.subject),
        "encounter": call.encounter_ref(),
        "authoredOn": rec.get("cleared_at") or rec["reported_at"],
        "requester": ref(call.primary),
        "reasonCode": [
            concept(codes.CALL_TYPE, rec["call_type"], codes.CALL_TYPES[rec["call_type"]])
        ],
    }
    if follow.get("team"):
        res["performer"] = [{"display": follow["team"]}]
    if follow.get("reason"):
        res["note"] = [{"text": follow["reason"]}]
    return res


def narrative(call: Call) -> Json | None:
    """The officers' free-text narrative as its own DocumentReference, tagged ``free-text-narrative``
    so the sharing rules can withhold it without withholding the Encounter."""
    rec = call.record
    text = rec.get("narrative", "")
    if not text.strip():
        return None
    return {
        "resourceType": "DocumentReference",
        "id": call.rid("narrative"),
        "meta": meta(call.source, tags=(NARRATIVE_TAG,)),
        "status": "current",
        "docStatus": "final",
        "type": concept(codes.DOCUMENT, "police-narrative", "Police incident narrative"),
        "category": [concept(codes.CONTENT, "free-text-narrative", "Free-text narrative")],
        "subject": ref(call.subject),
        "date": rec.get("updated_at") or rec.get("cleared_at") or rec["reported_at"],
        "author": [ref(call.primary)],
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                    "title": "Incident narrative",
                }
            }
        ],
        "context": {
            "encounter": [call.encounter_ref()],
            "period": period(rec["reported_at"], rec.get("cleared_at")),
        },
    }
