"""The leakage matrix at the pure level: real engine, every role x data class x purpose x relationship,
with and without consent and agreements. Each test states one promise of the sharing rules.

Consent outcomes are taken as the engine receives them: none, deny, and "permit-all" (a permit that
is also a covering Part 2 consent and an explicit psychotherapy-note authorization: the strongest
facts a patient can give), plus plain permits where a promise depends on them.
"""

from __future__ import annotations

from policies.data_classes import DATA_CLASSES
from policies.engine import PolicyEngine
from policies.matrix import PURPOSES, RELATIONS, ROLES, rows, to_csv, to_text

POLICE_ROLES = ("police_officer", "cit_officer", "police_rms")
CLINICIANS = (
    "crisis_clinician",
    "ed_clinician",
    "bh_case_manager",
    "hospital_ehr",
    "crisis_team_system",
    "bha_system",
)
FACILITY = ("facility_intake", "facility_system")
OVERSIGHT = ("bha_auditor", "gateway_admin")
STRONG = ("none", "deny", "permit-all")
SENSITIVE = (
    "mental-health",
    "sud",
    "psychotherapy-note",
    "hiv",
    "diagnosis",
    "assessment",
    "clinical",
)
PATIENT_CLASSES = tuple(
    c for c in DATA_CLASSES if c not in ("directory", "aggregate-report", "configuration", "audit")
)
INTAKE_CLASSES = {
    "demographics",
    "placement",
    "diagnosis",
    "coverage",
    "assessment",
    "safety-flag",
    "mental-health",
    "sud",
}


def test_police_never_get_sensitive_data_by_any_combination(engine: PolicyEngine) -> None:
    leaks = [
        r
        for r in rows(
            engine, POLICE_ROLES, SENSITIVE, consents=("none", "deny", "permit", "permit-all")
        )
        if r.allowed
    ]
    assert leaks == []


def test_police_get_only_their_views(engine: PolicyEngine) -> None:
    for r in rows(engine, POLICE_ROLES, PATIENT_CLASSES, consents=STRONG):
        if not r.allowed:
            continue
        if r.view == "full":
            assert r.relation == "own-agency" or r.data_class == "safety-flag", r
            assert r.data_class in {"demographics", "encounter", "placement", "safety-flag"}, r
        else:
            assert r.view in {"law-enforcement", "placement-status", "crisis-plan-summary"}, r
        assert r.purpose in {"HLEGAL", "THREAT"}, r
        assert r.agreement or r.relation == "own-agency", r


def test_only_cit_officers_get_flags_and_crisis_plans_and_plans_only_with_consent(
    engine: PolicyEngine,
) -> None:
    for r in rows(
        engine, POLICE_ROLES, ("safety-flag", "crisis-plan"), consents=("none", "permit", "deny")
    ):
        if r.allowed and r.relation != "own-agency":
            assert r.role == "cit_officer", r
            if r.data_class == "crisis-plan":
                assert r.consent == "permit" and r.view == "crisis-plan-summary", r


def test_placement_status_only_for_the_requesting_police_agency(engine: PolicyEngine) -> None:
    for r in rows(engine, POLICE_ROLES, ("placement",), consents=STRONG):
        if r.allowed:
            assert r.relation in ("own-placement-request", "own-agency"), r


def test_break_the_glass_never_for_police(engine: PolicyEngine) -> None:
    assert not [
        r
        for r in rows(engine, POLICE_ROLES, DATA_CLASSES, ("BTG", "BTG+2.51"), consents=STRONG)
        if r.allowed
    ]


def test_facility_gets_only_the_minimum_before_acceptance_and_nothing_else(
    engine: PolicyEngine,
) -> None:
    for r in rows(engine, FACILITY, PATIENT_CLASSES, consents=STRONG):
        if not r.allowed:
            continue
        assert r.relation in ("placement-addressed", "placement-accepted"), r
        if r.relation == "placement-addressed":
            assert r.view == "intake-minimum" and r.data_class in INTAKE_CLASSES, r
        assert r.data_class != "psychotherapy-note", r


def test_auditors_and_admins_never_see_clinical_content(engine: PolicyEngine) -> None:
    for r in rows(engine, OVERSIGHT, DATA_CLASSES, consents=STRONG):
        if r.allowed:
            allowed = {
                "bha_auditor": {"audit", "aggregate-report", "directory"},
                "gateway_admin": {"configuration", "directory"},
            }
            assert r.data_class in allowed[r.role], r


def test_clinicians_only_for_patients_they_serve(engine: PolicyEngine) -> None:
    treatment = tuple(p for p in PURPOSES if not p.startswith("BTG"))
    not_serving = tuple(rel for rel in RELATIONS if rel != "serving")
    for r in rows(engine, CLINICIANS, PATIENT_CLASSES, treatment, not_serving, consents=STRONG):
        assert not r.allowed, r


def test_sud_only_with_a_covering_part2_consent_or_a_medical_emergency(
    engine: PolicyEngine,
) -> None:
    for r in rows(engine, ROLES, ("sud",)):
        if r.allowed and r.relation != "own-agency":
            assert r.consent in ("permit-part2", "permit-all") or r.purpose == "BTG+2.51", r
            assert r.role not in POLICE_ROLES, r


def test_break_the_glass_never_unlocks_part2_or_psychotherapy_notes_without_more(
    engine: PolicyEngine,
) -> None:
    for r in rows(
        engine, ROLES, ("sud", "psychotherapy-note"), ("BTG",), consents=("none", "permit", "deny")
    ):
        if r.allowed:
            assert r.relation == "own-agency" or (
                r.data_class == "psychotherapy-note" and r.relation == "serving"
            ), r


def test_break_the_glass_only_for_clinician_people(engine: PolicyEngine) -> None:
    for r in rows(engine, ROLES, ("diagnosis", "mental-health"), ("BTG",), ("none",), ("none",)):
        assert r.allowed == (
            r.role in ("crisis_clinician", "ed_clinician", "bh_case_manager") and r.agreement
        ), r


def test_consent_deny_wins_except_break_the_glass(engine: PolicyEngine) -> None:
    for r in rows(
        engine,
        ROLES,
        PATIENT_CLASSES,
        consents=("deny",),
        relations=("serving", "placement-accepted", "none"),
    ):
        if r.allowed:
            assert r.purpose.startswith("BTG"), r


def test_no_agreement_means_no_sharing_across_agencies(engine: PolicyEngine) -> None:
    for r in rows(
        engine, ROLES, PATIENT_CLASSES, consents=("none", "permit-all"), agreements=(False,)
    ):
        if r.allowed:
            assert r.relation == "own-agency", r


def test_matrix_renders_as_csv_and_text(engine: PolicyEngine) -> None:
    sample = list(
        rows(
            engine,
            ("police_officer", "ed_clinician"),
            ("demographics", "sud"),
            ("HLEGAL", "TREAT"),
            ("serving",),
            ("none",),
            (True,),
        )
    )
    csv_text = to_csv(sample)
    assert csv_text.splitlines()[0].startswith("role,data_class,purpose")
    assert (
        "police_officer,demographics,HLEGAL,serving,none,True,True,law-enforcement,police.law-enforcement-view"
        in csv_text
    )
    text = to_text(sample)
    assert "  police_officer  HLEGAL:LE" in text and "  ed_clinician    TREAT" in text
