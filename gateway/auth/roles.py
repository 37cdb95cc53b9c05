"""Agency kinds, roles and purposes of use the registry accepts."""

from __future__ import annotations

AGENCY_KINDS = frozenset({"police", "hospital", "bha", "facility", "crisis-team"})

PERSON_ROLES = frozenset(
    {
        "police_officer",
        "cit_officer",
        "crisis_clinician",
        "ed_clinician",
        "bh_case_manager",
        "facility_intake",
        "bha_auditor",
        "gateway_admin",
        "program_reader",  # police command, city council: program reports (aggregates) only
    }
)
SYSTEM_ROLES = frozenset(
    {
        "police_rms",
        "hospital_ehr",
        "bha_system",
        "facility_system",
        "crisis_team_system",
        "web_console",
    }
)
ROLES = PERSON_ROLES | SYSTEM_ROLES

# v3-ActReason purposes of use (http://terminology.hl7.org/CodeSystem/v3-ActReason) the gateway knows.
PURPOSES = frozenset(
    {"TREAT", "ETREAT", "BTG", "HPAYMT", "HOPERAT", "CAREMGT", "HLEGAL", "GOV", "PUBHLTH", "THREAT"}
)

# The purpose a token carries when a client or person asserts none.
DEFAULT_PURPOSE = {
    "police_officer": "HLEGAL",
    "cit_officer": "HLEGAL",
    "police_rms": "HLEGAL",
    "crisis_clinician": "TREAT",
    "ed_clinician": "TREAT",
    "bh_case_manager": "TREAT",
    "facility_intake": "TREAT",
    "hospital_ehr": "TREAT",
    "facility_system": "TREAT",
    "crisis_team_system": "TREAT",
    "bha_system": "TREAT",
    "bha_auditor": "HOPERAT",
    "gateway_admin": "HOPERAT",
    "program_reader": "HOPERAT",
    "web_console": "TREAT",
}
