"""Synthetic crisis-care FHIR data for the benchmarks, and a loader that writes it the server's way.

Every resource goes through :class:`gateway.fhir.service.ResourceService` inside
:meth:`gateway.db.session.Database.unit_of_work`, so the rows and index rows are exactly what
``POST /fhir/{type}`` writes (validation, reference checks, versions, search index). A batch is one
transaction and records itself in ``bench_load`` in that same transaction, so an interrupted load
resumes where it stopped and never loads a batch twice.

The mix is one third each Patient, Encounter and Observation. Patients carry identifiers from several
agencies (police RMS, hospital MRN, behavioral health authority case number, state ID); Encounters and
Observations refer to Patients of the same batch, so every Patient has about one of each.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

BASE_URL = "http://127.0.0.1:8000/fhir"
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_DAYS = 3 * 365  # clinical events fall in 2023-01-01 .. 2025-12-31

# Agencies that assign person identifiers (system URI, value prefix, share of patients carrying one).
AGENCIES: tuple[tuple[str, str, float], ...] = (
    ("https://rms.metro-police.example.org/person", "RMS-", 0.45),
    ("urn:oid:2.16.840.1.113883.3.9191.1", "MRN", 0.70),
    ("https://bha.state.example.gov/case", "BHA", 0.35),
    ("https://dmv.state.example.gov/id", "S", 0.25),
)
FAMILY_COMMON = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
]
_SYLLABLES = [
    "an",
    "bel",
    "cor",
    "da",
    "el",
    "fen",
    "gar",
    "hol",
    "is",
    "jan",
    "kel",
    "lor",
    "mar",
    "nov",
    "or",
    "pel",
    "quin",
    "ros",
    "sal",
    "tor",
    "ul",
    "var",
    "wes",
    "yor",
    "zan",
]
GIVEN_F = [
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Betty",
    "Sandra",
    "Ashley",
    "Emily",
    "Maria",
    "Sofia",
    "Aaliyah",
    "Mei",
    "Fatima",
    "Olga",
    "Chloe",
    "Grace",
]
GIVEN_M = [
    "James",
    "Robert",
    "John",
    "Michael",
    "David",
    "William",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Jose",
    "Luis",
    "Wei",
    "Omar",
    "Ivan",
    "Kwame",
    "Noah",
    "Liam",
    "Ethan",
    "Mateo",
]
CITIES = (
    ("Amarillo", "TX", "791"),
    ("Lubbock", "TX", "794"),
    ("Canyon", "TX", "790"),
    ("Clovis", "NM", "881"),
    ("Guymon", "OK", "739"),
)
STREETS = [
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Polk",
    "Tyler",
    "Hayes",
]
ENCOUNTER_CLASSES = (("EMER", "emergency"), ("AMB", "ambulatory"), ("IMP", "inpatient encounter"))
ENCOUNTER_TYPES = (
    ("225390008", "Triage"),
    ("50849002", "Emergency room admission"),
    ("183452005", "Emergency hospital admission"),
    ("390906007", "Follow-up encounter"),
)
# LOINC code, display, category, unit (UCUM), low, high
OBSERVATIONS: tuple[tuple[str, str, str, str, float, float], ...] = (
    ("8867-4", "Heart rate", "vital-signs", "/min", 48, 150),
    ("8480-6", "Systolic blood pressure", "vital-signs", "mm[Hg]", 90, 190),
    ("8462-4", "Diastolic blood pressure", "vital-signs", "mm[Hg]", 50, 120),
    ("8310-5", "Body temperature", "vital-signs", "Cel", 35.5, 40.0),
    ("9279-1", "Respiratory rate", "vital-signs", "/min", 10, 32),
    ("2708-6", "Oxygen saturation in Arterial blood", "vital-signs", "%", 82, 100),
    ("29463-7", "Body weight", "vital-signs", "kg", 40, 150),
    ("44261-6", "PHQ-9 total score", "survey", "{score}", 0, 27),
    ("70274-6", "GAD-7 total score", "survey", "{score}", 0, 21),
    ("93373-9", "Columbia suicide severity rating scale screener", "survey", "{score}", 0, 6),
    ("5640-8", "Ethanol [Mass/volume] in Blood", "laboratory", "mg/dL", 0, 400),
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "laboratory", "mg/dL", 50, 400),
)
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def batch_sizes(total: int, batch_size: int) -> list[int]:
    """Resources per batch: full batches and one short last batch."""
    full, rest = divmod(total, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def _family(rng: random.Random) -> str:
    # Half the population shares 50 common surnames; the rest come from ~15,000 rarer ones.
    if rng.random() < 0.5:
        return rng.choice(FAMILY_COMMON)
    parts = [rng.choice(_SYLLABLES) for _ in range(3)]
    return "".join(parts).capitalize()


def _ident(serial: int) -> str:
    # A bijection on 0..10^10-1 (multiplier coprime with 10), so values look random yet never repeat.
    return f"{(serial * 2654435761) % 10**10:010d}"


def patient(rng: random.Random, serial: int) -> dict[str, Any]:
    """A Patient with 1-3 agency identifiers, a name, birth date, gender, phone and address."""
    female = rng.random() < 0.5
    gender = "female" if female else rng.choice(("male", "male", "male", "other", "unknown"))
    given = [rng.choice(GIVEN_F if female else GIVEN_M)]
    if rng.random() < 0.3:
        given.append(rng.choice(GIVEN_F if female else GIVEN_M))
    birth = date(1930, 1, 1) + timedelta(days=rng.randrange(80 * 365))
    identifiers = [
        {"system": system, "value": f"{prefix}{_ident(serial)}"}
        for system, prefix, share in AGENCIES
        if rng.random() < share
    ]
    if not identifiers:
        system, prefix, _ = AGENCIES[1]
        identifiers = [{"system": system, "value": f"{prefix}{_ident(serial)}"}]
    city, state, zip3 = rng.choice(CITIES)
    body: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": identifiers,
        "active": True,
        "name": [{"use": "official", "family": _family(rng), "given": given}],
        "gender": gender,
        "birthDate": birth.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [f"{rng.randrange(100, 9999)} {rng.choice(STREETS)} St"],
                "city": city,
                "state": state,
                "postalCode": f"{zip3}{rng.randrange(100):02d}",
            }
        ],
    }
    if rng.random() < 0.6:
        body["telecom"] = [
            {"system": "phone", "value": f"806-555-{rng.randrange(10000):04d}", "use": "mobile"}
        ]
    return body


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def encounter(rng: random.Random, serial: int, patient_id: str) -> tuple[dict[str, Any], datetime]:
    """An Encounter for ``patient_id`` and its start time."""
    start = EPOCH + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))
    klass, display = rng.choice(ENCOUNTER_CLASSES)
    code, type_display = rng.choice(ENCOUNTER_TYPES)
    body = {
        "resourceType": "Encounter",
        "identifier": [
            {"system": "urn:oid:2.16.840.1.113883.3.9191.2", "value": f"V{_ident(serial)}"}
        ],
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": klass,
            "display": display,
        },
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": code}]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {
            "start": _instant(start),
            "end": _instant(start + timedelta(minutes=rng.randrange(20, 72 * 60))),
        },
    }
    body["type"][0]["text"] = type_display
    return body, start


def observation(
    rng: random.Random, patient_id: str, encounter_id: str | None, around: datetime
) -> dict[str, Any]:
    """A final Observation (vital sign, screening score or lab) for ``patient_id``."""
    code, display, category, unit, low, high = rng.choice(OBSERVATIONS)
    value = round(rng.uniform(low, high), 1 if high - low < 50 else 0)
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": _instant(around + timedelta(minutes=rng.randrange(0, 240))),
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }
    if encounter_id is not None:
        body["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return body


# ---- agencies -------------------------------------------------------------------------------
# (agency id, kind, name, share of batches). Each batch is written by one agency, as an agency's
# system would send its own records; the benchmark reads as the hospital's EHR.
AGENCIES_HOLDING: tuple[tuple[str, str, str, float], ...] = (
    ("bench-general-hospital", "hospital", "Benchmark General Hospital", 0.50),
    ("bench-metro-police", "police", "Benchmark Metro Police", 0.25),
    ("bench-state-bha", "bha", "Benchmark State Behavioral Health Authority", 0.25),
)
READER_AGENCY = AGENCIES_HOLDING[0][0]


def agency_for(batch: int) -> str:
    """The agency that writes batch ``batch`` (half the hospital, a quarter each police and BHA)."""
    slot = batch % 4
    return AGENCIES_HOLDING[0 if slot < 2 else slot - 1][0]


def held(body: dict[str, Any], agency: str) -> dict[str, Any]:
    """``body`` as written by ``agency``'s client (the endpoint sets ``meta.source`` the same way)."""
    from gateway.sharing.profile import agency_uri

    return {**body, "meta": {**(body.get("meta") or {}), "source": agency_uri(agency)}}


