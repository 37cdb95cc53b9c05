"""Property-based: structured junk (valid JSON of the wrong shape, wrong types, huge strings, a real
record with one field broken) is only ever refused with a located AdapterError."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError
from adapters.police_rms import PoliceRmsAdapter
from tests.adapters.kit import convert_all
from tests.adapters.police_rms.samples import full_record
from tests.adapters.police_rms.test_csv import ROW, to_csv

ADAPTER = PoliceRmsAdapter()
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.just("x" * 20_001),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(full_record())


def _refused_cleanly(payload: bytes, media_type: str) -> None:
    try:
        convert_all(ADAPTER, payload, media_type)
    except AdapterError as exc:
        assert exc.message and str(exc)


@SETTINGS
@given(value=json_values)
def test_any_json_value_is_converted_or_refused(value: Any) -> None:
    _refused_cleanly(_dumps(value), "application/json")
    _refused_cleanly(_dumps({"records": [value]}), "application/json")


@SETTINGS
@given(path=st.sampled_from(PATHS), value=json_values)
def test_a_real_record_with_one_field_replaced(path: tuple[Any, ...], value: Any) -> None:
    rec = full_record()
    node: Any = rec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _refused_cleanly(_dumps(rec), "application/json")


@SETTINGS
@given(path=st.sampled_from(PATHS))
def test_a_real_record_with_one_field_removed(path: tuple[Any, ...]) -> None:
    rec = full_record()
    node: Any = rec
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    _refused_cleanly(_dumps(rec), "application/json")


@SETTINGS
@given(column=st.sampled_from(sorted(ROW)), text=st.text(max_size=300))
def test_a_csv_row_with_one_cell_replaced(column: str, text: str) -> None:
    with contextlib.suppress(UnicodeEncodeError):
        _refused_cleanly(to_csv(ROW | {column: text}), "text/csv")


@SETTINGS
@given(text=st.text(max_size=500))
def test_any_text_as_csv(text: str) -> None:
    with contextlib.suppress(UnicodeEncodeError):
        _refused_cleanly(text.encode(), "text/csv")
