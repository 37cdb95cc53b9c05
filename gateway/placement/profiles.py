"""Canonical URLs, code systems and StructureDefinitions of the facility directory's extensions.

Every extension sits on ``HealthcareService`` (one unit of a facility). Their StructureDefinitions
(FHIR R4, ``kind: complex-type``, ``type: Extension``, ``derivation: constraint``), CodeSystems and
ValueSets are generated from :data:`EXTENSIONS` and :data:`CODE_SYSTEMS` by
:mod:`gateway.placement.directory_artifacts` and published under ``docs/profiles/``.

Core elements carry what they already mean: the bed type is ``HealthcareService.type``, the level of
care ``HealthcareService.characteristic`` and the languages ``HealthcareService.communication``
(R4 defines that element for exactly this), so none of those needs an extension.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE = "https://crisis-exchange.example/fhir"
SD_BASE = f"{BASE}/StructureDefinition"
CS_BASE = f"{BASE}/CodeSystem"

# ---- code systems ------------------------------------------------------------------------------
BED_TYPE_SYSTEM = f"{CS_BASE}/bed-type"
LEGACY_BED_TYPE_SYSTEMS = ("urn:crisis-exchange:bed-type",)  # what gateway/demo.py writes today
LEVEL_OF_CARE_SYSTEM = f"{CS_BASE}/level-of-care"
PAYER_SYSTEM = f"{CS_BASE}/payer-category"
SECURITY_SYSTEM = f"{CS_BASE}/security-level"
ACUITY_SYSTEM = f"{CS_BASE}/medical-acuity"
SPECIALTY_SYSTEM = f"{CS_BASE}/placement-specialty"
CENSUS_SOURCE_SYSTEM = f"{CS_BASE}/census-source"
MATCH_CRITERION_SYSTEM = f"{CS_BASE}/match-criterion"
GENDER_SYSTEM = "http://hl7.org/fhir/administrative-gender"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"

# EDXL-HAVE / HAvBED bed types (STANDARDS.md) plus detox/SUD and crisis stabilisation.
BED_TYPES: dict[str, str] = {
    "AdultPsychiatric": "Adult psychiatric inpatient",
    "PediatricPsychiatric": "Child and adolescent psychiatric inpatient",
    "GeriatricPsychiatric": "Geriatric psychiatric inpatient",
    "DetoxSUD": "Withdrawal management / substance use disorder",
    "CrisisStabilization": "Crisis stabilization unit",
}
LEVELS_OF_CARE: dict[str, str] = {
    "acute-inpatient": "Acute psychiatric inpatient (hospital)",
    "crisis-stabilization": "Crisis stabilization (short stay, up to a few days)",
    "withdrawal-management": "Medically managed withdrawal management (detox)",
    "residential": "Crisis residential / sub-acute",
}
# A unit that states no level of care is taken to provide the one its bed type implies.
DEFAULT_LEVEL: dict[str, str] = {
    "AdultPsychiatric": "acute-inpatient",
    "PediatricPsychiatric": "acute-inpatient",
    "GeriatricPsychiatric": "acute-inpatient",
    "DetoxSUD": "withdrawal-management",
    "CrisisStabilization": "crisis-stabilization",
}
# A unit that states no age range takes the one its bed type implies (years, inclusive).
DEFAULT_AGES: dict[str, tuple[int, int | None]] = {
    "AdultPsychiatric": (18, None),
    "PediatricPsychiatric": (0, 17),
    "GeriatricPsychiatric": (55, None),
    "DetoxSUD": (18, None),
    "CrisisStabilization": (18, None),
}
PAYERS: dict[str, str] = {
    "medicaid": "Medicaid",
    "medicare": "Medicare",
    "commercial": "Commercial health plan",
    "uninsured": "Uninsured / self-pay",
}
SEXES = ("male", "female", "other", "unknown")
# Ordered: a unit at one level also takes patients needing any lower level.
SECURITY_LEVELS: dict[str, str] = {
    "open": "Open (unlocked) unit",
    "locked": "Locked unit",
    "secure": "Secure / forensic unit",
}
ACUITY_LEVELS: dict[str, str] = {
    "low": "Medically stable; routine monitoring",
    "moderate": "Stable chronic conditions needing nursing care (e.g. insulin, oxygen)",
    "high": "Unstable or complex medical needs managed on the unit",
}
SPECIALTIES: dict[str, str] = {
    "eating-disorder": "Eating disorder program",
    "dual-diagnosis": "Co-occurring mental health and substance use (dual diagnosis)",
    "developmental-disability": "Intellectual / developmental disability",
    "perinatal": "Perinatal (pregnant or postpartum) patients",
}
CENSUS_SOURCES: dict[str, str] = {
    "unit": "Unit update (HealthcareService or the census endpoint)",
    "beds": "Counted from bed Locations (operationalStatus, v2 table 0116)",
    "measure-report": "SANER-style MeasureReport",
}

# Why $match excluded a unit (OperationOutcome.issue.details.coding), in the order they are tested.
CRITERIA: dict[str, str] = {
    "inactive": "The unit or its facility is not active",
    "bed-type": "Bed type differs from the one requested",
    "level-of-care": "Level of care not provided",
    "age": "Patient age outside the unit's age range",
    "sex": "Patient sex not accepted",
    "payer": "Payer not accepted",
    "involuntary": "Does not accept involuntary holds",
    "medical-clearance": "Requires medical clearance, which is not done",
    "aggression": "Does not accept patients with recent aggression",
    "security-level": "Security level lower than needed",
    "medical-acuity": "Cannot manage the patient's medical acuity",
    "specialty": "A needed specialty program is not offered",
    "language": "Does not work in the patient's language",
    "no-location": "The unit has no coordinates, so its distance is unknown",
    "distance": "Farther than the maximum distance",
    "hold-expiry": "Cannot be reached before the involuntary hold expires",
    "no-free-beds": "The latest census shows no free bed",
    "census-unreported": "The unit never reported a census",
}

CODE_SYSTEMS: dict[str, tuple[str, dict[str, str]]] = {
    BED_TYPE_SYSTEM: ("Placement bed types (EDXL-HAVE / HAvBED based)", BED_TYPES),
    LEVEL_OF_CARE_SYSTEM: ("Placement levels of care", LEVELS_OF_CARE),
    PAYER_SYSTEM: ("Payer categories", PAYERS),
    SECURITY_SYSTEM: ("Unit security levels (ordered)", SECURITY_LEVELS),
    ACUITY_SYSTEM: ("Medical acuity a unit can manage (ordered)", ACUITY_LEVELS),
    SPECIALTY_SYSTEM: ("Placement specialty programs", SPECIALTIES),
    CENSUS_SOURCE_SYSTEM: ("How a bed census arrived", CENSUS_SOURCES),
    MATCH_CRITERION_SYSTEM: ("Why $match excluded a unit", CRITERIA),
}


def value_set_url(system: str) -> str:
    """The ValueSet holding every code of one of our code systems."""
    if system == GENDER_SYSTEM:
        return "http://hl7.org/fhir/ValueSet/administrative-gender"
    return f"{BASE}/ValueSet/{system.rsplit('/', 1)[1]}"


# ---- extensions on HealthcareService -----------------------------------------------------------
AGE_RANGE = f"{SD_BASE}/placement-age-range"
SEX_ACCEPTED = f"{SD_BASE}/placement-sex-accepted"
PAYER_ACCEPTED = f"{SD_BASE}/placement-payer-accepted"
ACCEPTS_INVOLUNTARY = f"{SD_BASE}/placement-accepts-involuntary"
SECURITY_LEVEL = f"{SD_BASE}/placement-security-level"
MEDICAL_ACUITY = f"{SD_BASE}/placement-medical-acuity"
ACCEPTS_AGGRESSION = f"{SD_BASE}/placement-accepts-aggression"
REQUIRES_CLEARANCE = f"{SD_BASE}/placement-requires-medical-clearance"
SPECIALTY = f"{SD_BASE}/placement-specialty"
CENSUS = f"{SD_BASE}/placement-census"
CENSUS_CADENCE = f"{SD_BASE}/placement-census-cadence"

# ---- extensions on Bundle.entry.search of a $match result ---------------------------------------
MATCH_DISTANCE = f"{SD_BASE}/match-distance"
MATCH_FREE_BEDS = f"{SD_BASE}/match-free-beds"
MATCH_CENSUS_AGE = f"{SD_BASE}/match-census-age"
MATCH_CENSUS_STALE = f"{SD_BASE}/match-census-stale"
MATCH_REASON = f"{SD_BASE}/match-reason"

DEFAULT_CADENCE_SECONDS = 8 * 3600.0  # Maryland asks for three updates a day


@dataclass(frozen=True, slots=True)
class ExtensionDef:
    """One extension: enough to generate its StructureDefinition."""

    url: str
    title: str
    description: str
    value_type: str | None  # None for a complex extension (``parts``)
    context: str = "HealthcareService"
    max: str = "1"
    binding: str | None = None  # code system whose codes the value takes (required binding)
    parts: tuple[tuple[str, str, int, str], ...] = ()  # (name, type, min, description)

    @property
    def sd_id(self) -> str:
        return self.url.rsplit("/", 1)[1]


_E = ExtensionDef
EXTENSIONS: tuple[ExtensionDef, ...] = (
    _E(
        AGE_RANGE,
        "Placement: age range accepted",
        "Patient ages (whole years, inclusive, UCUM `a`) the unit admits; low or high may be "
        "absent (open). Absent extension: the range the bed type implies (adult 18+, "
        "child/adolescent 0-17, geriatric 55+).",
        "Range",
    ),
    _E(
        SEX_ACCEPTED,
        "Placement: sexes accepted",
        "Administrative genders the unit admits, one extension per code. Absent: not stated "
        "(no restriction known; $match reports it as unconfirmed).",
        "code",
        max="*",
        binding=GENDER_SYSTEM,
    ),
    _E(
        PAYER_ACCEPTED,
        "Placement: payers accepted",
        "Payer categories the unit accepts, one extension per code. Absent: not stated.",
        "code",
        max="*",
        binding=PAYER_SYSTEM,
    ),
    _E(
        ACCEPTS_INVOLUNTARY,
        "Placement: accepts involuntary holds",
        "Whether the unit admits patients on an involuntary hold (emergency detention). "
        "Absent: not stated.",
        "boolean",
    ),
    _E(
        SECURITY_LEVEL,
        "Placement: security level",
        "The unit's security level (open < locked < secure). A unit serves requests needing its "
        "level or a lower one. Absent: open.",
        "code",
        binding=SECURITY_SYSTEM,
    ),
    _E(
        MEDICAL_ACUITY,
        "Placement: medical acuity managed",
        "The highest medical acuity the unit can manage (low < moderate < high). Absent: low.",
        "code",
        binding=ACUITY_SYSTEM,
    ),
    _E(
        ACCEPTS_AGGRESSION,
        "Placement: accepts recent aggression",
        "Whether the unit admits patients with recent aggression or violence. Absent: not stated.",
        "boolean",
    ),
    _E(
        REQUIRES_CLEARANCE,
        "Placement: requires medical clearance",
        "Whether the unit admits only patients whose medical clearance is done. Absent: not "
        "stated.",
        "boolean",
    ),
    _E(
        SPECIALTY,
        "Placement: specialty programs",
        "Specialty programs the unit offers, one extension per code. Absent: none.",
        "code",
        max="*",
        binding=SPECIALTY_SYSTEM,
    ),
    _E(
        CENSUS,
        "Placement: bed census",
        "The unit's latest bed census: free (staffed, unoccupied) and total staffed beds, when it "
        "was taken and how it arrived. A census without asOf is never shown as fresh.",
        None,
        parts=(
            ("freeBeds", "unsignedInt", 1, "Staffed beds free now"),
            ("totalBeds", "unsignedInt", 0, "Staffed beds in the unit"),
            ("asOf", "dateTime", 1, "When the count was taken"),
            ("source", "code", 0, f"How it arrived ({CENSUS_SOURCE_SYSTEM})"),
        ),
    ),
    _E(
        CENSUS_CADENCE,
        "Placement: census update cadence",
        "How often the unit promises a census (UCUM time units). A census older than this is "
        "stale: flagged and ranked down by $match. Absent: 8 hours.",
        "Duration",
    ),
    _E(
        MATCH_DISTANCE,
        "$match: distance",
        "Great-circle distance from the request's origin to the unit (km).",
        "Quantity",
        context="Bundle.entry.search",
    ),
    _E(
        MATCH_FREE_BEDS,
        "$match: free beds",
        "Free beds in the unit's latest census (absent when the unit never reported one).",
        "unsignedInt",
        context="Bundle.entry.search",
    ),
    _E(
        MATCH_CENSUS_AGE,
        "$match: census age",
        "Age of the unit's latest census, in minutes, when the match ran.",
        "Quantity",
        context="Bundle.entry.search",
    ),
    _E(
        MATCH_CENSUS_STALE,
        "$match: census stale",
        "True when the census is older than the unit's cadence, undated or missing.",
        "boolean",
        context="Bundle.entry.search",
    ),
    _E(
        MATCH_REASON,
        "$match: ranking reason",
        "One line of why the unit ranks where it does (score components, unconfirmed criteria).",
        "string",
        context="Bundle.entry.search",
        max="*",
    ),
)
