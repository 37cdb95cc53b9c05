"""FHIR R4 Consent compilation: opt-in/opt-out, actors, purposes, labels, periods, exceptions, Part 2."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from policies.consent import ConsentError, ConsentQuery, compile_consent, evaluate_consents
from policies.model import Principal
from tests.policies.conftest import AT, CLINICIAN, ED, POLICE

ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PART2_POLICY = [{"uri": "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"}]


def consent(
    provision: dict[str, Any], *, cid: str = "c1", status: str = "active", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": status,
        "patient": {"reference": "Patient/p1"},
        "provision": provision,
        **extra,
    }


def org(agency: str) -> dict[str, Any]:
    return {"reference": {"reference": f"Organization/{agency}"}}


def query(
    principal: Principal = CLINICIAN,
    *,
    purpose: str = "TREAT",
    labels: frozenset[str] = frozenset(),
    classes: frozenset[str] = frozenset({"diagnosis"}),
    at: datetime = AT,
) -> ConsentQuery:
    return ConsentQuery(
        principal, "read", purpose, "Condition", classes, labels, patient="p1", at=at
    )


def test_opt_out_with_exception_for_one_agency() -> None:
    c = consent({"type": "deny", "provision": [{"type": "permit", "actor": [org("demo-mcot")]}]})
    assert evaluate_consents([c], query()).decision == "permit"
    assert evaluate_consents([c], query(ED)).decision == "deny"


def test_opt_in_with_exception_denying_police() -> None:
    c = consent(
        {
            "type": "permit",
            "provision": [
                {
                    "type": "deny",
                    "actor": [{"reference": {"reference": "PractitionerRole/police_officer"}}],
                }
            ],
        }
    )
    assert evaluate_consents([c], query()).decision == "permit"
    assert evaluate_consents([c], query(POLICE, purpose="HLEGAL")).decision == "deny"


def test_policy_rule_sets_the_base_when_the_root_has_no_type() -> None:
    opt_in = consent({}, policyRule={"coding": [{"system": ACT, "code": "OPTIN"}]})
    opt_out = consent({}, policyRule={"coding": [{"system": ACT, "code": "OPTOUT"}]})
    assert evaluate_consents([opt_in], query()).decision == "permit"
    assert evaluate_consents([opt_out], query()).decision == "deny"
    assert evaluate_consents([consent({})], query()).decision == "deny"  # no base: privacy first


def test_actor_by_person() -> None:
    c = consent({"type": "deny", "actor": [{"reference": {"reference": "Practitioner/okafor"}}]})
    assert evaluate_consents([c], query()).decision == "deny"
    assert evaluate_consents([c], query(ED)).decision == "none"


def test_purpose_with_subsumption() -> None:
    c = consent({"type": "permit", "purpose": [{"system": REASON, "code": "TREAT"}]})
    assert evaluate_consents([c], query(purpose="ETREAT")).decision == "permit"
    assert evaluate_consents([c], query(purpose="HOPERAT")).decision == "none"


def test_security_label_and_class_criteria() -> None:
    c = consent(
        {
            "type": "permit",
            "provision": [{"type": "deny", "securityLabel": [{"system": ACT, "code": "PSY"}]}],
        }
    )
    assert evaluate_consents([c], query(labels=frozenset({"PSY", "R"}))).decision == "deny"
    assert evaluate_consents([c], query(labels=frozenset({"N"}))).decision == "permit"
    by_class = consent(
        {"type": "deny", "class": [{"system": "urn:crisis-exchange:data-class", "code": "hiv"}]}
    )
    assert (
        evaluate_consents([by_class], query(classes=frozenset({"diagnosis", "hiv"}))).decision
        == "deny"
    )
    by_type = consent(
        {
            "type": "deny",
            "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Condition"}],
        }
    )
    assert evaluate_consents([by_type], query()).decision == "deny"


def test_period_is_honoured() -> None:
    c = consent({"type": "deny", "period": {"start": "2026-01-01", "end": "2026-02-01"}})
    assert evaluate_consents([c], query(at=datetime(2026, 1, 15, tzinfo=UTC))).decision == "deny"
    assert evaluate_consents([c], query(at=AT)).decision == "none"


def test_nested_exceptions_most_specific_wins() -> None:
    c = consent(
        {
            "type": "deny",
            "provision": [
                {
                    "type": "permit",
                    "actor": [org("demo-mcot")],
                    "provision": [
                        {"type": "deny", "securityLabel": [{"system": ACT, "code": "HIV"}]}
                    ],
                }
            ],
        }
    )
    assert evaluate_consents([c], query()).decision == "permit"
    assert evaluate_consents([c], query(labels=frozenset({"HIV"}))).decision == "deny"


def test_deny_wins_across_consents_and_names_the_denier() -> None:
    permit = consent({"type": "permit"}, cid="yes")
    deny = consent({"type": "deny", "actor": [org("demo-mcot")]}, cid="no")
    out = evaluate_consents([permit, deny], query())
    assert out.decision == "deny" and out.consent_ids == ("no",)
    assert out.consulted == ("yes", "no")


@pytest.mark.parametrize(
    "status", ["inactive", "rejected", "entered-in-error", "draft", "proposed"]
)
def test_only_active_consents_apply(status: str) -> None:
    revoked = consent({"type": "deny"}, status=status)
    out = evaluate_consents([revoked], query())
    assert out.decision == "none" and out.consulted == ()


def test_other_patients_consents_are_ignored() -> None:
    c = consent({"type": "deny"})
    c["patient"] = {"reference": "Patient/someone-else"}
    assert evaluate_consents([c], query()).decision == "none"


def test_code_criteria_are_applied_safely() -> None:
    deny = consent(
        {"type": "deny", "code": [{"coding": [{"system": "http://loinc.org", "code": "11488-4"}]}]}
    )
    permit = consent(
        {
            "type": "permit",
            "code": [{"coding": [{"system": "http://loinc.org", "code": "11488-4"}]}],
        }
    )
    assert evaluate_consents([deny], query()).decision == "deny"
    assert evaluate_consents([permit], query()).decision == "none"


def test_part2_consent_naming_the_recipient_covers_sud() -> None:
    c = consent(
        {
            "type": "permit",
            "actor": [org("demo-mcot")],
            "securityLabel": [{"system": ACT, "code": "SUD"}],
        },
        policy=PART2_POLICY,
    )
    sud = frozenset({"SUD", "42CFRPart2", "R"})
    out = evaluate_consents([c], query(labels=sud))
    assert out.decision == "permit" and out.part2_permit and out.part2_ids == ("c1",)
    assert evaluate_consents([c], query(ED, labels=sud)).decision == "none"


def test_general_authorization_is_not_a_part2_consent() -> None:
    general = consent({"type": "permit", "actor": [org("demo-mcot")]})
    out = evaluate_consents([general], query(labels=frozenset({"SUD"})))
    assert out.decision == "permit" and not out.part2_permit


def test_part2_consent_without_named_recipient_or_tpo_is_not_enough() -> None:
    vague = consent(
        {"type": "permit", "purpose": [{"system": REASON, "code": "HLEGAL"}]}, policy=PART2_POLICY
    )
    assert not evaluate_consents(
        [vague], query(POLICE, purpose="HLEGAL", labels=frozenset({"SUD"}))
    ).part2_permit


def test_2024_single_tpo_consent() -> None:
    tpo = consent(
        {
            "type": "permit",
            "purpose": [{"system": REASON, "code": c} for c in ("TREAT", "HPAYMT", "HOPERAT")],
        },
        policyRule={
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActUSPrivacyLaw",
                    "code": "42CFRPart2",
                }
            ]
        },
    )
    assert evaluate_consents([tpo], query(ED, labels=frozenset({"SUD"}))).part2_permit
    assert not evaluate_consents(
        [tpo], query(POLICE, purpose="HLEGAL", labels=frozenset({"SUD"}))
    ).part2_permit


def test_explicit_psychotherapy_note_authorization() -> None:
    named = consent(
        {
            "type": "permit",
            "actor": [org("demo-mcot")],
            "securityLabel": [{"system": ACT, "code": "PSYTHPN"}],
        }
    )
    general = consent({"type": "permit", "actor": [org("demo-mcot")]}, cid="c2")
    assert evaluate_consents([named], query(labels=frozenset({"PSYTHPN"}))).explicit
    assert not evaluate_consents([general], query(labels=frozenset({"PSYTHPN"}))).explicit


def test_compiled_consents_can_be_reused() -> None:
    compiled = compile_consent(consent({"type": "deny"}))
    assert evaluate_consents([compiled], query()).decision == "deny"
    with pytest.raises(ConsentError):
        compile_consent({"resourceType": "Patient"})
