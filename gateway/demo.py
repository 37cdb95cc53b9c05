"""Demo data for ``gateway demo``: a psychiatric facility directory, Texas Panhandle agencies,
ten synthetic patients with a crisis history, and placement requests played through the workflow
(one admitted, one en route, one awaiting answers: :mod:`gateway.demo_placements`).

Every fixed resource has a fixed id and is written with a PUT-style update in one unit of work (the
service keeps the current version when the content is unchanged) and the placements are played
once, so loading twice changes nothing. The facility directory comes from
``demo_data/psychiatric_hospitals.csv`` (HIFLD, public domain; see ``demo_data/README.md``). People are invented, carry obviously made-up family names and the
``HTEST`` (test health data) tag.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from gateway.auth.demo import register_demo
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.demo_facilities import concept as _concept
from gateway.demo_facilities import facility_resources, read_facilities
from gateway.demo_facilities import ref as _ref
from gateway.demo_placements import play_placements
from gateway.demo_records import (
    AGENCIES,
    APD,
    BED_TYPE_SYSTEM,
    CONDITIONS,
    DEMO_SYSTEM,
    ED_VISITS,
    HOSPITAL,
    ICD10CM,
    LOINC,
    MCOT,
    PATIENTS,
    PERSON_SYSTEMS,
    POLICE_CALLS,
    TERMINOLOGY,
    TEST_DATA_TAG,
    TPC,
    UCUM,
)
from gateway.fhir.service import ResourceService
from gateway.placement.workflow_codes import RISK_SUMMARY_EXT
from gateway.settings import Settings
from gateway.sharing.profile import agency_uri
from policies.labelling import label

Resource = dict[str, Any]
# Units are their facility's own once loaded: census and criteria changes are kept on a reload.
FACILITY_OWNED = frozenset({"HealthcareService"})


def _tagged(resource: Resource, source: str | None = None) -> Resource:
    meta: Resource = {"tag": [TEST_DATA_TAG]}
    if source is not None:
        meta["source"] = agency_uri(source)  # the agency that holds the record (decides sharing)
    return {**resource, "meta": meta}


def _patient_id(number: int) -> str:
    return f"demo-patient-{number:02d}"


def agency_resources() -> list[Resource]:
    """The four demo agencies (the crisis team is part of Texas Panhandle Centers)."""
    out = []
    for rid, name, kind, _registry_kind, _system in AGENCIES:
        org: Resource = {
            "resourceType": "Organization",
            "id": rid,
            "identifier": [{"system": f"{DEMO_SYSTEM}:agency", "value": rid}],
            "active": True,
            "type": [_concept(f"{TERMINOLOGY}/organization-type", kind, kind)],
            "name": name,
            "address": [{"city": "Amarillo", "state": "TX", "country": "US"}],
        }
        if rid == MCOT:
            org["partOf"] = _ref("Organization", TPC, "Texas Panhandle Centers")
        out.append(_tagged(org))
    return out


def patient_resources() -> list[Resource]:
    """Ten synthetic patients, each known to the police, the hospital and the BHA."""
    out = []
    for number, (given, family, gender, born, street) in enumerate(PATIENTS, start=1):
        out.append(
            _tagged(
                {
                    "resourceType": "Patient",
                    "id": _patient_id(number),
                    "identifier": [
                        {"system": system, "value": f"{prefix}{number:05d}"}
                        for (system, prefix) in zip(
                            PERSON_SYSTEMS.values(), ("APD-P", "PRH-", "TPC-"), strict=True
                        )
                    ],
                    "active": True,
                    "name": [{"use": "official", "family": family, "given": [given]}],
                    "gender": gender,
                    "birthDate": born,
                    "address": [
                        {"line": [street], "city": "Amarillo", "state": "TX", "country": "US"}
                    ],
                },
                source=HOSPITAL,
            )
        )
    return out


def _end(start: str, minutes: int) -> str:
    return (datetime.fromisoformat(start) + timedelta(minutes=minutes)).isoformat()


def _encounter(
    rid: str, patient: int, kind: tuple[str, str], period: Resource, by: str
) -> Resource:
    name = next(name for agency, name, *_ in AGENCIES if agency == by)
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": "finished",
        "class": {"system": f"{TERMINOLOGY}/v3-ActCode", "code": kind[0], "display": kind[1]},
        "subject": _ref("Patient", _patient_id(patient)),
        "period": period,
        "serviceProvider": _ref("Organization", by, name),
    }


def encounter_resources() -> list[Resource]:
    """Police crisis call encounters (class field) and emergency department encounters."""
    out = []
    for n, (patient, call_type, start, minutes, _detained) in enumerate(POLICE_CALLS, start=1):
        period = {"start": start, "end": _end(start, minutes)}
        call = _encounter(f"demo-police-call-{n:02d}", patient, ("FLD", "field"), period, APD)
        call["type"] = [_concept(f"{DEMO_SYSTEM}:call-type", call_type, call_type)]
        out.append(call)
    for n, (patient, start, end) in enumerate(ED_VISITS, start=1):
        period = {"start": start, "end": end}
        kind = ("EMER", "emergency")
        out.append(_encounter(f"demo-ed-visit-{n:02d}", patient, kind, period, HOSPITAL))
    return [_tagged(e, source=e["serviceProvider"]["reference"].split("/")[1]) for e in out]


def condition_resources() -> list[Resource]:
    """Diagnoses coded in ICD-10-CM, from the hospital (ED) and the BHA."""
    out = []
    for n, (patient, code, display, visit, recorder) in enumerate(CONDITIONS, start=1):
        condition: Resource = {
            "resourceType": "Condition",
            "id": f"demo-condition-{n:02d}",
            "clinicalStatus": _concept(f"{TERMINOLOGY}/condition-clinical", "active", "Active"),
            "verificationStatus": _concept(
                f"{TERMINOLOGY}/condition-ver-status", "confirmed", "Confirmed"
            ),
            "category": [
                _concept(
                    f"{TERMINOLOGY}/condition-category",
                    "encounter-diagnosis" if visit else "problem-list-item",
                    "Encounter Diagnosis" if visit else "Problem List Item",
                )
            ],
            "code": _concept(ICD10CM, code, display),
            "subject": _ref("Patient", _patient_id(patient)),
            "recordedDate": ED_VISITS[visit - 1][1] if visit else "2025-02-03",
        }
        if visit:
            condition["encounter"] = _ref("Encounter", f"demo-ed-visit-{visit:02d}")
        out.append(_tagged(condition, source=recorder))
    return out


def _observation(rid: str, patient: int, category: str, code: Resource, when: str) -> Resource:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [_concept(f"{TERMINOLOGY}/observation-category", category, category)],
        "code": code,
        "subject": _ref("Patient", _patient_id(patient)),
        "effectiveDateTime": when,
    }


def observation_resources() -> list[Resource]:
    """PHQ-9 scores from the BHA, ED heart rates and police emergency detentions."""
    phq9 = _concept(LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score")
    heart_rate = _concept(LOINC, "8867-4", "Heart rate")
    detention = _concept(
        f"{DEMO_SYSTEM}:observation", "emergency-detention", "Emergency detention by police"
    )
    out = []
    for n, (patient, score, when) in enumerate(
        ((2, 21, "2025-03-24"), (3, 12, "2025-04-08"), (9, 17, "2025-05-30")), start=1
    ):
        obs = _observation(f"demo-phq9-{n:02d}", patient, "survey", phq9, when)
        obs["valueInteger"] = score
        out.append(obs)
    for n, (patient, rate, visit) in enumerate(((1, 112, 1), (6, 124, 4)), start=1):
        obs = _observation(
            f"demo-heart-rate-{n:02d}", patient, "vital-signs", heart_rate, ED_VISITS[visit - 1][1]
        )
        obs["valueQuantity"] = {"value": rate, "unit": "/min", "system": UCUM, "code": "/min"}
        obs["encounter"] = _ref("Encounter", f"demo-ed-visit-{visit:02d}")
        out.append(obs)
    for n, (patient, _type, start, _minutes, detained) in enumerate(POLICE_CALLS, start=1):
        if detained:
            obs = _observation(
                f"demo-detention-{n:02d}", patient, "social-history", detention, start
            )
            obs["valueBoolean"] = True
            obs["encounter"] = _ref("Encounter", f"demo-police-call-{n:02d}")
            obs["performer"] = [_ref("Organization", APD, "Amarillo Police Department")]
            out.append(obs)
    return [_tagged(o, source=HOSPITAL) for o in out]


def _placement_request(number: int, patient: int, reason: str, risk: str, when: str) -> Resource:
    """A placement ServiceRequest; the workflow opens its request (``gateway.demo_placements``)."""
    code, display = next((c, d) for p, c, d, _, _ in CONDITIONS if p == patient and c == reason)
    visit = next((n for n, v in enumerate(ED_VISITS, start=1) if v[0] == patient), None)
    request: Resource = {
        "resourceType": "ServiceRequest",
        "id": f"demo-placement-request-{number:02d}",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": _concept(BED_TYPE_SYSTEM, "AdultPsychiatric", "Adult psychiatric inpatient"),
        "subject": _ref("Patient", _patient_id(patient)),
        "authoredOn": when,
        "requester": _ref("Organization", HOSPITAL, "Panhandle Regional Hospital"),
        "reasonCode": [_concept(ICD10CM, code, display)],
        "extension": [{"url": RISK_SUMMARY_EXT, "valueString": risk}],
    }
    condition = next(
        n for n, (p, c, *_rest) in enumerate(CONDITIONS, start=1) if p == patient and c == code
    )
    request["reasonReference"] = [_ref("Condition", f"demo-condition-{condition:02d}")]
    if visit is not None:
        request["encounter"] = _ref("Encounter", f"demo-ed-visit-{visit:02d}")
    return request


def workflow_resources() -> list[Resource]:
    """Three placement ServiceRequests and a crisis-plan Flag (the Tasks come from the workflow)."""
    patient = _ref("Patient", _patient_id(1))
    requests = [
        _placement_request(
            1, 1, "F20.9", "command hallucinations; danger to self", "2025-03-14T06:30:00-05:00"
        ),
        _placement_request(
            2,
            2,
            "F32.9",
            "suicidal ideation with a plan; no aggression",
            "2025-03-21T08:10:00-05:00",
        ),
        _placement_request(
            3, 6, "F31.9", "manic, not sleeping; agitation at triage", "2025-05-07T09:40:00-05:00"
        ),
    ]
    flag = {
        "resourceType": "Flag",
        "id": "demo-crisis-plan-flag-01",
        "status": "active",
        "category": [_concept(f"{TERMINOLOGY}/flag-category", "safety", "Safety")],
        "code": {
            "text": "Crisis plan on file with Texas Panhandle Centers: call the mobile crisis team "
            "first; calm approach, no sirens on arrival"
        },
        "subject": patient,
        "period": {"start": "2025-02-03"},
        "author": _ref("Organization", TPC, "Texas Panhandle Centers"),
    }
    return [*(_tagged(r, HOSPITAL) for r in requests), _tagged(flag, TPC)]


def demo_resources(facilities: list[dict[str, str]] | None = None) -> Iterator[Resource]:
    """Every demo resource, in an order where each reference points at something already written."""
    rows = read_facilities() if facilities is None else facilities
    for row in rows:
        yield from (_tagged(resource) for resource in facility_resources(row))
    yield from agency_resources()
    yield from patient_resources()
    yield from encounter_resources()
    yield from condition_resources()
    yield from observation_resources()
    yield from workflow_resources()


def register_agencies(session: Session) -> int:
    """Register the demo agencies (marked ``demo``) in the auth registry; return how many were new."""
    registry = Registry(session)
    added = 0
    for rid, name, _kind, registry_kind, _system in AGENCIES:
        if registry.repo.agency(rid) is None:
            registry.add_agency(rid, registry_kind, name, demo=True)
            added += 1
    return added


def load_demo(settings: Settings) -> str:
    """Write the demo data into ``settings.database_url`` (already migrated); return a summary.

    Idempotent: a second run writes no new versions. Runs in one transaction: all or nothing.
    """
    database = Database(settings.database_url, pool_size=1)
    written: Counter[str] = Counter()
    unchanged: Counter[str] = Counter()
    try:
        with database.unit_of_work() as session:
            new_agencies = register_agencies(session)
            registrations = register_demo(
                session, settings.key_dir, settings.var_dir / "demo-keys", settings.base_url
            )
            service = ResourceService(
                session,
                settings.fhir_base,
                default_count=settings.default_page_size,
                max_count=settings.max_page_size,
                labeller=label,
            )
            for resource in demo_resources():
                rtype, rid = resource["resourceType"], resource["id"]
                if rtype in FACILITY_OWNED and service.repo.live_exists([(rtype, rid)]):
                    unchanged[rtype] += 1  # the facility's own since the first load (census)
                    continue
                stored = service.update(rtype, rid, resource)
                (written if stored.changed else unchanged)[rtype] += 1
        placements = play_placements(database, settings.fhir_base, HOSPITAL)
    finally:
        database.dispose()
    summary = _summary(settings.database_url, written, unchanged, new_agencies)
    return "\n".join([summary, *placements, *registrations])


def _summary(url: str, written: Counter[str], unchanged: Counter[str], new_agencies: int) -> str:
    where = make_url(url).render_as_string(hide_password=True)
    types = sorted(set(written) | set(unchanged), key=lambda t: (-(written[t] + unchanged[t]), t))
    lines = [f"Demo data in {where}:"]
    for rtype in types:
        total = written[rtype] + unchanged[rtype]
        lines.append(
            f"  {rtype:<18} {total:>4}  ({written[rtype]} written, {unchanged[rtype]} unchanged)"
        )
    grand_written, grand_unchanged = sum(written.values()), sum(unchanged.values())
    lines.append(
        f"  {'all':<18} {grand_written + grand_unchanged:>4}  "
        f"({grand_written} written, {grand_unchanged} unchanged)"
    )
    lines.append(
        f"Agencies in the auth registry: {len(AGENCIES)} ({new_agencies} new): "
        + ", ".join(rid for rid, *_ in AGENCIES)
    )
    return "\n".join(lines)
