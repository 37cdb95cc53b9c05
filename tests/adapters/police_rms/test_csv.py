"""The CSV batch format means exactly what the JSON format means; its errors name line and column."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from adapters.base import AdapterError
from adapters.police_rms import PoliceRmsAdapter
from tests.adapters.kit import convert_all

ADAPTER = PoliceRmsAdapter()

ROW: dict[str, str] = {
    "incident_number": "TPS-2024-0031187",
    "updated_at": "2024-03-05T18:20:00-05:00",
    "reported_at": "2024-03-05T14:02:11-05:00",
    "dispatched_at": "2024-03-05T14:05:40-05:00",
    "on_scene_at": "2024-03-05T14:14:02-05:00",
    "cleared_at": "2024-03-05T17:48:30-05:00",
    "call_type": "person_in_crisis",
    "nature": "Person in crisis, threatening self-harm",
    "location_address_line": "120 Example Avenue, Unit 4",
    "location_city": "Toronto",
    "location_state": "ON",
    "location_latitude": "43.6452",
    "location_longitude": "-79.3948",
    "disposition": "mha_apprehension; transported_ed",
    "subject_person_id": "MNI-884120",
    "subject_family": "Testperson",
    "subject_given": "Alex Jordan",
    "subject_birth_date": "1991-07-14",
    "subject_sex": "female",
    "subject_phone": "+1 416 555 0134",
    "subject_driver_licence": "T1234-56789-10714",
    "subject_driver_licence_issuer": "ON",
    "officer1_badge": "10452",
    "officer1_cit_trained": "yes",
    "officer2_badge": "11873",
    "officer2_cit_trained": "no",
    "clinician_id": "MCIT-0042",
    "clinician_discipline": "registered nurse",
    "weapons": "knife",
    "use_of_force": "",
    "subject_injury": "minor",
    "officer_safety_caution": "false",
    "narrative": 'Officers attended; the subject said "I need help".\nTransported.',
    "transport_destination_name": "Example General Hospital",
    "transport_destination_type": "emergency_department",
    "transport_by": "police",
    "transport_departed_at": "2024-03-05T14:52:00-05:00",
    "transport_arrived_at": "2024-03-05T15:07:30-05:00",
    "transport_distance_km": "4.2",
    "follow_up_requested": "y",
    "follow_up_team": "Mobile Crisis Intervention Team",
}

RECORD: dict[str, Any] = {
    "incident_number": "TPS-2024-0031187",
    "updated_at": "2024-03-05T18:20:00-05:00",
    "reported_at": "2024-03-05T14:02:11-05:00",
    "dispatched_at": "2024-03-05T14:05:40-05:00",
    "on_scene_at": "2024-03-05T14:14:02-05:00",
    "cleared_at": "2024-03-05T17:48:30-05:00",
    "call_type": "person_in_crisis",
    "nature": "Person in crisis, threatening self-harm",
    "location": {
        "address": {"line": ["120 Example Avenue, Unit 4"], "city": "Toronto", "state": "ON"},
        "latitude": 43.6452,
        "longitude": -79.3948,
    },
    "disposition": ["mha_apprehension", "transported_ed"],
    "persons": [
        {
            "role": "subject",
            "person_id": "MNI-884120",
            "name": {"family": "Testperson", "given": ["Alex", "Jordan"]},
            "birth_date": "1991-07-14",
            "sex": "female",
            "phone": "+1 416 555 0134",
            "identifiers": [
                {"type": "driver_licence", "value": "T1234-56789-10714", "issuer": "ON"}
            ],
        }
    ],
    "officers": [{"badge": "10452", "cit_trained": True}, {"badge": "11873", "cit_trained": False}],
    "clinician": {"id": "MCIT-0042", "discipline": "registered nurse"},
    "weapons": [{"type": "knife"}],
    "injuries": [{"to": "subject", "severity": "minor"}],
    "officer_safety_caution": False,
    "narrative": 'Officers attended; the subject said "I need help".\nTransported.',
    "transport": {
        "destination": {"name": "Example General Hospital", "type": "emergency_department"},
        "by": "police",
        "departed_at": "2024-03-05T14:52:00-05:00",
        "arrived_at": "2024-03-05T15:07:30-05:00",
        "distance_km": 4.2,
    },
    "follow_up": {"requested": True, "team": "Mobile Crisis Intervention Team"},
}


def to_csv(*rows: dict[str, str]) -> bytes:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_a_csv_row_and_its_json_record_give_the_same_bundle() -> None:
    from_csv = convert_all(ADAPTER, to_csv(ROW), "text/csv")
    from_json = convert_all(ADAPTER, __import__("orjson").dumps(RECORD), "application/json")
    assert [c.bundle for c in from_csv] == [c.bundle for c in from_json]
    assert from_csv[0].record_key == "TPS-2024-0031187"


def test_a_byte_order_mark_and_blank_lines_are_fine() -> None:
    payload = b"\xef\xbb\xbf" + to_csv(ROW) + b"\r\n\r\n"
    assert len(convert_all(ADAPTER, payload, "text/csv")) == 1


def test_one_bad_row_does_not_spoil_the_others() -> None:
    bad = ROW | {"incident_number": "TPS-2", "subject_birth_date": "1991-02-30"}
    records = ADAPTER.parse(to_csv(ROW, bad), "text/csv")
    assert [r.key for r in records] == ["TPS-2024-0031187", "TPS-2"]
    from tests.adapters.kit import SOURCE

    ADAPTER.to_fhir(records[0], SOURCE)
    with pytest.raises(AdapterError) as caught:
        ADAPTER.to_fhir(records[1], SOURCE)
    assert caught.value.where.record == "TPS-2"


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"subject_birth_date": "1991-02-30"}, "subject_birth_date"),
        ({"subject_sex": "bloke"}, "subject_sex"),
        ({"location_latitude": "north"}, "location_latitude"),
        ({"officer1_cit_trained": "maybe"}, "officer1_cit_trained"),
        ({"disposition": "mha_apprehension;teleported"}, "disposition"),
        ({"subject_driver_licence_issuer": ""}, "subject_driver_licence"),
        ({"officer_injury": "scratched"}, "officer_injury"),
        ({"transport_destination_type": "spaceport"}, "transport_destination_type"),
    ],
)
def test_errors_name_the_line_and_column(change: dict[str, str], column: str) -> None:
    with pytest.raises(AdapterError) as caught:
        convert_all(ADAPTER, to_csv(ROW | change), "text/csv")
    where = caught.value.where
    assert (where.record, where.segment, where.field) == ("TPS-2024-0031187", "line 2", column)
    for value in change.values():
        if value:
            assert value not in str(caught.value), "the error must not quote the value"


def test_unknown_and_duplicate_columns_are_refused() -> None:
    with pytest.raises(AdapterError, match="unknown column 'colour'"):
        ADAPTER.parse(b"incident_number,colour\r\nA,red\r\n", "text/csv")
    with pytest.raises(AdapterError, match="named twice"):
        ADAPTER.parse(b"incident_number,incident_number\r\nA,A\r\n", "text/csv")
    with pytest.raises(AdapterError, match="cells"):
        ADAPTER.parse(b"incident_number,nature\r\nA,b,c\r\n", "text/csv")
