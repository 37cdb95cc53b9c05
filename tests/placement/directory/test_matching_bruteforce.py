"""The matcher against a brute-force filter over the national facility list: same results, same order.

The national HIFLD list (699 open psychiatric hospitals) is loaded once per database, each hospital's
default unit given random criteria and census, and about 40 % of them a second unit of another bed
type. Random requests (seeded) then go through the in-process matcher and, for some, over HTTP; a
plain-Python filter and score written from the documented rules (docs/placement-directory.md) must
agree exactly on which units match, in which order, and why the others were excluded.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.placement import census, directory, directory_write
from gateway.placement import profiles as p
from gateway.placement.directory_endpoints import install
from gateway.placement.directory_hifld import facility_resources
from gateway.placement.match_index import UnitIndex
from gateway.placement.matching import MatchRequest, match
from gateway.settings import Settings
from tests.conftest import BASE_URL, bearer
from tests.placement.directory.helpers import FHIR, FHIR_BASE, national_rows
from tests.support.databases import empty

SEED = 20250601
BED_TYPES = list(p.BED_TYPES)
LANGS = ["en", "es", "vi", "zh", "fr"]
RANK = {"open": 0, "locked": 1, "secure": 2, "low": 0, "moderate": 1, "high": 2}
DEFAULT_LEVEL = {
    "AdultPsychiatric": "acute-inpatient",
    "PediatricPsychiatric": "acute-inpatient",
    "GeriatricPsychiatric": "acute-inpatient",
    "DetoxSUD": "withdrawal-management",
    "CrisisStabilization": "crisis-stabilization",
}
DEFAULT_AGES = {
    "AdultPsychiatric": (18, None),
    "PediatricPsychiatric": (0, 17),
    "GeriatricPsychiatric": (55, None),
    "DetoxSUD": (18, None),
    "CrisisStabilization": (18, None),
}


def _maybe(rng: random.Random, chance: float, value: Any) -> Any:
    return value if rng.random() < chance else None


def _spec(
    rng: random.Random, uid: str, bed_type: str, lat: float, lon: float, now: float
) -> dict[str, Any]:
    """Random criteria and census for one unit: the ground truth the brute force reads."""
    cadence = rng.choice([60, 240, 480, 720, 1440, None])
    cadence_s = (cadence or 480) * 60.0
    kind = rng.random()
    if kind < 0.15:
        cen = None
    else:
        free = 0 if rng.random() < 0.15 else rng.randint(1, 15)
        if kind < 0.25:
            as_of = None
        else:
            ratio = rng.uniform(0.0, 2.0)
            ratio = ratio if abs(ratio - 1.0) > 0.02 else 0.5  # keep clear of the stale boundary
            as_of = float(int(now - ratio * cadence_s))
        cen = {"free": free, "total": free + rng.randint(0, 20), "as_of": as_of}
    low = rng.choice([0, 12, 18, 21, 55, None])
    age = _maybe(rng, 0.4, (low, rng.choice([17, 64, 99, None])))
    if age is not None and age[0] is not None and age[1] is not None and age[0] > age[1]:
        age = (age[1], age[0])
    return {
        "id": uid,
        "bed_type": bed_type,
        "lat": lat,
        "lon": lon,
        "active": rng.random() > 0.03,
        "levels": _maybe(rng, 0.3, rng.sample(list(p.LEVELS_OF_CARE), rng.randint(1, 2))),
        "age": age,
        "sexes": _maybe(rng, 0.4, rng.sample(list(p.SEXES), rng.randint(1, 3))),
        "payers": _maybe(rng, 0.5, rng.sample(list(p.PAYERS), rng.randint(1, 4))),
        "invol": _maybe(rng, 0.6, rng.random() < 0.7),
        "aggr": _maybe(rng, 0.5, rng.random() < 0.5),
        "clearance": _maybe(rng, 0.5, rng.random() < 0.6),
        "security": _maybe(rng, 0.5, rng.choice(list(p.SECURITY_LEVELS))),
        "acuity": _maybe(rng, 0.5, rng.choice(list(p.ACUITY_LEVELS))),
        "specialties": rng.sample(list(p.SPECIALTIES), rng.choice([0, 0, 0, 1, 2])),
        "languages": rng.sample(LANGS, rng.randint(1, 3)) if rng.random() < 0.4 else [],
        "census": cen,
        "cadence": cadence,
        "cadence_s": cadence_s,
    }


def _unit_doc(base: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    doc = {**base, "id": spec["id"], "active": spec["active"]}
    doc["type"] = [{"coding": [{"system": p.BED_TYPE_SYSTEM, "code": spec["bed_type"]}]}]
    changes: dict[str, Any] = {
        "levelsOfCare": spec["levels"],
        "sexes": spec["sexes"],
        "payers": spec["payers"],
        "acceptsInvoluntary": spec["invol"],
        "acceptsAggression": spec["aggr"],
        "requiresMedicalClearance": spec["clearance"],
        "securityLevel": spec["security"],
        "medicalAcuity": spec["acuity"],
        "specialties": spec["specialties"] or None,
        "languages": spec["languages"] or None,
        "cadenceMinutes": spec["cadence"],
    }
    if spec["age"] is not None:
        changes["ageRange"] = {"low": spec["age"][0], "high": spec["age"][1]}
    doc = directory_write.apply_criteria(doc, changes)
    if spec["census"] is not None:
        c = spec["census"]
        new = census.census_extension(directory.Census(c["free"], c["total"], c["as_of"], "unit"))
        doc = directory_write.replace_extensions(doc, {p.CENSUS}, [new])
    return doc


class National:
    def __init__(self, db: Database, specs: list[dict[str, Any]], now: float) -> None:
        self.db, self.specs, self.now = db, specs, now


@pytest.fixture(scope="module")
def national(database: Database) -> Iterator[National]:
    rows = national_rows()
    if not rows:
        pytest.skip("the national HIFLD list (../shared/data/facilities) is not there")
    empty(database)
    rng = random.Random(SEED)
    now = time.time()
    specs = []
    with database.unit_of_work() as session:
        svc = ResourceService(session, FHIR_BASE)
        for row in rows:
            org, location, unit = facility_resources(row)
            svc.update("Organization", org["id"], org)
            svc.update("Location", location["id"], location)
            lat, lon = location["position"]["latitude"], location["position"]["longitude"]
            units = [(unit["id"], "AdultPsychiatric")]
            if rng.random() < 0.4:
                other = rng.choice(BED_TYPES[1:])
                units.append((f"{org['id']}-{other.lower()}", other))
            for uid, bed_type in units:
                spec = _spec(rng, uid, bed_type, lat, lon, now)
                svc.update("HealthcareService", uid, _unit_doc(unit, spec))
                specs.append(spec)
    yield National(database, specs, now)


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = (
        math.sin((la2 - la1) / 2) ** 2
        + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(min(h, 1.0)))


def brute(
    specs: list[dict[str, Any]], q: MatchRequest, now: float
) -> tuple[list[tuple[float, str]], dict[str, list[str]]]:
    """(score, id) of every match, best first, and unit id → failed criteria for the rest."""
    matched, failed = [], {}
    for u in specs:
        why = []
        bt = u["bed_type"]
        if not u["active"]:
            why.append("inactive")
        if q.bed_type and q.bed_type != bt:
            why.append("bed-type")
        if q.level_of_care and q.level_of_care not in (u["levels"] or [DEFAULT_LEVEL[bt]]):
            why.append("level-of-care")
        low, high = u["age"] if u["age"] is not None else DEFAULT_AGES[bt]
        if q.age is not None and not ((low or 0) <= q.age and (high is None or q.age <= high)):
            why.append("age")
        if q.sex and u["sexes"] is not None and q.sex not in u["sexes"]:
            why.append("sex")
        if q.payer and u["payers"] is not None and q.payer not in u["payers"]:
            why.append("payer")
        if q.involuntary and u["invol"] is False:
            why.append("involuntary")
        if not q.medical_clearance and u["clearance"] is True:
            why.append("medical-clearance")
        if q.recent_aggression and u["aggr"] is False:
            why.append("aggression")
        if q.security_level and RANK[u["security"] or "open"] < RANK[q.security_level]:
            why.append("security-level")
        if q.acuity and RANK[u["acuity"] or "low"] < RANK[q.acuity]:
            why.append("medical-acuity")
        if q.specialties - set(u["specialties"]):
            why.append("specialty")
        if q.language and q.language not in (u["languages"] or ["en"]):
            why.append("language")
        d = _haversine(q.origin[0], q.origin[1], u["lat"], u["lon"]) if q.origin else None
        if d is not None and q.max_distance_km is not None and d > q.max_distance_km:
            why.append("distance")
        hold = q.hold_expires if q.involuntary else None
        if d is not None and hold is not None and d * 1.3 / 70 * 3600 > hold - now:
            why.append("hold-expiry")
        cen = u["census"]
        if cen is not None and cen["free"] == 0:
            why.append("no-free-beds")
        if not q.include_unreported and cen is None:
            why.append("census-unreported")
        if why:
            failed[u["id"]] = why
            continue
        age = None if cen is None or cen["as_of"] is None else max(0.0, now - cen["as_of"])
        stale = age is None or age > u["cadence_s"]
        d_term = 0.0 if d is None else 1 / (1 + d / 50)
        b_term = 0.0 if cen is None else min(cen["free"], 10) / 10
        b_term = b_term * 0.5 if stale else b_term
        f_term = 0.0 if stale else 1 - 0.5 * age / u["cadence_s"]
        unconfirmed = sum(
            [
                q.age is not None and u["age"] is None,
                bool(q.sex) and u["sexes"] is None,
                bool(q.payer) and u["payers"] is None,
                q.involuntary and u["invol"] is None,
                q.recent_aggression and u["aggr"] is None,
                not q.medical_clearance and u["clearance"] is None,
            ]
        )
        score = 0.40 * d_term + 0.25 * b_term + 0.20 * f_term + 0.15 * 0.5
        matched.append((min(1.0, max(0.0, score - 0.02 * unconfirmed)), u["id"]))
    matched.sort(key=lambda s: (-s[0], s[1]))
    return matched, failed


def random_request(rng: random.Random, specs: list[dict[str, Any]], now: float) -> MatchRequest:
    anchor = rng.choice(specs)
    origin = None
    if rng.random() < 0.85:
        origin = (anchor["lat"] + rng.uniform(-1, 1), anchor["lon"] + rng.uniform(-1, 1))
    involuntary = rng.random() < 0.4
    return MatchRequest(
        level_of_care=_maybe(rng, 0.3, rng.choice(list(p.LEVELS_OF_CARE))),
        bed_type=_maybe(rng, 0.4, rng.choice(BED_TYPES)),
        age=_maybe(rng, 0.7, rng.randint(5, 90)),
        sex=_maybe(rng, 0.6, rng.choice(list(p.SEXES))),
        payer=_maybe(rng, 0.6, rng.choice(list(p.PAYERS))),
        involuntary=involuntary,
        hold_expires=now + rng.uniform(0.5, 12) * 3600
        if involuntary and rng.random() < 0.3
        else None,
        medical_clearance=rng.random() < 0.5,
        recent_aggression=rng.random() < 0.3,
        language=_maybe(rng, 0.3, rng.choice([*LANGS, "de"])),
        specialties=frozenset(rng.sample(list(p.SPECIALTIES), rng.choice([0, 0, 0, 0, 1, 2]))),
        security_level=_maybe(rng, 0.3, rng.choice(list(p.SECURITY_LEVELS))),
        acuity=_maybe(rng, 0.3, rng.choice(list(p.ACUITY_LEVELS))),
        origin=origin,
        max_distance_km=rng.uniform(30, 1500) if origin and rng.random() < 0.6 else None,
        count=rng.randint(1, 60),
        explain=True,
        include_unreported=rng.random() > 0.2,
    )


def test_matcher_equals_brute_force_on_the_national_list(national: National) -> None:
    snap = UnitIndex(national.db).snapshot()
    assert len(snap) == len(national.specs) > 900
    rng = random.Random(SEED + 1)
    nonempty = 0
    for _ in range(200):
        q = random_request(rng, national.specs, national.now)
        got = match(snap, q, national.now)
        want, failed = brute(national.specs, q, national.now)
        assert got.total == len(want), q
        assert [h.record.unit_id for h in got.hits] == [uid for _, uid in want[: q.count]], q
        for hit, (score, _uid) in zip(got.hits, want, strict=False):
            assert hit.score == pytest.approx(score, abs=1e-9)
        assert {r.unit_id: list(why) for r, why in got.excluded} == failed, q
        nonempty += bool(want)
    assert nonempty > 100  # the requests are not all impossible


def test_http_match_equals_brute_force(
    national: National, tmp_path_factory: pytest.TempPathFactory, keystore: KeyStore
) -> None:
    settings = Settings(database_url=national.db.url, base_url=BASE_URL, key_dir=keystore.directory)
    app = create_app(settings, db=national.db, keys=keystore)
    install(app)
    rng = random.Random(SEED + 2)
    with TestClient(app) as client:
        headers = {**FHIR, **bearer(app, scope="system/HealthcareService.s")}
        for _ in range(12):
            q = random_request(rng, national.specs, time.time())
            body = _parameters(q)
            before = time.time()
            response = client.post("/fhir/ServiceRequest/$match", json=body, headers=headers)
            after = time.time()
            assert response.status_code == 200, response.text
            bundle = response.json()
            got = [
                e["resource"]["id"]
                for e in bundle.get("entry", [])
                if e["search"]["mode"] == "match"
            ]
            for now in (before, after):
                want, failed = brute(national.specs, q, now)
                scores = dict((uid, s) for s, uid in want)
                assert set(got) == set(scores) and bundle["total"] == len(want)
                for a, b in itertools.pairwise(got):
                    assert scores[a] >= scores[b] - 1e-5  # a census ages a little during the call
                outcome = bundle["entry"][-1]["resource"]["issue"]
                assert {
                    i["details"]["text"].split("/")[1] for i in outcome if "details" in i
                } == set(failed)


def _parameters(q: MatchRequest) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"name": "count", "valueInteger": 1000}]
    parts.append({"name": "explain", "valueBoolean": True})
    for name, key, value in (
        ("levelOfCare", "valueCode", q.level_of_care),
        ("bedType", "valueCode", q.bed_type),
        ("age", "valueInteger", q.age),
        ("sex", "valueCode", q.sex),
        ("payer", "valueCode", q.payer),
        ("language", "valueCode", q.language),
        ("securityLevel", "valueCode", q.security_level),
        ("acuity", "valueCode", q.acuity),
        ("maxDistance", "valueDecimal", q.max_distance_km),
    ):
        if value is not None:
            parts.append({"name": name, key: value})
    parts += [
        {"name": "involuntary", "valueBoolean": q.involuntary},
        {"name": "medicalClearance", "valueBoolean": q.medical_clearance},
        {"name": "recentAggression", "valueBoolean": q.recent_aggression},
        {"name": "includeUnreported", "valueBoolean": q.include_unreported},
    ]
    parts += [{"name": "specialty", "valueCode": s} for s in sorted(q.specialties)]
    if q.hold_expires is not None:
        parts.append({"name": "holdExpires", "valueDateTime": census.instant(q.hold_expires)})
    if q.origin is not None:
        parts += [
            {"name": "latitude", "valueDecimal": q.origin[0]},
            {"name": "longitude", "valueDecimal": q.origin[1]},
        ]
    return {"resourceType": "Parameters", "parameter": parts}
