"""Synthetic police-rms crisis call records for tests, demos and benchmarks.

Pure and deterministic: the same ``seed`` and ``n`` always give the same records. The mix of call
types, days of the week and Mental Health Act apprehensions follows the Toronto Police "Persons in
Crisis" calls (97,790 calls, about 2014-2016; City of Toronto open data, Open Government Licence -
Toronto) through the summary table ``toronto_summary.json`` derived from them. Everything else (names,
addresses, times, officers) is invented; no real person appears.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib.resources import files
from typing import Any

Json = dict[str, Any]
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TORONTO = timezone(timedelta(hours=-5))  # standard time; the generator ignores daylight saving
FIRST_MONDAY = datetime(2024, 1, 1, tzinfo=TORONTO)

_FAMILY = (
    "Abbott",
    "Baptiste",
    "Chen",
    "Desai",
    "Evans",
    "Fortin",
    "Gill",
    "Haddad",
    "Ito",
    "Jones",
)
_GIVEN = ("Alex", "Blair", "Casey", "Dana", "Eli", "Frankie", "Gray", "Hayden", "Jamie", "Kai")
_STREETS = (
    "Queen Street West",
    "Dundas Street East",
    "Bloor Street West",
    "Jane Street",
    "Kingston Road",
)
_HOSPITALS = (
    "Example General Hospital",
    "Lakeshore Example Hospital",
    "North Example Health Centre",
)
_NATURE = {
    "person_in_crisis": (
        "Person in crisis",
        "Person in crisis, erratic behaviour",
        "Emotionally disturbed person",
    ),
    "suicide_related": ("Threatening suicide", "Attempt suicide", "Suicidal person"),
    "overdose": ("Overdose", "Suspected overdose, conscious", "Overdose, naloxone given"),
}
_RELATIONS = ("mother", "father", "spouse", "sibling", "friend", "roommate", "neighbour")
# Busier in the afternoon and evening, quiet before dawn.
_HOUR_WEIGHTS = (2, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 7, 6, 6, 5, 4, 3)


@cache
def summary() -> Json:
    """The committed summary table: counts by call type, weekday and apprehension."""
    return json.loads(files("adapters.police_rms").joinpath("toronto_summary.json").read_text())


@cache
def _cells() -> tuple[list[tuple[str, str, bool]], list[int]]:
    cells, weights = [], []
    for call_type, by_day in summary()["counts"].items():
        for day, counts in by_day.items():
            for apprehended in (True, False):
                cells.append((call_type, day, apprehended))
                weights.append(counts["apprehension" if apprehended else "none"])
    return cells, weights


def _t(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _person(rng: random.Random, reported: datetime) -> Json:
    born = reported.date() - timedelta(days=rng.randint(16 * 365, 80 * 365))
    person: Json = {
        "role": "subject",
        "name": {"family": rng.choice(_FAMILY), "given": [rng.choice(_GIVEN)]},
        "birth_date": born.isoformat(),
        "sex": rng.choices(("male", "female", "other", "unknown"), (55, 42, 2, 1))[0],
        "phone": f"+1 416 555 {rng.randint(0, 9999):04d}",
    }
    if rng.random() < 0.6:
        person["person_id"] = f"MNI-{rng.randint(1, 9_999_999):07d}"
    if rng.random() < 0.4:
        number = f"{person['name']['family'][0]}{rng.randint(0, 10**13):014d}"
        person["identifiers"] = [{"type": "driver_licence", "value": number, "issuer": "ON"}]
    return person


def _disposition(rng: random.Random, apprehended: bool) -> list[str]:
    if apprehended:
        return ["mha_apprehension", "transported_ed"]
    pick = rng.random()
    if pick < 0.35:
        return ["referred_crisis_team"]
    if pick < 0.50:
        return ["transported_ed"]
    if pick < 0.55:
        return ["transported_crisis_centre"]
    if pick < 0.57:
        return ["arrest"]
    return ["no_further_action"]


def record(rng: random.Random, number: str, call_type: str, day: str, apprehended: bool) -> Json:
    """One synthetic call of the given type, weekday and apprehension outcome."""
    reported = FIRST_MONDAY + timedelta(
        weeks=rng.randrange(52),
        days=DAYS.index(day),
        hours=rng.choices(range(24), _HOUR_WEIGHTS)[0],
        seconds=rng.randrange(3600),
    )
    dispatched = reported + timedelta(seconds=rng.randint(30, 1500))
    on_scene = dispatched + timedelta(seconds=rng.randint(180, 1200))
    cleared = on_scene + timedelta(minutes=rng.randint(15, 120))
    disposition = _disposition(rng, apprehended)
    badges = rng.sample(range(10000, 99999), 2)
    rec: Json = {
        "incident_number": number,
        "reported_at": _t(reported),
        "dispatched_at": _t(dispatched),
        "on_scene_at": _t(on_scene),
        "call_type": call_type,
        "nature": rng.choice(_NATURE[call_type]),
        "location": {
            "address": {
                "line": [f"{rng.randint(1, 3000)} {rng.choice(_STREETS)}"],
                "city": "Toronto",
                "state": "ON",
                "country": "CA",
            },
            "latitude": round(rng.uniform(43.58, 43.85), 5),
            "longitude": round(rng.uniform(-79.64, -79.12), 5),
        },
        "disposition": disposition,
        "persons": [_person(rng, reported)],
        "officers": [{"badge": str(b), "cit_trained": rng.random() < 0.3} for b in badges],
    }
    if rng.random() < 0.5:
        rec["persons"].append(
            {
                "role": "complainant",
                "name": {"family": rng.choice(_FAMILY), "given": [rng.choice(_GIVEN)]},
                "phone": f"+1 416 555 {rng.randint(0, 9999):04d}",
                "relationship_to_subject": rng.choice(_RELATIONS),
            }
        )
    if rng.random() < 0.15:
        rec["clinician"] = {"id": f"MCIT-{rng.randint(1, 400):04d}", "discipline": "social worker"}
    if rng.random() < 0.06:
        rec["weapons"] = [{"type": rng.choice(("knife", "knife", "blunt_object", "other_edged"))}]
    if apprehended and rng.random() < 0.1:
        rec["use_of_force"] = [{"type": rng.choice(("physical_control", "restraints"))}]
    if any(d.startswith("transported") for d in disposition):
        departed = cleared
        arrived = departed + timedelta(minutes=rng.randint(6, 30))
        cleared = arrived + timedelta(
            minutes=rng.randint(20, 240)
        )  # waiting to hand over at the ED
        kind = (
            "crisis_centre"
            if "transported_crisis_centre" in disposition
            else "emergency_department"
        )
        rec["transport"] = {
            "destination": {"name": rng.choice(_HOSPITALS), "type": kind},
            "by": rng.choices(("police", "ambulance"), (7, 3))[0],
            "departed_at": _t(departed),
            "arrived_at": _t(arrived),
            "distance_km": round(rng.uniform(0.5, 15.0), 1),
        }
    if "referred_crisis_team" in disposition or rng.random() < 0.2:
        rec["follow_up"] = {"requested": True, "team": "Mobile Crisis Intervention Team"}
    rec["cleared_at"] = _t(cleared)
    rec["updated_at"] = _t(cleared + timedelta(minutes=rng.randint(5, 180)))
    rec["narrative"] = (
        f"Synthetic call. Officers attended for a {call_type.replace('_', ' ')} call; "
        f"outcome: {', '.join(d.replace('_', ' ') for d in disposition)}."
    )
    return rec


def generate(seed: int, n: int) -> Iterator[Json]:
    """Yield ``n`` synthetic police-rms records (valid against the published schema)."""
    rng = random.Random(seed)
    cells, weights = _cells()
    for i in range(n):
        call_type, day, apprehended = rng.choices(cells, weights)[0]
        yield record(rng, f"GEN{seed}-{i:07d}", call_type, day, apprehended)
