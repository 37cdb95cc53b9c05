"""The call itself: Encounter (R4 encounter.html) with the officers' time as periods, Observations
(observation.html) for disposition, Mental Health Act apprehension, weapons, use of force, injuries and
transport, the officer-safety Flag (flag.html), the crisis-team referral ServiceRequest
(servicerequest.html) and the narrative as a DocumentReference (documentreference.html)."""

from __future__ import annotations

from typing import Any

from adapters.base import SourceInfo, stable_id
from adapters.police_rms import codes
from adapters.recordkit.fhirbits import (
    PARTICIPATION,
    agency_system,
    coding,
    concept,
    meta,
    period,
    ref,
)

Json = dict[str, Any]


class Call:
    """The resources every part of the mapping refers to, and the record they come from."""

    def __init__(self, source: SourceInfo, record: Json, subject: Json, primary: Json) -> None:
        self.source = source
        self.record = record
        self.incident: str = record["incident_number"]
        self.subject = subject
        self.primary = primary  # the primary officer's Practitioner
        self.encounter_id = self.rid("encounter")

    def rid(self, *parts: str) -> str:
        """A stable id for a part of this call (the agency, the incident number and ``parts``)."""
        return stable_id(self.source.agency, "incident", self.incident, *parts)

    @property
    def when(self) -> str:
        """When the officers observed what the Observations state: on scene, else reported."""
        return self.record.get("on_scene_at") or self.record["reported_at"]

    def encounter_ref(self) -> Json:
        """A reference to the call's Encounter."""
        return {"reference": f"Encounter/{self.encounter_id}"}


def primary_disposition(dispositions: list[str]) -> str:
    """The disposition the person ended up with, when several are listed."""
    return next(d for d in codes.DISCHARGE_PRIORITY if d in dispositions)


def _status_history(rec: Json) -> list[Json]:
    started = rec.get("dispatched_at") or rec.get("on_scene_at")
    if not started:
        return []
    history = [{"status": "planned", "period": {"start": rec["reported_at"], "end": started}}]
    history.append({"status": "in-progress", "period": period(started, rec.get("cleared_at"))})
    return history


def encounter(
    call: Call, officers: list[Json], clinician: Json | None, scene: Json, dest: Json | None
) -> Json:
    """The police field encounter: class FLD, period reported→cleared, dispatch in statusHistory,
    officers (and any clinician) as participants for on-scene→cleared, the scene and the transport
    destination as locations, the disposition as hospitalization.dischargeDisposition."""
    rec = call.record
    res: Json = {
        "resourceType": "Encounter",
        "id": call.encounter_id,
        "meta": meta(call.source),
        "identifier": [{"system": agency_system(call.source, "incident"), "value": call.incident}],
        "status": "finished" if rec.get("cleared_at") else "in-progress",
        "class": coding(codes.ENCOUNTER_CLASS, "FLD", "field"),
        "type": [concept(codes.CALL_TYPE, "crisis-call", "Police crisis call for service")],
        "subject": ref(call.subject),
        "period": period(rec["reported_at"], rec.get("cleared_at")),
        "reasonCode": [
            concept(
                codes.CALL_TYPE,
                rec["call_type"],
                codes.CALL_TYPES[rec["call_type"]],
                text=rec.get("nature"),
            )
        ],
    }
    if history := _status_history(rec):
        res["statusHistory"] = history
    on_duty = period(rec.get("on_scene_at"), rec.get("cleared_at"))
    participants = []
    for practitioner in officers:
        role = "PPRF" if practitioner is call.primary else "SPRF"
        part: Json = {"type": [concept(PARTICIPATION, role)], "individual": ref(practitioner)}
        if on_duty:
            part["period"] = on_duty
        participants.append(part)
    if clinician:
        part = {"type": [concept(PARTICIPATION, "CON")], "individual": ref(clinician)}
        if on_duty:
            part["period"] = on_duty
        participants.append(part)
    res["participant"] = participants
    transport = rec.get("transport", {})
    left = transport.get("departed_at") or rec.get("cleared_at")
    locations = [
        {"location": ref(scene), "status": "completed" if left else "active"}
        | ({"period": p} if (p := period(rec.get("on_scene_at"), left)) else {})
    ]
    primary = primary_disposition(rec["disposition"])
    discharge = concept(codes.DISPOSITION, primary, codes.DISPOSITIONS[primary])
    if primary in codes.DISCHARGE_OF:
        discharge["coding"].append(coding(codes.DISCHARGE, *codes.DISCHARGE_OF[primary]))
    hospitalization: Json = {"dischargeDisposition": discharge}
    if dest:
        hospitalization["destination"] = ref(dest)
        locations.append(
            {"location": ref(dest), "status": "completed" if rec.get("cleared_at") else "active"}
            | (
                {"period": p}
                if (p := period(transport.get("arrived_at"), rec.get("cleared_at")))
                else {}
            )
        )
    res["location"] = locations
    res["hospitalization"] = hospitalization
    return res


