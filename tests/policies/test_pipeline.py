"""End-to-end decisions on FHIR resources: order, obligations, ids, Part 2, break-the-glass."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from policies.agreements import AgreementSet
from policies.labelling import label
from policies.model import Principal
from policies.pipeline import evaluate, request_for
from policies.redaction import apply_obligations
from tests.policies.conftest import (
    AT,
    AUDITOR,
    BHA,
    CIT,
    CLINICIAN,
    ED,
    HOSPITAL,
    ICD,
    INTAKE,
    POLICE,
    concept,
)

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PART2_POLICY = [{"uri": "https://www.ecfr.gov/current/title-42/part-2"}]
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "name": [{"family": "Sample"}],
    "birthDate": "1991-04-12",
    "telecom": [{"value": "555"}],
}
SUD_CONDITION = label(
    {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": concept(ICD, "F11.20"),
    }
)
PSY_CONDITION = label(
    {
        "resourceType": "Condition",
        "id": "c2",
        "subject": {"reference": "Patient/p1"},
        "code": concept(ICD, "F20.0"),
    }
)
SERVING = frozenset({"encounter"})


def ask(principal: Principal, resource: dict[str, Any], purpose: str, **facts: Any) -> Any:
    facts.setdefault("owning_agency", HOSPITAL)
    facts.setdefault("at", AT)
    facts.setdefault("patient", "p1")
    return request_for(principal, "read", resource, purpose=purpose, **facts)


def consent(provision: dict[str, Any], cid: str = "k1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "patient": {"reference": "Patient/p1"},
        "provision": provision,
        **extra,
    }


def test_police_get_the_law_enforcement_view_inside_an_agreement(agreements: AgreementSet) -> None:
    d = evaluate(ask(POLICE, PATIENT, "HLEGAL"), PATIENT, [], agreements)
    assert d.allowed and d.view == "law-enforcement"
    assert d.policy_ids == ("police.law-enforcement-view",)
    assert d.agreement_ids == ("identify-and-locate",)
    assert d.obligations.accounting and "disclosure" in d.obligations.audit_events
    out = apply_obligations(PATIENT, d)
    assert out is not None and "telecom" not in out


def test_outside_an_agreement_the_refusal_is_nomou() -> None:
    d = evaluate(ask(POLICE, PATIENT, "HLEGAL"), PATIENT, [], AgreementSet((), {}))
    assert not d.allowed
    assert d.policy_ids == ("mou.required",) and d.refusal_codes == ("NOMOU",)
    assert all("Sample" not in r for r in d.reasons)


def test_clinician_serving_sees_diagnoses(agreements: AgreementSet) -> None:
    d = evaluate(
        ask(CLINICIAN, PSY_CONDITION, "TREAT", relations=SERVING), PSY_CONDITION, [], agreements
    )
    assert d.allowed and d.view == "full"
    assert d.policy_ids == ("clinician.treatment-of-served-patient",)
    not_serving = evaluate(ask(CLINICIAN, PSY_CONDITION, "TREAT"), PSY_CONDITION, [], agreements)
    assert not not_serving.allowed and not_serving.policy_ids == ("default-deny",)


def test_sud_needs_a_part2_consent_naming_the_recipient(agreements: AgreementSet) -> None:
    request = ask(CLINICIAN, SUD_CONDITION, "TREAT", relations=SERVING)
    refused = evaluate(request, SUD_CONDITION, [], agreements)
    assert not refused.allowed and refused.policy_ids == ("part2.consent-required",)
    part2 = consent(
        {
            "type": "permit",
            "actor": [{"reference": {"reference": "Organization/demo-mcot"}}],
            "securityLabel": [{"system": ACT, "code": "SUD"}],
        },
        policy=PART2_POLICY,
    )
    d = evaluate(request, SUD_CONDITION, [part2], agreements)
    assert d.allowed and d.consent_ids == ("k1",)
    ob = d.obligations
    assert {"R", "SUD", "42CFRPart2", "NORDSCLCDS"} <= set(ob.add_labels)
    assert ob.part2_notice and "42 CFR part 2" in ob.part2_notice and ob.consent_copy == ("k1",)


def test_police_never_get_part2_data_whatever_the_consent(agreements: AgreementSet) -> None:
    everything = consent({"type": "permit"}, policy=PART2_POLICY)
    d = evaluate(ask(POLICE, SUD_CONDITION, "HLEGAL"), SUD_CONDITION, [everything], agreements)
    assert not d.allowed
    assert {"police.never-sensitive", "part2.no-law-enforcement-access"} <= set(d.policy_ids)


def test_part2_program_patient_record_is_not_given_to_police(agreements: AgreementSet) -> None:
    from_program = label(PATIENT, part2_program=True)
    d = evaluate(ask(POLICE, from_program, "HLEGAL"), from_program, [], agreements)
    assert not d.allowed and "part2.no-law-enforcement-access" in d.policy_ids


def test_consent_deny_wins_and_names_the_consent(agreements: AgreementSet) -> None:
    deny = consent(
        {"type": "deny", "actor": [{"reference": {"reference": "Organization/demo-mcot"}}]},
        cid="no",
    )
    permit = consent({"type": "permit"}, cid="yes")
    d = evaluate(
        ask(CLINICIAN, PSY_CONDITION, "TREAT", relations=SERVING),
        PSY_CONDITION,
        [permit, deny],
        agreements,
    )
    assert not d.allowed and d.policy_ids == ("consent.patient-deny",)
    assert d.consent_ids == ("no",) and set(d.consents_consulted) == {"yes", "no"}


def test_revoked_consent_stops_applying_on_the_next_request(agreements: AgreementSet) -> None:
    deny = consent({"type": "deny"})
    request = ask(CLINICIAN, PSY_CONDITION, "TREAT", relations=SERVING)
    assert not evaluate(request, PSY_CONDITION, [deny], agreements).allowed
    assert evaluate(request, PSY_CONDITION, [{**deny, "status": "inactive"}], agreements).allowed


def test_break_the_glass_is_audited_and_reviewed(agreements: AgreementSet) -> None:
    request = ask(
        ED,
        PSY_CONDITION,
        "BTG",
        owning_agency=BHA,
        btg_reason="unconscious, overdose suspected, no history",
    )
    d = evaluate(request, PSY_CONDITION, [consent({"type": "deny"})], agreements)
    assert d.allowed and d.policy_ids == ("clinician.break-the-glass",)
    assert {"security-alert", "break-the-glass"} <= set(d.obligations.audit_events)
    assert d.obligations.review_queue
    no_reason = evaluate(replace(request, btg_reason="x"), PSY_CONDITION, [], agreements)
    assert not no_reason.allowed and "btg.reason-required" in no_reason.policy_ids


def test_break_the_glass_unlocks_part2_only_as_a_medical_emergency(
    agreements: AgreementSet,
) -> None:
    request = ask(
        ED,
        SUD_CONDITION,
        "BTG",
        owning_agency=BHA,
        btg_reason="unresponsive, needs naloxone decision",
    )
    refused = evaluate(request, SUD_CONDITION, [], agreements)
    assert not refused.allowed and refused.policy_ids == ("part2.consent-required",)
    d = evaluate(replace(request, medical_emergency=True), SUD_CONDITION, [], agreements)
    assert d.allowed and "part2-medical-emergency" in d.obligations.audit_events


def test_break_the_glass_is_never_for_police(agreements: AgreementSet) -> None:
    police = replace(POLICE, purposes=("HLEGAL", "TREAT"))
    d = evaluate(
        ask(police, PATIENT, "BTG", btg_reason="officer says it is urgent"), PATIENT, [], agreements
    )
    assert not d.allowed and "btg.never-police" in d.policy_ids


def test_element_redaction_keeps_the_rest_of_the_encounter(agreements: AgreementSet) -> None:
    enc = label(
        {
            "resourceType": "Encounter",
            "id": "e",
            "status": "finished",
            "reasonCode": [concept(ICD, "F20.0"), concept(ICD, "F10.20")],
        }
    )
    d = evaluate(ask(CLINICIAN, enc, "TREAT", relations=SERVING), enc, [], agreements)
    assert (
        d.allowed
        and d.obligations.redact == ("reasonCode[1]",)
        and "REDACT" in d.obligations.add_labels
    )
    out = apply_obligations(enc, d)
    assert out is not None and out["reasonCode"] == [concept(ICD, "F20.0")]
    assert not {c["code"] for c in out["meta"]["security"]} & {"SUD", "42CFRPart2"}


def test_unlabelled_resources_are_labelled_before_deciding(agreements: AgreementSet) -> None:
    raw = {"resourceType": "Condition", "id": "raw", "code": concept(ICD, "F20.0")}
    request = request_for(
        POLICE,
        "read",
        {"resourceType": "Condition"},
        purpose="HLEGAL",
        owning_agency=HOSPITAL,
        at=AT,
    )
    d = evaluate(request, raw, [], agreements)
    assert not d.allowed and "police.never-sensitive" in d.policy_ids


def test_facility_intake_minimum_then_packet(agreements: AgreementSet) -> None:
    sr = label(
        {
            "resourceType": "ServiceRequest",
            "id": "sr",
            "status": "active",
            "intent": "order",
            "code": concept("urn:crisis-exchange:bed-type", "AdultPsychiatric"),
            "reasonCode": [concept(ICD, "F20.0")],
            "note": [{"text": "details"}],
        }
    )
    before = evaluate(
        ask(INTAKE, sr, "TREAT", addressed_to_principal_facility=True), sr, [], agreements
    )
    assert before.allowed and before.view == "intake-minimum"
    after = evaluate(
        ask(INTAKE, sr, "TREAT", addressed_to_principal_facility=True, accepted=True),
        sr,
        [],
        agreements,
    )
    assert after.allowed and after.view == "full"
    elsewhere = evaluate(ask(INTAKE, sr, "TREAT"), sr, [], agreements)
    assert not elsewhere.allowed and "facility.only-addressed-placements" in elsewhere.policy_ids


def test_cit_crisis_plan_summary_only_with_consent(agreements: AgreementSet) -> None:
    plan = label(
        {
            "resourceType": "CarePlan",
            "id": "cp",
            "status": "active",
            "intent": "plan",
            "category": [concept("urn:crisis-exchange:careplan-kind", "crisis-plan")],
            "description": "call MCOT",
            "meta": {"security": [{"system": ACT, "code": "BH"}]},
        }
    )
    request = ask(CIT, plan, "HLEGAL", owning_agency=BHA)
    assert not evaluate(request, plan, [], agreements).allowed
    permit = consent(
        {
            "type": "permit",
            "actor": [{"reference": {"reference": "PractitionerRole/cit_officer"}}],
            "class": [{"code": "crisis-plan"}],
        }
    )
    d = evaluate(request, plan, [permit], agreements)
    assert d.allowed and d.view == "crisis-plan-summary" and d.consent_ids == ("k1",)
    assert not evaluate(replace(request, principal=POLICE), plan, [permit], agreements).allowed


def test_auditor_reads_audit_not_clinical(agreements: AgreementSet) -> None:
    audit = {"resourceType": "AuditEvent", "id": "a"}
    assert evaluate(
        request_for(AUDITOR, "read", audit, purpose="HOPERAT", at=AT), audit, [], agreements
    ).allowed
    d = evaluate(
        ask(AUDITOR, PSY_CONDITION, "HOPERAT", owning_agency=BHA), PSY_CONDITION, [], agreements
    )
    assert not d.allowed and "oversight.no-clinical-content" in d.policy_ids


def test_purpose_not_on_the_token_is_refused(agreements: AgreementSet) -> None:
    d = evaluate(
        ask(CLINICIAN, PSY_CONDITION, "CAREMGT", relations=SERVING), PSY_CONDITION, [], agreements
    )
    assert not d.allowed and d.policy_ids[0] == "purpose.not-granted"
