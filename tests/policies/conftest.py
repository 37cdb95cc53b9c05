"""Fixtures for the pure policy tests: no database, no server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policies.agreements import AgreementSet
from policies.engine import PolicyEngine, default_engine
from policies.model import Principal

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"

POLICE = Principal(
    "apd-rms", "demo-amarillo-pd", "police", "police_officer", "diaz", ("HLEGAL", "THREAT")
)
CIT = Principal(
    "apd-cit", "demo-amarillo-pd", "police", "cit_officer", "nguyen", ("HLEGAL", "THREAT")
)
CLINICIAN = Principal(
    "mcot-app", "demo-mcot", "crisis-team", "crisis_clinician", "okafor", ("TREAT",)
)
ED = Principal(
    "prh-ehr", "demo-panhandle-regional", "hospital", "ed_clinician", "patel", ("TREAT",)
)
INTAKE = Principal("sunrise", "sunrise-psych", "facility", "facility_intake", "intake", ("TREAT",))
AUDITOR = Principal("tpc", "demo-tpc", "bha", "bha_auditor", "kim", ("HOPERAT",))
ADMIN = Principal("tpc", "demo-tpc", "bha", "gateway_admin", "admin", ("HOPERAT",))
HOSPITAL = "demo-panhandle-regional"
BHA = "demo-tpc"


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    return default_engine()


@pytest.fixture(scope="session")
def agreements() -> AgreementSet:
    return AgreementSet.load()


def concept(system: str, code: str) -> dict[str, object]:
    return {"coding": [{"system": system, "code": code}]}
