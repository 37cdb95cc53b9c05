"""The synthetic call generator: valid records, deterministic, and the Toronto mix of call types,
weekdays and Mental Health Act apprehensions (within 2 percentage points)."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from adapters.base import SourceRecord
from adapters.police_rms import PoliceRmsAdapter
from adapters.police_rms.generate import DAYS, generate, summary
from tests.adapters.kit import SOURCE

ROOT = Path(__file__).resolve().parents[3]
TORONTO = ROOT.parent / "shared" / "data" / "police" / "toronto_persons_in_crisis_calls.csv"
N = 20_000
TOLERANCE = 0.02


def real_shares() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    counts = summary()["counts"]
    total = sum(c["apprehension"] + c["none"] for t in counts.values() for c in t.values())
    types = {
        t: sum(c["apprehension"] + c["none"] for c in d.values()) / total for t, d in counts.items()
    }
    days = {
        day: sum(counts[t][day]["apprehension"] + counts[t][day]["none"] for t in counts) / total
        for day in DAYS
    }
    rates = {
        t: sum(c["apprehension"] for c in d.values())
        / sum(c["apprehension"] + c["none"] for c in d.values())
        for t, d in counts.items()
    }
    return types, days, rates


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(generate(2024, N))


def test_call_type_weekday_and_apprehension_mix_follow_toronto(records: list[dict]) -> None:
    types, days, rates = real_shares()
    got_types = Counter(r["call_type"] for r in records)
    for call_type, share in types.items():
        assert abs(got_types[call_type] / N - share) < TOLERANCE, call_type
    got_days = Counter(DAYS[datetime.fromisoformat(r["reported_at"]).weekday()] for r in records)
    for day, share in days.items():
        assert abs(got_days[day] / N - share) < TOLERANCE, day
    for call_type, rate in rates.items():
        of_type = [r for r in records if r["call_type"] == call_type]
        got = sum("mha_apprehension" in r["disposition"] for r in of_type) / len(of_type)
        assert abs(got - rate) < TOLERANCE + 0.01, call_type  # overdose has only ~1,600 calls here


def test_the_published_apprehension_rates() -> None:
    _, _, rates = real_shares()
    assert round(rates["person_in_crisis"], 3) == 0.204
    assert round(rates["suicide_related"], 3) == 0.290
    assert round(rates["overdose"], 3) == 0.188


@pytest.mark.skipif(not TORONTO.exists(), reason="shared/data/police is not beside the project")
def test_the_summary_table_matches_the_source_csv() -> None:
    names = summary()["event_types"]
    counted: Counter[tuple[str, str, str]] = Counter()
    with TORONTO.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            kind = "apprehension" if row["apprehension_made"] == "Yes" else "none"
            counted[(names[row["event_type"]], row["event_dow"], kind)] += 1
    table = summary()["counts"]
    flat = {
        (t, d, k): n for t, by_day in table.items() for d, c in by_day.items() for k, n in c.items()
    }
    assert flat == dict(counted)


def test_generation_is_deterministic() -> None:
    assert list(generate(5, 50)) == list(generate(5, 50))
    assert list(generate(5, 50)) != list(generate(6, 50))


def test_generated_records_all_convert(records: list[dict]) -> None:
    adapter = PoliceRmsAdapter()
    for i, rec in enumerate(records[:500]):
        adapter.to_fhir(SourceRecord(rec["incident_number"], i, rec), SOURCE)


def test_the_published_schema_is_the_packaged_schema() -> None:
    published = ROOT / "docs" / "adapters" / "police-rms.schema.json"
    packaged = ROOT / "adapters" / "police_rms" / "schema.json"
    assert published.read_bytes() == packaged.read_bytes()
