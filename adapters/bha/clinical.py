"""Clinical content of a case record: Condition per ICD-10-CM diagnosis (R4 condition.html), the
C-SSRS screener as a QuestionnaireResponse (questionnaireresponse.html) and a panel Observation
(observation.html), and signed consent forms as Consent (consent.html)."""

from __future__ import annotations

from adapters.bha import codes
from adapters.bha.client import Case
from adapters.recordkit.fhirbits import (
    ACT_CODE,
    ACT_REASON,
    PARTICIPATION,
    PRIVACY_LAW,
    Json,
    agency_ref,
    agency_system,
    coding,
    concept,
    meta,
    period,
    ref,
)


def icd10cm(code: str) -> str:
    """ICD-10-CM in its FHIR form, with the dot after the category (``F321`` → ``F32.1``)."""
    code = code.upper()
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 and "." not in code else code


def condition(case: Case, data: Json, labels: tuple[Json, ...]) -> Json:
    """A diagnosis on the authority's problem list, coded in ICD-10-CM."""
    code: Json = {"coding": [coding(codes.ICD10CM, icd10cm(data["code"]))]}
    if data.get("display"):
        code["text"] = data["display"]
    res: Json = {
        "resourceType": "Condition",
        "id": case.rid("diagnosis", data["diagnosis_id"]),
        "meta": meta(case.source, security=labels),
        "identifier": [
            {"system": agency_system(case.source, "diagnosis"), "value": data["diagnosis_id"]}
        ],
        "clinicalStatus": concept(codes.CONDITION_CLINICAL, data["clinical_status"]),
        "verificationStatus": concept(codes.CONDITION_VERIFICATION, "confirmed", "Confirmed"),
        "category": [concept(codes.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": code,
        "subject": ref(case.patient),
    }
    for field, element in (
        ("onset", "onsetDateTime"),
        ("abatement", "abatementDateTime"),
        ("recorded_on", "recordedDate"),
    ):
        if data.get(field):
            res[element] = data[field]
    return res


def risk_level(answers: dict[str, bool]) -> str:
    """The C-SSRS screener triage: high for intent, plan or behavior in the past 3 months; moderate
    for thoughts of a method or behavior longer ago; low for a wish to be dead or suicidal thoughts."""
    if (
        answers.get("intent_to_act")
        or answers.get("plan_with_intent")
        or answers.get("suicidal_behavior_past_3_months")
    ):
        return "high"
    if answers.get("thoughts_of_method") or answers.get("suicidal_behavior_ever"):
        return "moderate"
    if answers.get("wish_to_be_dead") or answers.get("suicidal_thoughts"):
        return "low"
    return "none"


def _answer(value: bool) -> Json:
    code, display = codes.YES if value else codes.NO
    return coding(codes.LOINC, code, display)


def cssrs(case: Case, data: Json, labels: tuple[Json, ...]) -> list[Json]:
    """One screening: the answers as a QuestionnaireResponse, and an Observation for the LOINC
    screener panel (93373-9) with one component per answered item and the derived risk level
    (93374-7), derived from the response."""
    answers: dict[str, bool] = data["answers"]
    asked = [(key, loinc, label) for key, loinc, label in codes.CSSRS_ITEMS if key in answers]
    response: Json = {
        "resourceType": "QuestionnaireResponse",
        "id": case.rid("cssrs", data["screening_id"], "response"),
        "meta": meta(case.source, security=labels),
        "identifier": {
            "system": agency_system(case.source, "cssrs"),
            "value": data["screening_id"],
        },
        "status": "completed",
        "subject": ref(case.patient),
        "authored": data["assessed_at"],
        "item": [
            {"linkId": loinc, "text": label, "answer": [{"valueCoding": _answer(answers[key])}]}
            for key, loinc, label in asked
        ],
    }
    level = risk_level(answers)
    panel: Json = {
        "resourceType": "Observation",
        "id": case.rid("cssrs", data["screening_id"], "observation"),
        "meta": meta(case.source, security=labels),
        "status": "final",
        "category": [concept(codes.OBSERVATION_CATEGORY, "survey", "Survey")],
        "code": concept(codes.LOINC, *codes.CSSRS_PANEL),
        "subject": ref(case.patient),
        "effectiveDateTime": data["assessed_at"],
        "derivedFrom": [ref(response)],
        "component": [
            {
                "code": {"coding": [coding(codes.LOINC, loinc)], "text": label},
                "valueCodeableConcept": {"coding": [_answer(answers[key])]},
            }
            for key, loinc, label in asked
        ]
        + [
            {
                "code": concept(codes.LOINC, *codes.CSSRS_RISK),
                "valueCodeableConcept": concept(codes.RISK, level, codes.RISK_LEVELS[level]),
            }
        ],
    }
    if data.get("assessor"):
        staff = case.practitioner(data["assessor"])
        response["author"] = ref(staff)
        panel["performer"] = [ref(staff)]
    return [response, panel]


def covers_part2(data: Json, case: Case) -> bool:
    """A consent to disclose substance-use records, or one signed for a Part 2 episode."""
    return "substance_use" in data["scope"] or data.get("episode_id") in case.part2


def consent(case: Case, data: Json, labels: tuple[Json, ...]) -> Json:
    """A signed consent form (R4 Consent, scope ``patient-privacy``).

    The policy is 42 CFR Part 2 (§2.31 written consent) when the consent covers substance-use
    records, otherwise a HIPAA authorization (45 CFR 164.508). Recipients are the agencies named, as
    ``IRCP`` actors; purposes are v3 PurposeOfUse codes; the scope becomes security labels (``MH``,
    ``SUD`` + ``42CFRPart2``) and resource classes the provision covers.
    """
    part2 = covers_part2(data, case)
    provision: Json = {
        "type": data.get("decision", "permit"),
        "actor": [
            {
                "role": concept(PARTICIPATION, "IRCP", "information recipient"),
                "reference": agency_ref(r["agency"], r.get("name")),
            }
            for r in data["recipients"]
        ],
        "purpose": [coding(ACT_REASON, codes.PURPOSES[p]) for p in data["purposes"]],
    }
    if when := period(data.get("period", {}).get("start"), data.get("period", {}).get("end")):
        provision["period"] = when
    scope = data["scope"]
    security = []
    if "mental_health" in scope:
        security.append(coding(ACT_CODE, "MH"))
    if "substance_use" in scope:
        security += [coding(ACT_CODE, "SUD"), coding(PRIVACY_LAW, "42CFRPart2")]
    if security:
        provision["securityLabel"] = security
    classes = [c for s in scope for c in codes.SCOPE_CLASSES.get(s, ())]
    if classes:
        provision["class"] = [coding(codes.RESOURCE_TYPES, c) for c in classes]
    res: Json = {
        "resourceType": "Consent",
        "id": case.rid("consent", data["consent_id"]),
        "meta": meta(case.source, security=labels),
        "identifier": [
            {"system": agency_system(case.source, "consent"), "value": data["consent_id"]}
        ],
        "status": data["status"],
        "scope": concept(codes.CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
        "category": [concept(codes.LOINC, "59284-0"), concept(ACT_CODE, "IDSCL")],
        "patient": ref(case.patient),
        "dateTime": data["signed_on"],
        "performer": [ref(case.patient)],
        "organization": [agency_ref(case.source.agency)],
        "policy": [{"uri": codes.PART2_RULE_URL if part2 else codes.HIPAA_AUTH_URL}],
        "policyRule": concept(PRIVACY_LAW, "42CFRPart2")
        if part2
        else concept(codes.CONSENT_POLICY, "hipaa-auth"),
        "provision": provision,
    }
    if data.get("form"):
        res["sourceAttachment"] = {"title": data["form"]}
    return res
