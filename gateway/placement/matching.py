"""Match a placement request against every unit: hard filters, then a documented ranking score.

Hard filters (in this order; ``explain`` names every one a unit fails, codes from
``profiles.CRITERIA``): active, bed type, level of care, age, sex, payer, involuntary hold,
medical clearance, recent aggression, security level, medical acuity, specialty programs, language,
coordinates/distance, reachable before the hold expires, free beds.

Ranking (each term in [0, 1]; ``search.score`` is the sum, clipped to [0, 1])::

    0.40 * distance   1 / (1 + km / 50)                        0 when the distance is unknown
  + 0.25 * beds       min(free, 10) / 10, halved when stale    0 when never reported
  + 0.20 * fresh      1 - 0.5 * age / cadence                  0 when stale (age > cadence) or undated
  + 0.15 * response   1 / (1 + median minutes / 30)            0.5 when no recent asks
  - 0.02 * each restriction the request relies on that the facility has not stated (unconfirmed)

Ties go to the smaller unit id. Everything is vectorised over the snapshot's columns (numpy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gateway.placement import profiles as p
from gateway.placement.match_snapshot import ACUITY_RANK, SECURITY_RANK, Snapshot, UnitRecord

EARTH_KM = 6371.0088
W_DISTANCE, W_BEDS, W_FRESH, W_RESPONSE = 0.40, 0.25, 0.20, 0.15
UNCONFIRMED_PENALTY = 0.02
DISTANCE_HALF_KM = 50.0
BEDS_FULL = 10
RESPONSE_HALF_MINUTES = 30.0
ROAD_FACTOR, ROAD_KMH = 1.3, 70.0  # straight line → road distance, average transport speed
UNCONFIRMED_NAMES = {
    "age": "age range",
    "sex": "sexes accepted",
    "payer": "payers accepted",
    "involuntary": "involuntary holds",
    "aggression": "recent aggression",
    "medical-clearance": "medical clearance requirement",
}


@dataclass(frozen=True, slots=True)
class MatchRequest:
    """What the patient needs; None / empty means "no requirement"."""

    level_of_care: str | None = None
    bed_type: str | None = None
    reasons: tuple[str, ...] = ()  # diagnosis codes (ICD-10-CM), for the record
    age: int | None = None
    sex: str | None = None
    payer: str | None = None
    involuntary: bool = False
    hold_expires: float | None = None  # epoch seconds
    medical_clearance: bool = False  # done?
    recent_aggression: bool = False
    language: str | None = None  # primary BCP-47 subtag
    specialties: frozenset[str] = frozenset()
    security_level: str | None = None
    acuity: str | None = None
    origin: tuple[float, float] | None = None  # (latitude, longitude)
    max_distance_km: float | None = None
    count: int = 20
    explain: bool = False
    include_unreported: bool = True
    exclude: frozenset[str] = frozenset()  # unit ids left out silently (already asked)
    notes: tuple[str, ...] = ()  # how the request was read (derived needs), echoed in the result


@dataclass(slots=True)
class Hit:
    """One matching unit, with the figures and reasons shown to the person placing."""

    record: UnitRecord
    score: float
    distance_km: float | None
    free: int | None
    total: int | None
    census_age: float | None  # seconds
    stale: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MatchResult:
    hits: list[Hit]
    total: int
    excluded: list[tuple[UnitRecord, tuple[str, ...]]] = field(default_factory=list)


def haversine_km(
    lat: float,
    lon: float,
    lat_r: NDArray[np.float64],
    lon_r: NDArray[np.float64],
    cos_lat: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Great-circle distances (km) from one point to many (radians given), NaN where unknown."""
    la, lo = math.radians(lat), math.radians(lon)
    h = np.sin((lat_r - la) / 2.0) ** 2 + math.cos(la) * cos_lat * np.sin((lon_r - lo) / 2.0) ** 2
    return 2.0 * EARTH_KM * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def _filters(
    snap: Snapshot, req: MatchRequest, dist: NDArray[np.float64] | None, now: float
) -> dict[str, NDArray[np.bool_]]:
    """criterion code → rows failing it (only criteria the request uses)."""
    c = snap.col
    fails: dict[str, NDArray[np.bool_]] = {"inactive": ~c("active")}
    if req.bed_type:
        fails["bed-type"] = ~snap.mask("bed_type", req.bed_type)
    if req.level_of_care:
        fails["level-of-care"] = ~snap.mask("level", req.level_of_care)
    if req.age is not None:
        fails["age"] = (c("age_lo") > req.age) | (c("age_hi") < req.age)
    if req.sex:
        fails["sex"] = c("sex_stated") & ~snap.mask("sex", req.sex)
    if req.payer:
        fails["payer"] = c("payer_stated") & ~snap.mask("payer", req.payer)
    if req.involuntary:
        fails["involuntary"] = c("involuntary") == 0
    if not req.medical_clearance:
        fails["medical-clearance"] = c("clearance") == 1
    if req.recent_aggression:
        fails["aggression"] = c("aggression") == 0
    if req.security_level:
        fails["security-level"] = c("security") < SECURITY_RANK[req.security_level]
    if req.acuity:
        fails["medical-acuity"] = c("acuity") < ACUITY_RANK[req.acuity]
    if req.specialties:
        missing = np.zeros(len(snap), dtype=np.bool_)
        for code in sorted(req.specialties):
            missing |= ~snap.mask("specialty", code)
        fails["specialty"] = missing
    if req.language:
        fails["language"] = ~snap.mask("language", req.language)
    if dist is not None and req.max_distance_km is not None:
        unknown = np.isnan(dist)
        fails["no-location"] = unknown
        fails["distance"] = ~unknown & (dist > req.max_distance_km)
    if dist is not None and req.involuntary and req.hold_expires is not None:
        hours = dist * ROAD_FACTOR / ROAD_KMH
        with np.errstate(invalid="ignore"):
            fails["hold-expiry"] = hours * 3600.0 > (req.hold_expires - now)
    fails["no-free-beds"] = c("free") == 0
    if not req.include_unreported:
        fails["census-unreported"] = c("free") < 0
    return fails


