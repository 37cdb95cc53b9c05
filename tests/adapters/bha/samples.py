"""Shared inputs for the bha tests."""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path
from typing import Any

import orjson

GOLDEN = Path(__file__).parent / "golden"


def part2_record() -> dict[str, Any]:
    """A deep copy of the golden Part 2 case record (safe to modify)."""
    return copy.deepcopy(orjson.loads((GOLDEN / "part2_record.in").read_bytes()))


def plain_record() -> dict[str, Any]:
    return copy.deepcopy(orjson.loads((GOLDEN / "plain_record.in").read_bytes())["records"][0])


def to_csv(*rows: dict[str, str]) -> bytes:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


R = {"record_id": "CR-2024-000812"}
CSV_ROWS: list[dict[str, str]] = [
    R
    | {
        "updated_at": "2024-04-02T16:30:00-04:00",
        "row_type": "client",
        "client_id": "C-0047731",
        "medicaid_id": "WA12345678",
        "medicaid_state": "WA",
        "family": "Sample",
        "given": "Jordan",
        "birth_date": "1988-11-02",
        "sex": "male",
        "address_line": "77 Example Road",
        "city": "Tacoma",
        "state": "WA",
        "postal_code": "98402",
        "phone": "253-555-0147",
    },
    R
    | {
        "row_type": "enrolment",
        "enrolment_id": "E-5521",
        "program_code": "ACT",
        "program_name": "Assertive Community Treatment",
        "status": "active",
        "start": "2023-09-15",
        "case_manager_id": "S-210",
        "case_manager_family": "Manager",
        "case_manager_given": "Casey",
        "case_manager_phone": "253-555-0100",
    },
    R
    | {
        "row_type": "sud_episode",
        "episode_id": "SUD-981",
        "program_name": "Example Recovery Outpatient Program",
        "part2_program": "yes",
        "level_of_care": "ASAM 2.1",
        "status": "active",
        "start": "2024-01-08",
        "case_manager_id": "S-377",
        "case_manager_family": "Counsellor",
        "case_manager_given": "Riley",
    },
    R
    | {
        "row_type": "diagnosis",
        "diagnosis_id": "D-1",
        "icd10cm": "F33.1",
        "display": "Major depressive disorder, recurrent, moderate",
        "clinical_status": "active",
        "onset": "2019-05-01",
        "episode_id": "E-5521",
    },
    R
    | {
        "row_type": "diagnosis",
        "diagnosis_id": "D-2",
        "icd10cm": "F1120",
        "display": "Opioid dependence, uncomplicated",
        "clinical_status": "active",
        "onset": "2023-12-01",
        "episode_id": "SUD-981",
    },
    R
    | {
        "row_type": "cssrs",
        "screening_id": "SCR-3001",
        "assessed_at": "2024-04-01T10:15:00-04:00",
        "assessor_id": "S-210",
        "episode_id": "E-5521",
        "q1_wish_to_be_dead": "y",
        "q2_suicidal_thoughts": "y",
        "q3_thoughts_of_method": "y",
        "q4_intent_to_act": "n",
        "q5_plan_with_intent": "n",
        "q6_suicidal_behavior_ever": "y",
        "q6a_suicidal_behavior_past_3_months": "n",
    },
    R
    | {
        "row_type": "consent",
        "consent_id": "CON-77",
        "status": "active",
        "signed_on": "2024-01-08",
        "form": "Consent to disclose substance use disorder treatment records",
        "scope": "substance_use;diagnoses",
        "purposes": "treatment;care_coordination",
        "recipients": "county-crisis-team",
        "start": "2024-01-08",
        "end": "2025-01-08",
        "episode_id": "SUD-981",
    },
    R
    | {
        "row_type": "consent",
        "consent_id": "CON-78",
        "status": "active",
        "signed_on": "2024-02-01",
        "scope": "mental_health",
        "purposes": "treatment;emergency_treatment",
        "recipients": "general-hospital;county-crisis-team",
    },
]


def csv_equivalent_record() -> dict[str, Any]:
    """The golden Part 2 record as the CSV above can carry it (recipients without names)."""
    rec = part2_record()
    for consent in rec["consents"]:
        consent["recipients"] = [{"agency": r["agency"]} for r in consent["recipients"]]
    return rec
