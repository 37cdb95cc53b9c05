"""Codes used by the bha mapping: standard systems (ICD-10-CM, LOINC for the C-SSRS screener, HL7
terminology for episodes, conditions and consents) and the few local ones where none exists."""

from __future__ import annotations

from adapters.recordkit.fhirbits import local_system

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
EPISODE_TYPE = "http://terminology.hl7.org/CodeSystem/episodeofcare-type"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_POLICY = "http://terminology.hl7.org/CodeSystem/consentpolicycodes"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"

PROGRAM = local_system("bha-program")
CARE_ROLE = local_system("bha-care-role")
RISK = local_system("cssrs-risk-level")
IDENTIFIER_TYPE = local_system("identifier-type")

# C-SSRS Screener (recent), LOINC panel 93373-9, with the item codes used by the HL7 US Behavioral
# Health Profiles C-SSRS example. The texts here are short labels, not the instrument's wording.
CSSRS_PANEL = ("93373-9", "Columbia - suicide severity rating scale screener - recent [C-SSRS]")
CSSRS_RISK = ("93374-7", "Suicide risk level")
CSSRS_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("wish_to_be_dead", "93246-7", "1. Wish to be dead"),
    ("suicidal_thoughts", "93247-5", "2. Non-specific active suicidal thoughts"),
    ("thoughts_of_method", "93248-3", "3. Thoughts of how (method)"),
    ("intent_to_act", "93249-1", "4. Some intention of acting"),
    ("plan_with_intent", "93250-9", "5. Specific plan and intent"),
    ("suicidal_behavior_ever", "93267-3", "6. Suicidal behavior, ever"),
    ("suicidal_behavior_past_3_months", "93269-9", "6a. Suicidal behavior in the past 3 months"),
)
YES = ("LA33-6", "Yes")
NO = ("LA32-8", "No")
RISK_LEVELS = {"none": "No risk identified", "low": "Low", "moderate": "Moderate", "high": "High"}

EPISODE_TO_CARETEAM = {
    "planned": "proposed",
    "waitlist": "proposed",
    "active": "active",
    "onhold": "suspended",
    "finished": "inactive",
    "cancelled": "inactive",
}

# Consent.provision.purpose (v3-ActReason, PurposeOfUse).
PURPOSES = {
    "treatment": "TREAT",
    "payment": "HPAYMT",
    "operations": "HOPERAT",
    "care_coordination": "CAREMGT",
    "emergency_treatment": "ETREAT",
}
# Consent scope → provision.class (resource types the consent covers).
SCOPE_CLASSES = {
    "diagnoses": ("Condition",),
    "assessments": ("Observation", "QuestionnaireResponse"),
    "treatment_episodes": ("EpisodeOfCare", "CareTeam"),
}
PART2_RULE_URL = "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"
HIPAA_AUTH_URL = "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-E/section-164.508"