def _unconfirmed(snap: Snapshot, req: MatchRequest) -> list[tuple[str, NDArray[np.bool_]]]:
    c = snap.col
    out = []
    if req.age is not None:
        out.append(("age", ~c("age_stated")))
    if req.sex:
        out.append(("sex", ~c("sex_stated")))
    if req.payer:
        out.append(("payer", ~c("payer_stated")))
    if req.involuntary:
        out.append(("involuntary", c("involuntary") == -1))
    if req.recent_aggression:
        out.append(("aggression", c("aggression") == -1))
    if not req.medical_clearance:
        out.append(("medical-clearance", c("clearance") == -1))
    return out


def match(snap: Snapshot, req: MatchRequest, now: float) -> MatchResult:
    """Filter and rank every unit of ``snap`` for ``req`` at time ``now`` (epoch seconds)."""
    n = len(snap)
    c = snap.col
    dist = None
    if req.origin is not None:
        dist = haversine_km(req.origin[0], req.origin[1], c("lat_r"), c("lon_r"), c("cos_lat"))
    fails = _filters(snap, req, dist, now)
    bad = np.zeros(n, dtype=np.bool_)
    for rows in fails.values():
        bad |= rows
    skip = ~c("live")
    for uid in req.exclude:
        slot = snap.slots.get(uid)
        if slot is not None:
            skip[slot] = True
    ok = ~bad & ~skip
    idx = np.nonzero(ok)[0]
    age = now - c("as_of")[idx]
    age = np.where(np.isnan(age), np.nan, np.maximum(age, 0.0))
    cadence = c("cadence")[idx]
    with np.errstate(invalid="ignore"):
        stale = np.isnan(age) | (age > cadence)
    free = c("free")[idx]
    d = dist[idx] if dist is not None else np.full(len(idx), np.nan)
    d_term = np.where(np.isnan(d), 0.0, 1.0 / (1.0 + d / DISTANCE_HALF_KM))
    b_term = np.where(free < 0, 0.0, np.minimum(free, BEDS_FULL) / BEDS_FULL)
    b_term = np.where(stale, b_term * 0.5, b_term)
    f_term = np.where(stale, 0.0, 1.0 - 0.5 * np.nan_to_num(age) / cadence)
    resp = snap.response[idx]
    r_term = np.where(np.isnan(resp), 0.5, 1.0 / (1.0 + resp / 60.0 / RESPONSE_HALF_MINUTES))
    unconfirmed = _unconfirmed(snap, req)
    penalty = np.zeros(len(idx))
    for _, rows in unconfirmed:
        penalty += rows[idx]
    score = W_DISTANCE * d_term + W_BEDS * b_term + W_FRESH * f_term + W_RESPONSE * r_term
    score = np.clip(score - UNCONFIRMED_PENALTY * penalty, 0.0, 1.0)
    order = np.lexsort((snap.id_rank[idx], -score))[: max(req.count, 0)]
    hits = []
    for j in order:
        i = int(idx[j])
        rec = snap.records[i]
        hit = Hit(
            record=rec,
            score=float(score[j]),
            distance_km=None if math.isnan(d[j]) else float(d[j]),
            free=None if free[j] < 0 else int(free[j]),
            total=None if c("total")[i] < 0 else int(c("total")[i]),
            census_age=None if math.isnan(age[j]) else float(age[j]),
            stale=bool(stale[j]),
        )
        terms = (float(d_term[j]), float(b_term[j]), float(f_term[j]), float(r_term[j]))
        missing = [name for name, rows in unconfirmed if rows[i]]
        hit.reasons = reasons(hit, terms, missing, float(cadence[j]), resp[j], req, now)
        hits.append(hit)
    excluded = _explain(snap, fails, bad & ~skip) if req.explain else []
    return MatchResult(hits, len(idx), excluded)


