"""The bha CSV (one row per item, gathered by record_id) means what the JSON format means."""

from __future__ import annotations

import orjson
import pytest

from adapters.base import AdapterError
from adapters.bha import BhaAdapter
from tests.adapters.bha.samples import CSV_ROWS, csv_equivalent_record, to_csv
from tests.adapters.kit import SOURCE, convert_all

ADAPTER = BhaAdapter()


def test_csv_rows_and_the_json_record_give_the_same_bundle() -> None:
    from_csv = convert_all(ADAPTER, to_csv(*CSV_ROWS), "text/csv")
    from_json = convert_all(ADAPTER, orjson.dumps(csv_equivalent_record()), "application/json")
    assert [c.bundle for c in from_csv] == [c.bundle for c in from_json]


def test_rows_are_gathered_by_record_id_in_any_order() -> None:
    other = [row | {"record_id": "CR-2"} for row in CSV_ROWS[:2]]
    mixed = [CSV_ROWS[1], other[0], *CSV_ROWS[2:], CSV_ROWS[0], other[1]]
    records = ADAPTER.parse(to_csv(*mixed), "text/csv")
    assert [r.key for r in records] == ["CR-2024-000812", "CR-2"]
    assert len(records[0].data.rows) == len(CSV_ROWS)
    for record in records:
        ADAPTER.to_fhir(record, SOURCE)


def test_a_bad_record_does_not_spoil_the_other() -> None:
    bad = [row | {"record_id": "CR-BAD"} for row in CSV_ROWS[:1]]
    bad[0]["birth_date"] = "1988-02-30"
    records = ADAPTER.parse(to_csv(*CSV_ROWS, *bad), "text/csv")
    ADAPTER.to_fhir(records[0], SOURCE)
    with pytest.raises(AdapterError) as caught:
        ADAPTER.to_fhir(records[1], SOURCE)
    where = caught.value.where
    assert (where.record, where.segment, where.field) == ("CR-BAD", "line 10", "birth_date")


@pytest.mark.parametrize(
    ("index", "change", "line", "column"),
    [
        (4, {"icd10cm": "opioids"}, 6, "icd10cm"),
        (2, {"part2_program": "perhaps"}, 4, "part2_program"),
        (5, {"q4_intent_to_act": "sometimes"}, 7, "q4_intent_to_act"),
        (6, {"scope": "substance_use;everything"}, 8, "scope"),
        (1, {"status": "paused"}, 3, "status"),
        (0, {"medicaid_state": ""}, 2, None),
    ],
)
def test_errors_name_the_line_and_column(
    index: int, change: dict[str, str], line: int, column: str | None
) -> None:
    rows = [dict(r) for r in CSV_ROWS]
    rows[index] |= change
    with pytest.raises(AdapterError) as caught:
        convert_all(ADAPTER, to_csv(*rows), "text/csv")
    where = caught.value.where
    assert where.record == "CR-2024-000812" and where.segment == f"line {line}"
    if column:
        assert where.field == column
    for value in change.values():
        if value:
            assert value not in str(caught.value)


def test_updated_at_must_agree_across_rows() -> None:
    rows = [dict(r) for r in CSV_ROWS]
    rows[3]["updated_at"] = "2024-04-03T00:00:00Z"
    with pytest.raises(AdapterError, match="differs"):
        convert_all(ADAPTER, to_csv(*rows), "text/csv")
