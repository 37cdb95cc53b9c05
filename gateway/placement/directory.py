"""The facility directory: a unit (``HealthcareService``) and its acceptance criteria.

Criteria live in the extensions of :mod:`gateway.placement.profiles`; this module reads them into a
:class:`UnitCriteria`, writes them back (:func:`apply_criteria`), checks them (:func:`check_unit`)
and decides who may edit a unit (:func:`authorize_unit_edit`: the facility's own agency, whose id is
the facility ``Organization`` id, or a gateway administrator).

Two kinds of criterion, documented in ``docs/placement-directory.md``:

- *restrictions* (age, sexes, payers, involuntary holds, recent aggression, medical clearance): a unit
  that states none restricts nothing, and ``$match`` lists the criterion as *unconfirmed*;
- *capabilities* (security level, medical acuity, specialty programs, languages): a unit that states
  none is taken at the lowest level (open, low acuity, no specialty program, English only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.auth.schemas import Caller
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import Forbidden, InvalidRequest
from gateway.placement import profiles as p

Resource = dict[str, Any]
ADMIN_ROLE = "gateway_admin"
_UCUM_SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "wk": 604800.0}
_BED_SYSTEMS = (p.BED_TYPE_SYSTEM, *p.LEGACY_BED_TYPE_SYSTEMS)


@dataclass(frozen=True, slots=True)
class Census:
    """A unit's latest bed count; ``as_of`` is epoch seconds, None when undated."""

    free: int
    total: int | None = None
    as_of: float | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class UnitCriteria:
    """Everything ``$match`` needs to know about one unit, parsed from its HealthcareService."""

    bed_types: tuple[str, ...] = ()
    levels: frozenset[str] = frozenset()
    age_low: int | None = None
    age_high: int | None = None
    age_stated: bool = False
    sexes: frozenset[str] | None = None
    payers: frozenset[str] | None = None
    accepts_involuntary: bool | None = None
    accepts_aggression: bool | None = None
    requires_clearance: bool | None = None
    security_level: str | None = None
    medical_acuity: str | None = None
    specialties: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    cadence: float = p.DEFAULT_CADENCE_SECONDS
    census: Census | None = None
    active: bool = True

    @property
    def effective_levels(self) -> frozenset[str]:
        """Stated levels of care, or the ones the bed types imply."""
        if self.levels:
            return self.levels
        return frozenset(p.DEFAULT_LEVEL[b] for b in self.bed_types if b in p.DEFAULT_LEVEL)

    @property
    def effective_ages(self) -> tuple[int, int | None]:
        """(low, high) years, inclusive; high None = no upper limit."""
        if self.age_stated:
            return (self.age_low or 0, self.age_high)
        lows = [p.DEFAULT_AGES[b] for b in self.bed_types if b in p.DEFAULT_AGES]
        if not lows:
            return (0, None)
        low = min(a for a, _ in lows)
        highs = [h for _, h in lows]
        return (low, None if None in highs else max(h for h in highs if h is not None))

    @property
    def effective_languages(self) -> frozenset[str]:
        return self.languages or frozenset({"en"})


def language_tag(code: str) -> str:
    """The primary subtag of a BCP-47 tag, lower case (``es-MX`` → ``es``)."""
    return code.strip().split("-")[0].lower()


def _ext_values(doc: Resource, url: str) -> list[tuple[int, Any]]:
    out = []
    for i, ext in enumerate(doc.get("extension") or ()):
        if isinstance(ext, dict) and ext.get("url") == url:
            out.append((i, ext))
    return out


def parse_duration(value: Any) -> float | None:
    """Seconds of a FHIR Duration in UCUM time units, or None."""
    if not isinstance(value, dict):
        return None
    amount, code = value.get("value"), value.get("code") or value.get("unit")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or code not in _UCUM_SECONDS:
        return None
    seconds = float(amount) * _UCUM_SECONDS[code]
    return seconds if seconds > 0 else None


def parse_census(ext: dict[str, Any]) -> Census | None:
    """The census sub-extensions; None when freeBeds is missing or malformed."""
    parts = {e.get("url"): e for e in ext.get("extension") or () if isinstance(e, dict)}
    free = (parts.get("freeBeds") or {}).get("valueUnsignedInt")
    if not isinstance(free, int) or isinstance(free, bool) or free < 0:
        return None
    total = (parts.get("totalBeds") or {}).get("valueUnsignedInt")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        total = None
    as_of: float | None = None
    when = parts.get("asOf") or {}
    text = when.get("valueDateTime") or when.get("valueInstant")
    if isinstance(text, str) and "T" in text:
        try:
            as_of = date_range(text)[0]
        except BadDate:
            as_of = None
    source = (parts.get("source") or {}).get("valueCode")
    return Census(free, total, as_of, source if isinstance(source, str) else None)