def _observation(call: Call, code: str) -> Json:
    return {
        "resourceType": "Observation",
        "id": call.rid("observation", code),
        "meta": meta(call.source),
        "status": "final",
        "category": [concept(codes.CATEGORY, "police-incident", "Police incident")],
        "code": concept(codes.OBSERVATION, code, codes.OBSERVATIONS[code]),
        "subject": ref(call.subject),
        "encounter": call.encounter_ref(),
        "effectiveDateTime": call.when,
        "performer": [ref(call.primary)],
    }


def _component(code: str, value: Json) -> Json:
    return {"code": concept(codes.OBSERVATION, code), "valueCodeableConcept": value}


def observations(call: Call) -> list[Json]:
    """One Observation per fact the record states: the disposition(s) and Mental Health Act
    apprehension always; weapons, use of force, injuries and transport when their field is present
    (an empty list is a statement too: "none", which lets a correction withdraw an earlier one)."""
    rec = call.record
    out: list[Json] = []
    disp = _observation(call, "disposition")
    primary = primary_disposition(rec["disposition"])
    disp["valueCodeableConcept"] = concept(codes.DISPOSITION, primary, codes.DISPOSITIONS[primary])
    if len(rec["disposition"]) > 1:
        disp["component"] = [
            _component("disposition", concept(codes.DISPOSITION, d, codes.DISPOSITIONS[d]))
            for d in rec["disposition"]
        ]
    mha = _observation(call, "mha-apprehension")
    mha["valueBoolean"] = "mha_apprehension" in rec["disposition"]
    out += [disp, mha]
    if "weapons" in rec:
        obs = _observation(call, "weapons")
        obs["valueBoolean"] = bool(rec["weapons"])
        comps = [
            _component(
                "weapon-type",
                concept(codes.WEAPON, w["type"], codes.WEAPONS[w["type"]], w.get("description")),
            )
            for w in rec["weapons"]
        ]
        out.append(obs | ({"component": comps} if comps else {}))
    if "use_of_force" in rec:
        obs = _observation(call, "use-of-force")
        obs["valueBoolean"] = bool(rec["use_of_force"])
        comps = [
            _component("force-type", concept(codes.FORCE, f["type"], codes.FORCE_TYPES[f["type"]]))
            for f in rec["use_of_force"]
        ]
        out.append(obs | ({"component": comps} if comps else {}))
    if "injuries" in rec:
        obs = _observation(call, "injuries")
        obs["valueBoolean"] = bool(rec["injuries"])
        comps = [
            _component(
                f"injury-to-{i['to']}",
                concept(
                    codes.INJURY_SEVERITY,
                    i["severity"],
                    codes.INJURY_SEVERITIES[i["severity"]],
                    i.get("description"),
                ),
            )
            for i in rec["injuries"]
        ]
        out.append(obs | ({"component": comps} if comps else {}))
    if "transport" in rec:
        out.append(_transport(call, rec["transport"]))
    return out


def _transport(call: Call, data: Json) -> Json:
    obs = _observation(call, "transport")
    if leg := period(data.get("departed_at"), data.get("arrived_at")):
        del obs["effectiveDateTime"]
        obs["effectivePeriod"] = leg
    if "distance_km" in data:
        obs["valueQuantity"] = {
            "value": data["distance_km"],
            "unit": "km",
            "system": "http://unitsofmeasure.org",
            "code": "km",
        }
    dest_type = data["destination"]["type"]
    comps = [_component("destination-type", {"text": dest_type.replace("_", " ")})]
    if data.get("by"):
        comps.append(_component("transported-by", {"text": data["by"]}))
    obs["component"] = comps
    return obs
