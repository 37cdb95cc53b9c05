"""Same case record twice → the same Bundle; a corrected record → the same ids, new content."""

from __future__ import annotations

from typing import Any

from adapters.base import SourceRecord
from adapters.bha import BhaAdapter
from tests.adapters.bha.samples import part2_record
from tests.adapters.kit import SOURCE

ADAPTER = BhaAdapter()


def by_url(rec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    bundle = ADAPTER.to_fhir(SourceRecord(rec["record_id"], 0, rec), SOURCE).bundle
    return {e["request"]["url"]: e["resource"] for e in bundle["entry"]}


def test_resending_changes_nothing() -> None:
    assert by_url(part2_record()) == by_url(part2_record())


def test_a_corrected_record_updates_the_same_resources() -> None:
    corrected = part2_record()
    corrected["updated_at"] = "2024-04-05T08:00:00-04:00"
    corrected["diagnoses"][0]["code"] = "F33.2"
    corrected["consents"][0]["status"] = "inactive"
    corrected["cssrs_screenings"][0]["answers"]["intent_to_act"] = True
    first, second = by_url(part2_record()), by_url(corrected)
    assert first.keys() == second.keys()
    changed = {u.split("/")[0] for u in first if first[u] != second[u]}
    assert changed == {"Condition", "Consent", "QuestionnaireResponse", "Observation", "Provenance"}


def test_reordering_items_keeps_ids() -> None:
    shuffled = part2_record()
    shuffled["diagnoses"].reverse()
    shuffled["consents"].reverse()
    assert set(by_url(part2_record())) == set(by_url(shuffled))