def _codes(doc: Resource, url: str) -> frozenset[str] | None:
    found = [e.get("valueCode") for _, e in _ext_values(doc, url)]
    codes = frozenset(c for c in found if isinstance(c, str))
    return codes if found else None


def _flag(doc: Resource, url: str) -> bool | None:
    for _, ext in _ext_values(doc, url):
        if isinstance(ext.get("valueBoolean"), bool):
            return bool(ext["valueBoolean"])
    return None


def _code(doc: Resource, url: str, allowed: dict[str, str]) -> str | None:
    for _, ext in _ext_values(doc, url):
        if ext.get("valueCode") in allowed:
            return str(ext["valueCode"])
    return None


def concept_codes(concepts: Any, systems: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for concept in concepts or ():
        for coding in (concept or {}).get("coding") or ():
            if isinstance(coding, dict) and coding.get("system") in systems:
                code = coding.get("code")
                if isinstance(code, str) and code not in out:
                    out.append(code)
    return out


def read_criteria(doc: Resource) -> UnitCriteria:
    """Parse one stored HealthcareService (already valid FHIR) into its criteria."""
    age_low = age_high = None
    age_stated = False
    for _, ext in _ext_values(doc, p.AGE_RANGE):
        rng = ext.get("valueRange") or {}
        low, high = (rng.get("low") or {}).get("value"), (rng.get("high") or {}).get("value")
        age_low = int(low) if isinstance(low, int | float) else None
        age_high = int(high) if isinstance(high, int | float) else None
        age_stated = True
    census = None
    for _, ext in _ext_values(doc, p.CENSUS):
        census = parse_census(ext)
    cadence = p.DEFAULT_CADENCE_SECONDS
    for _, ext in _ext_values(doc, p.CENSUS_CADENCE):
        cadence = parse_duration(ext.get("valueDuration")) or cadence
    languages = concept_codes(doc.get("communication"), (p.LANGUAGE_SYSTEM,))
    return UnitCriteria(
        bed_types=tuple(
            b for b in concept_codes(doc.get("type"), _BED_SYSTEMS) if b in p.BED_TYPES
        ),
        levels=frozenset(
            c
            for c in concept_codes(doc.get("characteristic"), (p.LEVEL_OF_CARE_SYSTEM,))
            if c in p.LEVELS_OF_CARE
        ),
        age_low=age_low,
        age_high=age_high,
        age_stated=age_stated,
        sexes=_codes(doc, p.SEX_ACCEPTED),
        payers=_codes(doc, p.PAYER_ACCEPTED),
        accepts_involuntary=_flag(doc, p.ACCEPTS_INVOLUNTARY),
        accepts_aggression=_flag(doc, p.ACCEPTS_AGGRESSION),
        requires_clearance=_flag(doc, p.REQUIRES_CLEARANCE),
        security_level=_code(doc, p.SECURITY_LEVEL, p.SECURITY_LEVELS),
        medical_acuity=_code(doc, p.MEDICAL_ACUITY, p.ACUITY_LEVELS),
        specialties=_codes(doc, p.SPECIALTY) or frozenset(),
        languages=frozenset(language_tag(c) for c in languages),
        cadence=cadence,
        census=census,
        active=doc.get("active", True) is not False,
    )


# ---- who may edit a unit ------------------------------------------------------------------------
def facility_id(doc: Resource) -> str | None:
    """The Organization id of ``providedBy`` (``Organization/<id>``), or None."""
    ref = (doc.get("providedBy") or {}).get("reference")
    if isinstance(ref, str) and ref.startswith("Organization/"):
        return ref.split("/", 1)[1].split("/", 1)[0]
    return None


def may_edit(caller: Caller, doc: Resource) -> bool:
    """The facility's own agency (agency id == Organization id) or a gateway administrator."""
    if caller.role == ADMIN_ROLE:
        return True
    org = facility_id(doc)
    return org is not None and caller.agency == org


def authorize_unit_edit(caller: Caller, doc: Resource) -> None:
    """Refuse (403) anyone but the unit's own facility or a gateway administrator."""
    if not may_edit(caller, doc):
        raise Forbidden(
            "only the facility's own users (or a gateway administrator) may change this unit",
            code="forbidden",
        )


def require_unit(doc: Resource | None, unit_id: str) -> Resource:
    """The unit's stored JSON, or 400 when the resource is not a HealthcareService."""
    if doc is None or doc.get("resourceType") != "HealthcareService":
        raise InvalidRequest(f"HealthcareService/{unit_id} is not a unit", expression="id")
    return doc
