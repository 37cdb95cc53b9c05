"""The demo's fixed records: agencies, synthetic people and their crisis history (as tables).

Family names are deliberately not real ones; everything carries the ``HTEST`` test-data tag.
"""

from __future__ import annotations

from pathlib import Path

FACILITY_CSV = Path(__file__).parent / "demo_data" / "psychiatric_hospitals.csv"
HIFLD_SYSTEM = "urn:hifld:hospital"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
# EDXL-HAVE / HAvBED bed types have no FHIR code system yet; the placement work may replace this.
BED_TYPE_SYSTEM = "urn:crisis-exchange:bed-type"
DEMO_SYSTEM = "urn:crisis-exchange:demo"
TEST_DATA_TAG = {
    "system": f"{TERMINOLOGY}/v3-ActReason",
    "code": "HTEST",
    "display": "test health data",
}

# The agencies: (id, name, FHIR organization-type, registry kind, identifier system for people).
# The same ids name the Organization resources and the agencies in the auth registry.
APD, HOSPITAL, TPC, MCOT = "demo-amarillo-pd", "demo-panhandle-regional", "demo-tpc", "demo-mcot"
AGENCIES: tuple[tuple[str, str, str, str, str | None], ...] = (
    (APD, "Amarillo Police Department", "govt", "police", f"{DEMO_SYSTEM}:apd:person"),
    (HOSPITAL, "Panhandle Regional Hospital", "prov", "hospital", f"{DEMO_SYSTEM}:prh:mrn"),
    (TPC, "Texas Panhandle Centers", "prov", "bha", f"{DEMO_SYSTEM}:tpc:client"),
    (MCOT, "Amarillo Mobile Crisis Outreach Team", "team", "crisis-team", None),
)
PERSON_SYSTEMS = {agency: system for agency, _, _, _, system in AGENCIES if system}

# (given, family, gender, birth date, street). Family names are deliberately not real ones.
PATIENTS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Avery", "Sample", "female", "1991-04-12", "1200 S Polk St"),
    ("Jordan", "Example", "male", "1985-09-30", "3401 SW 45th Ave"),
    ("Riley", "Testperson", "female", "2001-01-22", "1515 S Georgia St"),
    ("Casey", "Demo", "male", "1978-06-05", "700 N Fillmore St"),
    ("Morgan", "Placeholder", "female", "1969-11-17", "4500 Bell St"),
    ("Taylor", "Synthetic", "male", "1995-02-28", "2200 W 7th Ave"),
    ("Quinn", "Mockdata", "other", "1988-08-08", "901 S Western St"),
    ("Drew", "Fixture", "male", "1974-03-03", "6100 Plains Blvd"),
    ("Jamie", "Notreal", "female", "1999-12-01", "3300 NE 24th Ave"),
    ("Sam", "Fictional", "male", "1962-07-19", "1800 Coulter St"),
)

# Police crisis calls: (patient no., call type, start, minutes, emergency detention made).
# Call types and their rough mix (about 6:3:1) follow the Toronto "Persons in Crisis" calls data.
POLICE_CALLS: tuple[tuple[int, str, str, int, bool], ...] = (
    (1, "Person in Crisis", "2025-03-14T01:40:00-05:00", 55, True),
    (2, "Suicide-related", "2025-03-20T22:05:00-05:00", 80, True),
    (3, "Person in Crisis", "2025-04-02T15:30:00-05:00", 35, False),
    (4, "Overdose", "2025-04-11T03:15:00-05:00", 45, False),
    (5, "Person in Crisis", "2025-04-19T19:00:00-05:00", 60, False),
    (6, "Suicide-related", "2025-05-06T23:45:00-05:00", 70, True),
    (7, "Person in Crisis", "2025-05-09T12:10:00-05:00", 25, False),
    (8, "Person in Crisis", "2025-05-21T17:50:00-05:00", 40, False),
)
# Emergency department visits: (patient no., start, end).
ED_VISITS: tuple[tuple[int, str, str], ...] = (
    (1, "2025-03-14T02:45:00-05:00", "2025-03-14T09:30:00-05:00"),
    (2, "2025-03-20T23:40:00-05:00", "2025-03-21T14:00:00-05:00"),
    (4, "2025-04-11T04:05:00-05:00", "2025-04-11T11:20:00-05:00"),
    (6, "2025-05-07T00:50:00-05:00", "2025-05-07T18:15:00-05:00"),
)
# Diagnoses: (patient no., ICD-10-CM code, display, ED visit no. or None, recorded by).
CONDITIONS: tuple[tuple[int, str, str, int | None, str], ...] = (
    (1, "F20.9", "Schizophrenia, unspecified", 1, HOSPITAL),
    (2, "F32.9", "Major depressive disorder, single episode, unspecified", 2, HOSPITAL),
    (4, "F10.20", "Alcohol dependence, uncomplicated", 3, HOSPITAL),
    (6, "F31.9", "Bipolar disorder, unspecified", 4, HOSPITAL),
    (3, "F41.1", "Generalized anxiety disorder", None, TPC),
    (9, "F43.10", "Post-traumatic stress disorder, unspecified", None, TPC),
)