# ---- loading (runs in worker processes) ------------------------------------------------------

_DB: Any = None


def ensure_tables(session: Any) -> None:
    """The benchmark's own bookkeeping (not part of the gateway schema)."""
    session.execute(
        text(
            "CREATE TABLE IF NOT EXISTS bench_load (batch integer PRIMARY KEY, "
            "resources integer NOT NULL, seed integer NOT NULL, batch_size integer NOT NULL)"
        )
    )


def init_worker(url: str) -> None:
    """Pool initializer: one engine (one connection) per loader process."""
    global _DB
    from gateway.db.session import Database

    _DB = Database(url, pool_size=1)


def load_batch(job: tuple[int, int, int, int, float]) -> int:
    """Write batch ``index`` (``count`` resources) in one transaction; return the count written.

    A batch whose turn comes after ``deadline`` (epoch seconds) is skipped (returns 0).
    """
    from gateway.fhir.service import ResourceService
    from policies.labelling import label

    index, count, seed, batch_size, deadline = job
    if time.time() > deadline:
        return 0
    rng = random.Random(seed * 1_000_003 + index)
    n_pat = max(1, -(-count // 3))
    n_enc = (count - n_pat) // 2
    n_obs = count - n_pat - n_enc
    serial0 = index * batch_size
    with _DB.unit_of_work() as session:
        # Two loaders on one database (e.g. a second run started to add processes) never load the
        # same batch: the advisory lock holds until this transaction ends.
        claimed = session.execute(
            text("SELECT pg_try_advisory_xact_lock(20260101, :b)"), {"b": index}
        ).scalar_one()
        done = session.execute(text("SELECT 1 FROM bench_load WHERE batch = :b"), {"b": index})
        if not claimed or done.first() is not None:
            return 0
        # As POST /fhir/{type} does for an agency's client: meta.source names the writing agency
        # (it decides sharing), then DS4P security labels; the access profile is indexed from both.
        svc = ResourceService(session, BASE_URL, labeller=label)
        owner = agency_for(index)
        svc.deferred_refs = []  # check references once per batch, as a transaction Bundle does
        pids = [
            svc.create("Patient", held(patient(rng, serial0 + i), owner)).rid for i in range(n_pat)
        ]
        encs: list[tuple[str, str, datetime]] = []
        for i in range(n_enc):
            pid = rng.choice(pids)
            body, start = encounter(rng, serial0 + i, pid)
            encs.append((svc.create("Encounter", held(body, owner)).rid, pid, start))
        for _ in range(n_obs):
            if encs and rng.random() < 0.8:
                eid, pid, start = rng.choice(encs)
                body = observation(rng, pid, eid, start)
            else:
                moment = EPOCH + timedelta(seconds=rng.randrange(SPAN_DAYS * 86400))
                body = observation(rng, rng.choice(pids), None, moment)
            svc.create("Observation", held(body, owner))
        svc.finish_transaction()
        session.execute(
            text(
                "INSERT INTO bench_load (batch, resources, seed, batch_size) VALUES (:b, :n, :s, :z)"
            ),
            {"b": index, "n": count, "s": seed, "z": batch_size},
        )
    return count


# ---- consents (after the load) ---------------------------------------------------------------
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_EVERY = 1000  # one patient in a thousand of the reading agency's has a Consent on file


def consent(patient_id: str, denied_agency: str) -> dict[str, Any]:
    """An opt-in privacy Consent that keeps ``denied_agency`` out (a nested deny provision)."""
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": "2024-01-01T00:00:00Z",
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
            ]
        },
        "provision": {
            "type": "permit",
            "provision": [
                {
                    "type": "deny",
                    "actor": [
                        {
                            "role": {"coding": [{"system": PARTICIPATION, "code": "IRCP"}]},
                            "reference": {"reference": f"Organization/{denied_agency}"},
                        }
                    ],
                }
            ],
        },
    }


def add_consents(url: str, patient_ids: list[str]) -> int:
    """Store the agencies' Organizations and a Consent for each of ``patient_ids`` (one transaction)."""
    from gateway.db.session import Database
    from gateway.fhir.service import ResourceService
    from policies.labelling import label

    db = Database(url, pool_size=1)
    try:
        with db.unit_of_work() as session:
            svc = ResourceService(session, BASE_URL, labeller=label)
            for agency, _, name, _ in AGENCIES_HOLDING:
                org = {"resourceType": "Organization", "id": agency, "active": True, "name": name}
                svc.update("Organization", agency, held(org, agency))
            for pid in patient_ids:
                svc.create("Consent", held(consent(pid, AGENCIES_HOLDING[1][0]), READER_AGENCY))
    finally:
        db.dispose()
    return len(patient_ids)
