"""Codes used by the police-rms mapping: local code systems for police concepts (no standard
terminology covers call types, dispositions, weapons or use of force) and the standard codes they are
paired with where one fits."""

from __future__ import annotations

from adapters.recordkit.fhirbits import local_system

CALL_TYPE = local_system("police-call-type")
DISPOSITION = local_system("police-disposition")
OBSERVATION = local_system("police-observation")
WEAPON = local_system("police-weapon")
FORCE = local_system("police-use-of-force")
INJURY_SEVERITY = local_system("police-injury-severity")
CATEGORY = local_system("police-category")
FLAG_CODE = local_system("police-flag")
SERVICE = local_system("police-referral")
DOCUMENT = local_system("police-document")
CONTENT = local_system("content-kind")
IDENTIFIER_TYPE = local_system("identifier-type")
QUALIFICATION = local_system("police-qualification")

ENCOUNTER_CLASS = "http://terminology.hl7.org/CodeSystem/v3-ActCode"  # FLD = field
DISCHARGE = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
SNOMED = "http://snomed.info/sct"

CALL_TYPES: dict[str, str] = {
    "person_in_crisis": "Person in crisis",
    "suicide_related": "Suicide-related",
    "overdose": "Overdose",
    "welfare_check": "Welfare check",
    "disturbance": "Disturbance",
    "missing_person": "Missing person",
    "other": "Other",
}

DISPOSITIONS: dict[str, str] = {
    "mha_apprehension": "Apprehended under the Mental Health Act",
    "transported_ed": "Transported to an emergency department",
    "transported_crisis_centre": "Transported to a crisis centre",
    "referred_crisis_team": "Referred to the crisis team",
    "arrest": "Arrest",
    "no_further_action": "No further action",
}

# Encounter.hospitalization.dischargeDisposition (R4 discharge-disposition, extensible): only the
# dispositions that send the person somewhere have a standard counterpart.
DISCHARGE_OF: dict[str, tuple[str, str]] = {
    "transported_ed": ("other-hcf", "Other healthcare facility"),
    "transported_crisis_centre": ("other-hcf", "Other healthcare facility"),
    "mha_apprehension": ("other-hcf", "Other healthcare facility"),
    "arrest": ("oth", "Other"),
}
# When several dispositions are given, the one the person ends up with wins.
DISCHARGE_PRIORITY = (
    "mha_apprehension",
    "transported_ed",
    "transported_crisis_centre",
    "arrest",
    "referred_crisis_team",
    "no_further_action",
)

WEAPONS: dict[str, str] = {
    "firearm": "Firearm",
    "replica_firearm": "Replica firearm",
    "knife": "Knife",
    "other_edged": "Other edged weapon",
    "blunt_object": "Blunt object",
    "other": "Other weapon",
}

FORCE_TYPES: dict[str, str] = {
    "physical_control": "Physical control",
    "restraints": "Restraints",
    "oc_spray": "OC spray",
    "baton": "Baton",
    "conducted_energy_weapon": "Conducted energy weapon",
    "firearm_pointed": "Firearm pointed",
    "firearm_discharged": "Firearm discharged",
    "other": "Other force",
}

INJURY_SEVERITIES: dict[str, str] = {"minor": "Minor", "serious": "Serious", "fatal": "Fatal"}

OBSERVATIONS: dict[str, str] = {
    "disposition": "Call disposition",
    "mha-apprehension": "Apprehension under the Mental Health Act",
    "weapons": "Weapons involved",
    "use-of-force": "Use of force",
    "injuries": "Injuries",
    "transport": "Transport",
}

# RelatedPerson.relationship (R4 binding: v3 RoleCode family members and personal relationships);
# the RMS term always travels as text, the v3 code only where one fits.
RELATIONSHIPS: dict[str, str | None] = {
    "mother": "MTH",
    "father": "FTH",
    "parent": "PRN",
    "spouse": "SPS",
    "partner": "DOMPART",
    "child": "CHILD",
    "sibling": "SIB",
    "relative": "FAMMEMB",
    "friend": "FRND",
    "neighbour": "NBOR",
    "roommate": "ROOM",
    "guardian": "GUARD",
    "caregiver": None,
    "other": None,
}

SEX: dict[str, str] = {"male": "male", "female": "female", "other": "other", "unknown": "unknown"}