_CODES = tuple(p.CRITERIA)
_COMBOS: dict[int, tuple[str, ...]] = {}


def _explain(
    snap: Snapshot, fails: dict[str, NDArray[np.bool_]], excluded: NDArray[np.bool_]
) -> list[tuple[UnitRecord, tuple[str, ...]]]:
    """Every excluded unit (by id) with the criteria it failed, in ``profiles.CRITERIA`` order.

    Each unit's failures are one bit mask (vectorised); a mask decodes to its codes once.
    """
    masks = np.zeros(len(snap), dtype=np.int64)
    for bit, code in enumerate(_CODES):
        rows = fails.get(code)
        if rows is not None:
            masks |= rows.astype(np.int64) << bit
    idx = np.nonzero(excluded)[0]
    idx = idx[np.argsort(snap.id_rank[idx], kind="stable")]
    out = []
    for i, mask in zip(idx.tolist(), masks[idx].tolist(), strict=True):
        codes = _COMBOS.get(mask)
        if codes is None:
            codes = _COMBOS.setdefault(
                mask, tuple(c for bit, c in enumerate(_CODES) if mask >> bit & 1)
            )
        out.append((snap.records[i], codes))
    return out


def _age_text(seconds: float) -> str:
    minutes = seconds / 60.0
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def reasons(
    hit: Hit,
    terms: tuple[float, float, float, float],
    unconfirmed: list[str],
    cadence: float,
    resp: float,
    req: MatchRequest,
    now: float,
) -> list[str]:
    """Why a unit ranks where it does: one line per score term, then unconfirmed criteria."""
    d_term, b_term, f_term, r_term = terms
    out = []
    if hit.distance_km is None:
        out.append("distance unknown: +0")
    else:
        out.append(f"{hit.distance_km:.1f} km away: +{W_DISTANCE * d_term:.3f}")
    if hit.free is None:
        out.append("no bed census reported: +0")
    else:
        of = f" of {hit.total}" if hit.total is not None else ""
        halved = " (halved: census stale)" if hit.stale else ""
        out.append(f"{hit.free} free bed(s){of}{halved}: +{W_BEDS * b_term:.3f}")
    if hit.census_age is None:
        out.append("census undated or missing, so stale: +0")
    elif hit.stale:
        out.append(
            f"census stale: {_age_text(hit.census_age)} old, cadence {_age_text(cadence)}: +0"
        )
    else:
        out.append(
            f"census fresh: {_age_text(hit.census_age)} old, cadence {_age_text(cadence)}: +{W_FRESH * f_term:.3f}"
        )
    if math.isnan(resp):
        out.append(f"no answered asks in the last 30 days: +{W_RESPONSE * r_term:.3f}")
    else:
        out.append(f"median response {_age_text(resp)} (last 30 days): +{W_RESPONSE * r_term:.3f}")
    if unconfirmed:
        names = ", ".join(UNCONFIRMED_NAMES[u] for u in unconfirmed)
        out.append(
            f"not stated by the facility (unconfirmed): {names}: -{UNCONFIRMED_PENALTY * len(unconfirmed):.3f}"
        )
    if req.involuntary and req.hold_expires is not None and hit.distance_km is not None:
        spare = (req.hold_expires - now) / 3600 - hit.distance_km * ROAD_FACTOR / ROAD_KMH
        out.append(f"reachable about {spare:.1f} h before the hold expires")
    return out
