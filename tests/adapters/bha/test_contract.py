"""The shared adapter contract, for bha."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from adapters.base import Adapter
from adapters.bha import BhaAdapter
from tests.adapters.bha.samples import CSV_ROWS, GOLDEN, part2_record, plain_record, to_csv
from tests.adapters.kit import AdapterContract


def _json(value: object) -> bytes:
    return orjson.dumps(value)


def _with(path: tuple[Any, ...], value: Any) -> bytes:
    rec = part2_record()
    node: Any = rec
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return _json(rec)


class TestBhaContract(AdapterContract):
    adapter: ClassVar[Adapter] = BhaAdapter()
    golden_dir = GOLDEN
    good_inputs: ClassVar[list[tuple[bytes, str]]] = [
        ((GOLDEN / "part2_record.in").read_bytes(), "application/json"),
        ((GOLDEN / "plain_record.in").read_bytes(), "application/json"),
        (_json({"records": [part2_record(), plain_record()]}), "application/json"),
        (to_csv(*CSV_ROWS), "text/csv"),
    ]
    bad_inputs: ClassVar[list[tuple[bytes, str]]] = [
        (b"[1, 2]", "application/json"),
        (b'{"records": [null]}', "application/json"),
        (_with(("record_id",), KeyError), "application/json"),
        (_with(("updated_at",), "yesterday"), "application/json"),
        (_with(("client", "client_id"), 7), "application/json"),
        (_with(("client", "medicaid_state"), KeyError), "application/json"),
        (_with(("diagnoses", 0, "code"), "depression"), "application/json"),
        (_with(("diagnoses", 0, "episode_id"), "NOPE"), "application/json"),
        (_with(("diagnoses", 1, "diagnosis_id"), "D-1"), "application/json"),
        (_with(("diagnoses", 0, "abatement"), "2020-01-01"), "application/json"),
        (_with(("enrolments", 0, "end"), "2020-01-01"), "application/json"),
        (_with(("enrolments", 0, "status"), "paused"), "application/json"),
        (_with(("substance_use_episodes", 0, "part2_program"), "yes"), "application/json"),
        (_with(("substance_use_episodes", 0, "episode_id"), "E-5521"), "application/json"),
        (_with(("cssrs_screenings", 0, "answers", "intent_to_act"), 0), "application/json"),
        (
            _with(
                ("cssrs_screenings", 0, "answers"),
                {
                    "wish_to_be_dead": False,
                    "suicidal_thoughts": False,
                    "suicidal_behavior_past_3_months": True,
                },
            ),
            "application/json",
        ),
        (_with(("consents", 0, "status"), "revoked"), "application/json"),
        (_with(("consents", 0, "recipients"), []), "application/json"),
        (_with(("consents", 0, "scope"), ["everything"]), "application/json"),
        (
            _with(("consents", 0, "period"), {"start": "2025-01-01", "end": "2024-01-01"}),
            "application/json",
        ),
        (to_csv(*CSV_ROWS[1:]), "text/csv"),
        (to_csv(CSV_ROWS[0], CSV_ROWS[0]), "text/csv"),
        (to_csv(CSV_ROWS[0] | {"row_type": "invoice"}), "text/csv"),
        (to_csv(CSV_ROWS[0], CSV_ROWS[3] | {"client_id": "C-1"}), "text/csv"),
        (b"record_id,row_type,shoe_size\r\nA,client,9\r\n", "text/csv"),
    ]


def test_registered_under_its_name() -> None:
    from adapters.registry import load_adapters

    assert isinstance(load_adapters()["bha"], BhaAdapter)
